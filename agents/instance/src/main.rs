//! `ocf:axigen:instance`: see the library for what each action does.

fn main() {
    axha_ocf::run(&axha_agent_instance::SPEC)
}
