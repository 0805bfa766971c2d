//! The `haven` binary's library: command line, configuration, wiring, TLS and the server.

pub mod app;
pub mod background;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod gate;
pub mod keys;
pub mod listener;
pub mod serve;
pub mod syslog;
pub mod telemetry;
pub mod tls;
pub mod webhook;
pub mod wiring;

/// Install ring as the process's TLS crypto provider, once, before anything builds a TLS client or
/// server (the S3 client and the test clients use rustls without a provider of their own).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Files and directories Haven creates are private to its user (the data directory holds keys and
/// identifiable data); set once at start, before anything is created.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}
