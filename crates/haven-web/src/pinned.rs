//! A peer trusted by its certificate's SHA-256 alone, recorded where it was made: another node
//! (its record), a session's bridge (the address file it wrote), Haven itself to a bridge (the
//! fingerprint Haven wrote into the run directory). The handshake's signatures are checked with
//! that certificate, as any verifier does; its names and dates are not asked: the record is the
//! trust, made anew each time the certificate may change.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DistinguishedName, SignatureScheme};

/// A key made in memory, never written anywhere, and its self-signed certificate: what the
/// other side pins (by [`MemoryKey::fingerprint`], which is no secret).
pub struct MemoryKey {
    cert: CertificateDer<'static>,
    key: zeroize::Zeroizing<Vec<u8>>,
    pub fingerprint: [u8; 32],
}

impl MemoryKey {
    pub fn generate(name: &str) -> Result<Self, String> {
        let pair = rcgen::KeyPair::generate().map_err(|e| format!("a key for {name}: {e}"))?;
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .and_then(|p| p.self_signed(&pair))
            .map_err(|e| format!("a certificate for {name}: {e}"))?;
        let cert = CertificateDer::from(cert.der().to_vec());
        let fingerprint = haven_crypto::sha256(cert.as_ref());
        Ok(MemoryKey { cert, key: zeroize::Zeroizing::new(pair.serialize_der()), fingerprint })
    }

    /// The certificate chain and key, as rustls takes them (client or server).
    pub fn identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (vec![self.cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.to_vec())))
    }
}

#[derive(Debug)]
pub struct Pinned {
    sha256: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    pub fn new(sha256: [u8; 32], provider: &CryptoProvider) -> Self {
        Pinned { sha256, algorithms: provider.signature_verification_algorithms }
    }

    fn check(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if haven_crypto::ct_eq(&haven_crypto::sha256(cert.as_ref()), &self.sha256) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn tls12(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.algorithms)
    }

    fn tls13(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.algorithms)
    }
}

type SignatureCheck = Result<HandshakeSignatureValid, rustls::Error>;

/// As a client: the server must be the pinned one.
impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// As a server: the client must present the pinned certificate (no other finishes the handshake).
impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> SignatureCheck {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
