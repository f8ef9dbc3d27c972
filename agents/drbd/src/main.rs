//! `ocf:axigen:drbd`: see the library for what each action does.

fn main() {
    // meta-data is this agent's own rendering (declared OCF version, see `meta_data`).
    if std::env::args_os().nth(1).is_some_and(|a| a == "meta-data") {
        print!("{}", axha_agent_drbd::meta_data());
        return;
    }
    axha_ocf::run(&axha_agent_drbd::spec::SPEC)
}
