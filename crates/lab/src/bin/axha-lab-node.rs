//! `axha-lab-node`: the first process of a lab node (`anchor`, see `axha_lab::anchor`), the
//! power hook of a node's simulated BMC (`power`), the outlet table of the lab's PDU
//! (`pdu-handler`, run by snmpd), and for VM nodes the command server inside
//! each guest (`guest-serve`) and its client on the host (`guest-exec`, see
//! `axha_lab::vm::exec`). Started by the lab; not meant to be run by hand.

fn main() {
    // Every argument is a name, address or path the lab wrote itself: one that is not UTF-8
    // did not come from the lab, and is refused rather than altered.
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(args) => args,
        Err(bad) => {
            eprintln!(
                "axha-lab-node: argument {:?} is not UTF-8",
                bad.to_string_lossy()
            );
            std::process::exit(2);
        }
    };
    let result = match args.first().map(String::as_str) {
        Some("power") => axha_lab::anchor::power_main(&args),
        Some("pdu-handler") => axha_lab::pdu::handler_main(&args),
        Some("guest-serve") => axha_lab::vm::exec::serve_main(),
        Some("guest-exec") => match axha_lab::vm::exec::client_main(&args[1..]) {
            Ok(code) => std::process::exit(code),
            Err(e) => Err(e),
        },
        _ => axha_lab::anchor::anchor_main(&args).map(|never| match never {}),
    };
    if let Err(e) = result {
        eprintln!("axha-lab-node: {e}");
        std::process::exit(1);
    }
}
