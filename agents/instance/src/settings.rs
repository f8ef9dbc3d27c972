use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_axigen::config::{Config, Service};
use axha_axigen::probe::Protocol;
use axha_ocf::{OcfError, Param, Params};

use crate::failure::Failure;

use crate::spec::{
    ADDRESS, BINARY, CHECK_TIMEOUT, CLI_PASSWORD_FILE, CLI_PORT, CLI_USER, CONFIG,
    STOP_GRACEFUL_SHARE, WORKDIR,
};

/// The checked parameters of one call (depth 0: what is wrong here is wrong on every node).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The instance's working directory.
    pub workdir: PathBuf,
    /// The server binary.
    pub binary: PathBuf,
    /// The config file, and whether the administrator named it (then it is passed to the
    /// server; the default location is the server's own).
    pub config: PathBuf,
    /// Whether `config` was named by the administrator.
    pub config_explicit: bool,
    /// Where the checks connect, when set (else the CLI listener's address).
    pub address: Option<IpAddr>,
    /// The CLI port, when set (else the CLI listener's port).
    pub cli_port: Option<u16>,
    /// The user of the depth 20 login.
    pub cli_user: String,
    /// The file with that user's password.
    pub password_file: Option<PathBuf>,
    /// Percentage of the stop timeout given to SIGTERM.
    pub graceful_share: u32,
    /// How long one check may take.
    pub check_timeout: Duration,
}

/// Where the checks connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub cli: SocketAddr,
    pub greeters: Vec<(Protocol, SocketAddr)>,
}

/// Linux's limit on a path handed to the kernel, terminating NUL included (limits.h).
const PATH_MAX: usize = 4096;

fn absolute(param: &Param<String>, v: &str) -> Result<PathBuf, OcfError> {
    let p = PathBuf::from(v);
    if !p.is_absolute() {
        return Err(OcfError::configured(format!(
            "{} must be an absolute path, not {v:?}",
            param.name()
        )));
    }
    Ok(p)
}

/// `stop_graceful_share` as a percentage, when it is one.
fn percentage(n: i64) -> Option<u32> {
    u32::try_from(n).ok().filter(|n| (1..=100).contains(n))
}

impl Settings {
    /// Check and resolve the parameters. Errors are code 6: the same everywhere.
    pub fn from_params(p: &Params) -> Result<Settings, OcfError> {
        p.check()?;
        let workdir = absolute(&WORKDIR, &p.value(&WORKDIR)?)?;
        let longest = default_config(&workdir).as_os_str().len();
        if longest >= PATH_MAX {
            return Err(OcfError::configured(format!(
                "{} is too long: {longest} bytes with run/axigen.cfg, the limit of a path \
                 is {PATH_MAX} (PATH_MAX)",
                WORKDIR.name()
            )));
        }
        let binary = absolute(&BINARY, &p.value(&BINARY)?)?;
        let (config, config_explicit) = match p.get(&CONFIG) {
            Some(c) => (absolute(&CONFIG, &c)?, true),
            None => (default_config(&workdir), false),
        };
        let address = match p.get(&ADDRESS) {
            None => None,
            Some(a) => Some(a.trim().parse::<IpAddr>().map_err(|_| {
                OcfError::configured(format!("{} {a:?} is not an IP address", ADDRESS.name()))
            })?),
        };
        let cli_port = match p.get(&CLI_PORT) {
            None => None,
            Some(n) => Some(u16::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                OcfError::configured(format!("{} {n} is not a TCP port", CLI_PORT.name()))
            })?),
        };
        let share = p.value(&STOP_GRACEFUL_SHARE)?;
        let graceful_share = percentage(share).ok_or_else(|| {
            OcfError::configured(format!(
                "{} {share} is not a percentage between 1 and 100",
                STOP_GRACEFUL_SHARE.name()
            ))
        })?;
        let check_timeout = match p.value(&CHECK_TIMEOUT)? {
            n @ 1..=3600 => Duration::from_secs(n.unsigned_abs()),
            n => {
                return Err(OcfError::configured(format!(
                    "{} {n} is not between 1 and 3600 seconds",
                    CHECK_TIMEOUT.name()
                )))
            }
        };
        let password_file = match p.get(&CLI_PASSWORD_FILE) {
            None => None,
            Some(f) => Some(absolute(&CLI_PASSWORD_FILE, &f)?),
        };
        let cli_user = p.value(&CLI_USER)?;
        if cli_user.contains(char::is_whitespace) {
            // The CLI reads `USER name` up to the line end: a space would change the login.
            return Err(OcfError::configured(format!(
                "{} {cli_user:?} contains white space",
                CLI_USER.name()
            )));
        }
        Ok(Settings {
            workdir,
            binary,
            config,
            config_explicit,
            address,
            cli_port,
            cli_user,
            password_file,
            graceful_share,
            check_timeout,
        })
    }

    /// What stop needs, from whatever parameters are usable: stop must find and end a
    /// running instance even when other parameters are wrong (a wrong one takes its default).
    pub fn for_stop(p: &Params) -> Option<(PathBuf, PathBuf, u32)> {
        let workdir = PathBuf::from(p.get(&WORKDIR)?);
        let binary = PathBuf::from(p.lenient(&BINARY)?);
        let share = p
            .get(&STOP_GRACEFUL_SHARE)
            .and_then(percentage)
            .or_else(|| STOP_GRACEFUL_SHARE.default_value().and_then(percentage))?;
        Some((workdir, binary, share))
    }

    /// Read and parse the configuration file.
    pub fn read_config(&self) -> Result<Config, OcfError> {
        Config::read(&self.config).map_err(|error| {
            Failure::Config {
                path: self.config.clone(),
                error,
            }
            .into()
        })
    }

    /// The check addresses: listeners from the config, overridden by `address`/`cli_port`.
    /// A listener on the unspecified address is checked on `address` or loopback.
    pub fn endpoints(&self, config: Option<&Config>) -> Result<Endpoints, OcfError> {
        let listeners = config.map(|c| c.listeners()).unwrap_or_default();
        let reach = |a: SocketAddr| -> SocketAddr {
            let ip = match (self.address, a.ip().is_unspecified()) {
                (Some(ip), true) => ip,
                (None, true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                _ => a.ip(),
            };
            SocketAddr::new(ip, a.port())
        };
        let cli_cfg = listeners
            .iter()
            .find(|l| l.service == Service::Cli)
            .map(|l| l.addr);
        let cli_ip = self
            .address
            .or(cli_cfg.map(|a| reach(a).ip()))
            .ok_or_else(|| {
                OcfError::configured(format!(
                    "no address: set the address parameter or a CLI listener in {}",
                    self.config.display()
                ))
            })?;
        let cli_port = self
            .cli_port
            .or(cli_cfg.map(|a| a.port()))
            .unwrap_or(Service::Cli.default_port());
        let greeters = listeners
            .iter()
            .filter_map(|l| Some((Protocol::for_service(l.service)?, reach(l.addr))))
            .collect();
        Ok(Endpoints {
            cli: SocketAddr::new(cli_ip, cli_port),
            greeters,
        })
    }
}

