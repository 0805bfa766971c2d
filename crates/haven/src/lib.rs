//! The `haven` binary's library: command line, configuration, wiring, TLS and the server.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod datadir;
pub mod serve;
pub mod telemetry;
pub mod tls;
