use clap::Parser;

fn main() {
    let cli = axha_provision::cli::Cli::parse();
    match axha_provision::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("axigen-provision: {:#}", e.error);
            std::process::exit(e.code);
        }
    }
}
