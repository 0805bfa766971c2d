//! Before serving: the internal CA (made once) and a server certificate for the configured
//! names, issued again when it is missing, for other names, or near its end.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use time::{Duration, OffsetDateTime};

use super::Paths;
use crate::config::TlsConfig;
use crate::datadir::write_private;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use crate::tls::{Resolver, fingerprint, load_certified_key};

    #[test]
    fn certificates_are_issued_for_the_names_and_renewed_before_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(&DataDir::new(dir.path())).unwrap();
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
