use clap::Subcommand;

#[derive(Subcommand)]
pub enum CibCmd {
    /// List the templates.
    List,
}

pub fn run(cmd: CibCmd) -> anyhow::Result<()> {
    match cmd {
        CibCmd::List => anyhow::bail!("no templates yet"),
    }
}
