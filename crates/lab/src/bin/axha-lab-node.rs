//! `axha-lab-node`: the first process of a lab node (`anchor`, see `axha_lab::anchor`), and
//! the power hook of a node's simulated BMC (`power`). Started by the lab; not meant to be
//! run by hand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("power") => axha_lab::anchor::power_main(&args),
        _ => axha_lab::anchor::anchor_main(&args).map(|never| match never {}),
    };
    if let Err(e) = result {
        eprintln!("axha-lab-node: {e}");
        std::process::exit(1);
    }
}
