//! Axigen as seen from outside: its configuration file, its CLI, its protocol greetings and
//! its processes.

pub mod process;
