//! `ocf:axigen:drbd`: see the library for what each action does.

fn main() {
    axha_ocf::run(&axha_agent_drbd::spec::SPEC)
}
