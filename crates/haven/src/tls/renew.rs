//! While serving (the hourly worker): renew the server certificate before it expires.

use time::OffsetDateTime;

use super::prepare::{issue_server_cert, needs_renewal};
use super::{Paths, Resolver, load_certified_key};
use crate::config::TlsConfig;

/// Re-issue the server certificate when it needs it (or re-read the configured one) and swap
/// it in without a restart; a failure keeps the current certificate and is logged.
pub fn renew(
    paths: &Paths,
    cfg: &TlsConfig,
    now: OffsetDateTime,
    resolver: &Resolver,
    provider: &rustls::crypto::CryptoProvider,
) {
    let (cert, key) = match (&cfg.cert_file, &cfg.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            if !needs_renewal(paths, cfg, now) {
                return;
            }
            if let Err(e) = issue_server_cert(paths, cfg, now) {
                tracing::error!(error = %e, "could not renew the server certificate");
                return;
            }
            (paths.server_cert.clone(), paths.server_key.clone())
        }
    };
    match load_certified_key(&cert, &key, provider) {
        Ok(k) => resolver.replace(k),
        Err(e) => {
            tracing::error!(error = %e, "could not load the server certificate; keeping the current one")
        }
    }
}
