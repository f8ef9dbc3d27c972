//! axigen-provision: places new Axigen accounts on back-end service instances by one of four
//! policies (random, weighted random, least used, domain based), creates them on the chosen
//! back-end through its CLI and records them in the LDAP location directory that front-end
//! proxies route by.
//!
//! - [`service::Provisioner`]: the operations, each keeping directory and back-ends in step;
//! - [`store::AxigenStore`]: the back-end side (Axigen CLI sessions);
//! - [`import`]: resumable CSV bulk import;
//! - [`moves`]: moving accounts between back-ends (move, drain, rebalance) over [`imap`];
//! - [`http`]: the JSON API's routes; [`server`]: its HTTP/1.1 listener (worker pool, limits,
//!   optional TLS from [`tls`]); [`metrics`]: its Prometheus metrics; [`cli`]: the command line; [`config`]: the configuration file.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod imap;
pub mod import;
pub mod metrics;
pub mod moves;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
