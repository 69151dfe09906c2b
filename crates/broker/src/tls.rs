//! Mutual TLS on the MQTTS port: our own client-certificate verifier, and the principal id.
//!
//! AWS IoT authenticates devices by X.509 certificate; the principal of a certificate is its
//! certificateId, the lower-case hex SHA-256 of its DER (botocore: 64 hex characters). The
//! verifier accepts certificates that chain to the emulator's CA; the control plane will add
//! registered CAs and certificate status.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use std::sync::Arc;

pub use iotemu_core::certificate_id;

/// Accepts client certificates issued by the emulator's CA (and, later, registered CAs).
#[derive(Debug)]
pub struct DeviceCertVerifier {
    chain: Arc<dyn ClientCertVerifier>,
}

impl DeviceCertVerifier {
    /// A verifier trusting `cas`.
    pub fn new(cas: &[CertificateDer<'static>]) -> Result<Self, rustls::Error> {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add(ca.clone())?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(DeviceCertVerifier { chain })
    }
}

impl ClientCertVerifier for DeviceCertVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.chain.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// The rustls configuration of the MQTTS listener.
pub fn server_config(
    cas: &[CertificateDer<'static>],
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let verifier = Arc::new(DeviceCertVerifier::new(cas)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_chain, server_key)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn certificate_id_is_lower_hex_sha256() {
        let id = super::certificate_id(b"abc");
        assert_eq!(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