pub fn default_config(workdir: &Path) -> PathBuf {
    workdir.join("run").join("axigen.cfg")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> Params {
        let vars = axha_ocf::Environment::from_pairs(
            kv.iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        Params::parse(crate::PARAMS, &vars)
    }

    fn err(kv: &[(&str, &str)]) -> String {
        let e = Settings::from_params(&params(kv)).unwrap_err();
        assert_eq!(e.status, axha_ocf::OcfStatus::ErrConfigured);
        e.reason
    }

    #[test]
    fn depth0_errors_name_the_parameter() {
        assert_eq!(err(&[]), "required parameter workdir is not set");
        assert!(err(&[("workdir", "srv/a")]).starts_with("workdir must be an absolute path"));
        assert!(err(&[("workdir", "/a"), ("cli_port", "70000")]).contains("cli_port 70000"));
        assert!(err(&[("workdir", "/a"), ("address", "10.0.0.300")]).contains("10.0.0.300"));
        assert!(err(&[("workdir", "/a"), ("stop_graceful_share", "0")]).contains("percentage"));
        assert!(err(&[("workdir", "/a"), ("cli_port", "x")]).contains("not an integer"));
        assert!(err(&[("workdir", "/a"), ("cli_user", "ad min")]).contains("white space"));
        assert!(err(&[("workdir", "/a"), ("cli_user", "admin\r\n")]).contains("control"));
        let long = format!("/{}", "d/".repeat(2100));
        assert!(err(&[("workdir", &long)]).contains("PATH_MAX"));
    }

    #[test]
    fn defaults() {
        let s = Settings::from_params(&params(&[("workdir", "/srv/a")])).unwrap();
        assert_eq!(s.config, PathBuf::from("/srv/a/run/axigen.cfg"));
        assert!(!s.config_explicit);
        assert_eq!(s.binary, PathBuf::from("/opt/axigen/bin/axigen"));
        assert_eq!(s.graceful_share, 80);
    }

    #[test]
    fn endpoints_from_config_and_overrides() {
        let cfg = Config::default_for("10.1.2.3".parse().unwrap(), Some(2000)).unwrap();
        let s = Settings::from_params(&params(&[("workdir", "/srv/a")])).unwrap();
        let e = s.endpoints(Some(&cfg)).unwrap();
        assert_eq!(e.cli, "10.1.2.3:2003".parse().unwrap());
        assert!(e
            .greeters
            .contains(&(Protocol::Imap, "10.1.2.3:2002".parse().unwrap())));
        let s = Settings::from_params(&params(&[
            ("workdir", "/srv/a"),
            ("address", "127.0.0.9"),
            ("cli_port", "7777"),
        ]))
        .unwrap();
        assert_eq!(
            s.endpoints(None).unwrap().cli,
            "127.0.0.9:7777".parse().unwrap()
        );
        let s = Settings::from_params(&params(&[("workdir", "/srv/a")])).unwrap();
        assert!(s.endpoints(None).is_err());
    }
}
