//! `axha-lab-node`: the first process of a lab node (see `axha_lab::anchor`). Started by the
//! lab inside the node's namespaces; not meant to be run by hand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match axha_lab::anchor::anchor_main(&args) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("axha-lab-node: {e}");
            std::process::exit(1);
        }
    }
}
