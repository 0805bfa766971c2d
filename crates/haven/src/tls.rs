//! TLS: an internal certificate authority made on first start, a server certificate for the
//! configured host names that is renewed before it expires and swapped in without a restart, or
//! a certificate of your own by configuration.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::config::TlsConfig;
use crate::datadir::{ensure_subdir, write_private};

#[derive(Clone)]
pub struct Paths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Result<Paths> {
        let dir = ensure_subdir(data_dir, "tls")?;
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

/// Make the internal CA if it does not exist yet.
pub fn ensure_ca(paths: &Paths, now: OffsetDateTime) -> Result<()> {
    if paths.ca_cert.exists() && paths.ca_key.exists() {
        return Ok(());
    }
    let key = KeyPair::generate().context("generate the CA key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Haven internal CA");
    dn.push(DnType::OrganizationName, "Haven Data Safe Haven");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key).context("sign the CA certificate")?;
    write_private(&paths.ca_key, key.serialize_pem().as_bytes())?;
    std::fs::write(&paths.ca_cert, cert.pem()).with_context(|| format!("write {}", paths.ca_cert.display()))?;
    tracing::info!(path = %paths.ca_cert.display(), "created the internal certificate authority");
    Ok(())
}

/// When the certificate at `path` expires, and the names it covers.
fn inspect(path: &Path) -> Option<(OffsetDateTime, Vec<String>)> {
    let pem = std::fs::read(path).ok()?;
    let der = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*ip) {
                        names.push(std::net::Ipv4Addr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*ip) {
                        names.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Some((not_after, names))
}

/// Whether the server certificate must be (re)issued: missing, for other names, or expiring.
pub fn needs_renewal(paths: &Paths, cfg: &TlsConfig, now: OffsetDateTime) -> bool {
    match inspect(&paths.server_cert) {
        None => true,
        Some((not_after, mut names)) => {
            let mut wanted = cfg.host_names.clone();
            names.sort();
            wanted.sort();
            names != wanted
                || not_after - now < Duration::days(i64::from(cfg.renew_before_days))
                || !paths.server_key.exists()
        }
    }
}

/// Issue a server certificate from the internal CA for the configured names.
pub fn issue_server_cert(paths: &Paths, cfg: &TlsConfig, now: OffsetDateTime) -> Result<()> {
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&paths.ca_key)?).context("read the CA key")?;
    let ca_pem = std::fs::read_to_string(&paths.ca_cert)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("read the CA certificate")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cfg.host_names.first().cloned().unwrap_or_else(|| "localhost".into()));
    params.distinguished_name = dn;
    params.subject_alt_names = cfg
        .host_names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| anyhow!("tls.host_names: {n:?} is not a host name: {e}")),
        })
        .collect::<Result<_>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(cfg.server_cert_days));
    let key = KeyPair::generate().context("generate the server key")?;
    let cert = params.signed_by(&key, &issuer).context("sign the server certificate")?;
    write_private(&paths.server_key, key.serialize_pem().as_bytes())?;
    write_private(&paths.server_cert, format!("{}{}", cert.pem(), ca_pem).as_bytes())?;
    tracing::info!(names = ?cfg.host_names, days = cfg.server_cert_days, "issued the server certificate");
    Ok(())
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

/// The certificate files to serve: the configured ones, or the internal CA's (issued if needed).
pub fn prepare(paths: &Paths, cfg: &TlsConfig, now: OffsetDateTime) -> Result<(PathBuf, PathBuf)> {
    if let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) {
        return Ok((cert.clone(), key.clone()));
    }
    ensure_ca(paths, now)?;
    if needs_renewal(paths, cfg, now) {
        issue_server_cert(paths, cfg, now)?;
    }
    Ok((paths.server_cert.clone(), paths.server_key.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_issued_for_the_names_and_renewed_before_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path()).unwrap();
        let cfg = TlsConfig::default();
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        prepare(&paths, &cfg, now).unwrap();
        let (not_after, mut names) = inspect(&paths.server_cert).unwrap();
        names.sort();
        assert_eq!(names, ["127.0.0.1", "localhost"]);
        assert_eq!(not_after, now + Duration::days(90));
        assert!(!needs_renewal(&paths, &cfg, now + Duration::days(59)));
        assert!(needs_renewal(&paths, &cfg, now + Duration::days(61)));
        let other = TlsConfig { host_names: vec!["haven.example".into()], ..TlsConfig::default() };
        assert!(needs_renewal(&paths, &other, now));
        let provider = rustls::crypto::ring::default_provider();
        let first = load_certified_key(&paths.server_cert, &paths.server_key, &provider).unwrap();
        let resolver = Resolver::new(first);
        let before = resolver.0.read().unwrap().cert[0].clone();
        // Renewal: a new certificate is issued and swapped in without a restart.
        issue_server_cert(&paths, &cfg, now + Duration::days(61)).unwrap();
        resolver.replace(load_certified_key(&paths.server_cert, &paths.server_key, &provider).unwrap());
        let after = resolver.0.read().unwrap().cert[0].clone();
        assert_ne!(before, after);
        assert!(!needs_renewal(&paths, &cfg, now + Duration::days(61)));
        assert!(fingerprint(&std::fs::read_to_string(&paths.ca_cert).unwrap()).unwrap().len() == 95);
    }
}
