use clap::Subcommand;

#[derive(Subcommand)]
pub enum LabCmd {
    /// Show the lab's nodes.
    Status,
}

pub fn run(cmd: LabCmd) -> anyhow::Result<()> {
    match cmd {
        LabCmd::Status => anyhow::bail!("the lab is not built yet"),
    }
}
