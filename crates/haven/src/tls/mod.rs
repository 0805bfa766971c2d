//! TLS: an internal certificate authority made on first start, a server certificate for the
//! configured host names that is renewed before it expires and swapped in without a restart, or
//! a certificate of your own by configuration. [`prepare`] runs once before serving, [`renew`]
//! from the hourly worker; this module holds what serving needs (the paths, the resolver that
//! hands rustls the current certificate).

mod prepare;
mod renew;

pub use prepare::prepare;
pub use renew::renew;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, anyhow};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::datadir::{DataDir, ensure_private_dir};

#[derive(Clone)]
pub struct Paths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Paths {
    pub fn new(data: &DataDir) -> Result<Paths> {
        let dir = ensure_private_dir(&data.tls())?;
        Ok(Paths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        })
    }
}

/// The CA certificate's SHA-256 fingerprint, as browsers show it.
pub fn fingerprint(pem: &str) -> Result<String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| anyhow!("bad CA certificate: {e}"))?;
    Ok(haven_crypto::sha256(der.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"))
}

/// Load a PEM chain and key into what rustls serves.
pub fn load_certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow!("{}: {e}", key.display()))?;
    let signing = provider.key_provider.load_private_key(key).map_err(|e| anyhow!("unusable private key: {e}"))?;
    Ok(CertifiedKey::new(chain, signing))
}

/// Serves whichever certificate is current; renewal swaps it in place.
#[derive(Debug)]
pub struct Resolver(RwLock<Arc<CertifiedKey>>);

impl Resolver {
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(Resolver(RwLock::new(Arc::new(key))))
    }
    pub fn replace(&self, key: CertifiedKey) {
        if let Ok(mut current) = self.0.write() {
            *current = Arc::new(key);
        }
    }

    /// The SHA-256 (hex) of the certificate served now, which the other nodes pin.
    pub fn sha256(&self) -> Option<String> {
        let current = self.0.read().ok()?;
        current.cert.first().map(|c| hex::encode(haven_crypto::sha256(c.as_ref())))
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

pub fn server_config(resolver: Arc<Resolver>, provider: Arc<CryptoProvider>) -> Result<rustls::ServerConfig> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
