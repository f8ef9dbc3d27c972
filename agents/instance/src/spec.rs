use axha_ocf::{ActionSpec, AgentSpec, Param, ParamSpec};

use crate::{actions, diagnose};

pub const WORKDIR: Param<String> = Param::string(
    "workdir",
    "Working directory",
    "The instance's working directory (Axigen's -W), on the instance's own storage. \
     An absolute path; it identifies the instance, so no two resources may share it. \
     Restart-only: a change stops the instance and starts it again.",
)
.required()
.unique()
.unique_group("workdir");
pub const BINARY: Param<String> = Param::string(
    "binary",
    "Axigen binary",
    "Full path of the Axigen server binary. Restart-only.",
)
.default("/opt/axigen/bin/axigen");
pub const CONFIG: Param<String> = Param::string(
    "config",
    "Configuration file",
    "Full path of the instance's configuration file; empty means <workdir>/run/axigen.cfg. \
     Its listeners tell the agent which addresses and ports to check. Restart-only: the \
     server reads it when it starts.",
);
pub const ADDRESS: Param<String> = Param::string(
    "address",
    "Service address",
    "The address the checks connect to (the instance's service IP). Empty means the \
     address of the CLI listener in the configuration file. With cli_port it names the \
     instance's CLI, which no two resources may share. Reloadable: it changes where the \
     agent checks, not where the server listens (that comes from the configuration file, \
     which the server reads when it starts).",
)
.unique_group("cli")
.reloadable();
pub const CLI_PORT: Param<i64> = Param::integer(
    "cli_port",
    "CLI port",
    "TCP port of Axigen's CLI. Empty means the port of the CLI listener in the \
     configuration file (7000 by default). Reloadable, like address: the checks follow \
     it at once, the server's listener only after a restart with an edited configuration.",
)
.unique_group("cli")
.reloadable();
pub const CLI_USER: Param<String> = Param::string(
    "cli_user",
    "CLI user",
    "The administrative user for the depth 20 check (CLI login). Reloadable.",
)
.default("admin")
.reloadable();
pub const CLI_PASSWORD_FILE: Param<String> = Param::string(
    "cli_password_file",
    "CLI password file",
    "A file holding the CLI user's password on its first line (mode 0600, owner root). \
     Needed only for depth 20 monitors. The password is never logged or passed on. \
     Reloadable: the file is read again by each check.",
)
.reloadable();
pub const STOP_GRACEFUL_SHARE: Param<i64> = Param::integer(
    "stop_graceful_share",
    "Graceful share of stop timeout",
    "Percentage of the stop timeout given to the graceful stop (SIGTERM) before the \
     server's remaining processes are killed (SIGKILL). Reloadable.",
)
.default("80")
.reloadable();
pub const CHECK_TIMEOUT: Param<i64> = Param::integer(
    "check_timeout",
    "Timeout of one check",
    "Seconds one check (a CLI command or a protocol greeting) may take before the \
     instance counts as hung. Always bounded by the operation's own timeout. Reloadable.",
)
.default("5")
.reloadable();

/// The parameters, in meta-data order.
pub static PARAMS: &[ParamSpec] = &[
    WORKDIR.spec,
    BINARY.spec,
    CONFIG.spec,
    ADDRESS.spec,
    CLI_PORT.spec,
    CLI_USER.spec,
    CLI_PASSWORD_FILE.spec,
    STOP_GRACEFUL_SHARE.spec,
    CHECK_TIMEOUT.spec,
];

/// The actions with their handlers.
pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 120, actions::start),
    ActionSpec::new("stop", 120, actions::stop).lenient(),
    ActionSpec::new("monitor", 30, actions::monitor)
        .interval(10)
        .depth(0),
    ActionSpec::new("monitor", 30, actions::monitor)
        .interval(60)
        .depth(10),
    ActionSpec::meta_data(5),
    ActionSpec::new("validate-all", 20, actions::validate),
    ActionSpec::new("reload-agent", 20, actions::reload_agent),
    ActionSpec::new("diagnose", 60, diagnose::diagnose)
        .hidden()
        .lenient(),
];

/// The agent's declaration, for `axha_ocf::run`.
pub static SPEC: AgentSpec = AgentSpec {
    name: "instance",
    version: env!("CARGO_PKG_VERSION"),
    shortdesc: "Axigen service instance",
    longdesc: "Manages one Axigen mail server instance: its working directory, its listeners \
               and its processes (a supervisor and its worker). Start launches the server \
               outside the agent's process group and waits until its CLI answers; stop ends \
               every process of the instance, gracefully first; monitor checks the process \
               identity and the CLI (depth 0), the SMTP, IMAP and POP3 greetings (depth 10) \
               and a CLI login (depth 20). Several instances may run on one node, each with \
               its own workdir and addresses.",
    params: PARAMS,
    actions: ACTIONS,
};

#[cfg(test)]
mod tests {
    /// The README's parameter table is kept true to the declaration (type, required, default,
    /// whether a change reloads or restarts).
    #[test]
    fn readme_table_matches_declaration() {
        let readme = include_str!("../../../README.md");
        for p in super::PARAMS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", p.name)))
                .unwrap_or_else(|| panic!("README has no row for {}", p.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let kind = match p.kind {
                axha_ocf::ParamType::Integer => "integer",
                axha_ocf::ParamType::Boolean => "boolean",
                _ => "string",
            };
            assert_eq!(cells[2], kind, "{}", p.name);
            assert_eq!(
                cells[3],
                if p.required { "yes" } else { "no" },
                "{}",
                p.name
            );
            let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
            assert_eq!(cells[4], default, "{}", p.name);
            let change = if p.reloadable { "reload" } else { "restart" };
            assert_eq!(cells[5], change, "{}", p.name);
        }
    }
}
