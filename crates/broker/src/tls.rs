//! Mutual TLS on the MQTTS port: our own client-certificate verifier, and the principal id.
//!
//! AWS IoT authenticates devices by X.509 certificate; the principal of a certificate is its
//! certificateId, the lower-case hex SHA-256 of its DER (botocore: 64 hex characters). The
//! verifier accepts a certificate that chains to a CA the [`DeviceTrust`] names (the emulator's
//! CA and the ACTIVE registered CAs, which change at run time) or that is itself registered
//! (say, with RegisterCertificateWithoutCA); the certificate's status is decided after the
//! handshake by the `DeviceAuthenticator`. Either way the client proves it holds the
//! certificate's key: the handshake signature is always checked. A certificate outside its
//! validity period (notBefore, notAfter) is refused in the handshake, registered or not.
//!
//! The CertificateRequest names no CAs (as AWS IoT, which cannot know a device's CA in advance):
//! clients send their certificate whatever signed it.

use iotemu_core::DeviceTrust;
use parking_lot::Mutex;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use std::sync::Arc;
use std::time::Duration;

pub use iotemu_core::certificate_id;

/// Accepts client certificates the [`DeviceTrust`] vouches for, consulted on every handshake.
pub struct DeviceCertVerifier {
    trust: Arc<dyn DeviceTrust>,
    algorithms: WebPkiSupportedAlgorithms,
    provider: Arc<CryptoProvider>,
    /// The chain verifier built from the last set of CAs, with that set's generation.
    built: Mutex<Option<(u64, Option<ChainVerifier>)>>,
    /// Whether a client must present a certificate (the MQTTS port); the device port also
    /// serves clients that authenticate otherwise (SigV4, custom authorizers).
    mandatory: bool,
}

type ChainVerifier = Arc<dyn ClientCertVerifier>;

impl std::fmt::Debug for DeviceCertVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCertVerifier").finish_non_exhaustive()
    }
}

impl DeviceCertVerifier {
    /// A verifier asking `trust`.
    pub fn new(trust: Arc<dyn DeviceTrust>) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        DeviceCertVerifier {
            trust,
            algorithms: provider.signature_verification_algorithms,
            provider,
            built: Mutex::new(None),
            mandatory: true,
        }
    }

    /// The same, letting clients without a certificate finish the handshake (they are then
    /// authenticated some other way, or refused after it).
    pub fn optional(trust: Arc<dyn DeviceTrust>) -> Self {
        DeviceCertVerifier { mandatory: false, ..Self::new(trust) }
    }

    /// The chain verifier for the current CAs (None when there are none), rebuilt only when
    /// they change.
    fn chain(&self) -> Option<ChainVerifier> {
        let current = self.trust.trusted_cas();
        let mut built = self.built.lock();
        if let Some((generation, chain)) = built.as_ref() {
            if *generation == current.generation {
                return chain.clone();
            }
        }
        let mut roots = RootCertStore::empty();
        for ca in current.cas.iter() {
            if let Err(e) = roots.add(CertificateDer::from(ca.clone())) {
                tracing::warn!(error = %e, "a trusted CA certificate cannot serve as a TLS root");
            }
        }
        let chain = if roots.is_empty() {
            None
        } else {
            match WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone()).build()
            {
                Ok(verifier) => Some(verifier),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot build the client-certificate verifier");
                    None
                }
            }
        };
        *built = Some((current.generation, chain.clone()));
        chain
    }
}

impl ClientCertVerifier for DeviceCertVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let chained = match self.chain() {
            Some(chain) => chain.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
        };
        match chained {
            Ok(verified) => Ok(verified),
            // Out of its validity period: refused whether or not it is registered.
            Err(e) if is_out_of_validity(&e) => Err(e),
            Err(_) if self.trust.is_registered(&certificate_id(end_entity)) => {
                check_validity(end_entity, now)?;
                Ok(ClientCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether a verification error says the certificate is expired or not yet valid.
pub fn is_out_of_validity(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        )
    )
}

/// Checks a certificate's validity period (notBefore, notAfter) at `now`, as the chain verifier
/// does for certificates of a trusted CA: a registered certificate that no trusted CA signed
/// (RegisterCertificateWithoutCA) is held to its dates too.
fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = cert.validity();
    let at = |t: i64| UnixTime::since_unix_epoch(Duration::from_secs(t.max(0) as u64));
    let time = now.as_secs() as i64;
    if time < validity.not_before.timestamp() {
        let not_before = at(validity.not_before.timestamp());
        return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            time: now,
            not_before,
        }));
    }
    if time > validity.not_after.timestamp() {
        let not_after = at(validity.not_after.timestamp());
        return Err(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: now,
            not_after,
        }));
    }
    Ok(())
}

/// The rustls configuration of the MQTTS listener.
pub fn server_config(
    trust: Arc<dyn DeviceTrust>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let verifier = Arc::new(DeviceCertVerifier::new(trust));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_chain, server_key)?;
    Ok(Arc::new(config))
}

/// The ALPN protocol ids of the device port (`protocols.md`): MQTT with an X.509 client
/// certificate, MQTT with a custom authorizer, and HTTP (publish, shadows, MQTT over WebSockets).
pub const ALPN_MQTT_X509: &[u8] = b"x-amzn-mqtt-ca";
pub const ALPN_MQTT_CUSTOM_AUTH: &[u8] = b"mqtt";
pub const ALPN_HTTP: &[u8] = b"http/1.1";

/// The rustls configuration of the device port (AWS's 443): a client certificate is optional
/// (WebSockets and custom authorizers need none) and the ALPN protocols of `protocols.md` are
/// offered; a client that names none is served by what it sends first.
pub fn device_port_config(
    trust: Arc<dyn DeviceTrust>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let verifier = Arc::new(DeviceCertVerifier::optional(trust));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_chain, server_key)?;
    config.alpn_protocols = vec![ALPN_MQTT_X509.to_vec(), ALPN_MQTT_CUSTOM_AUTH.to_vec(), ALPN_HTTP.to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::TrustedCas;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    /// Trust that the test changes, as the registry's does at run time.
    #[derive(Default)]
    struct Changing {
        cas: Mutex<TrustedCas>,
        registered: Mutex<Vec<String>>,
    }

    impl DeviceTrust for Changing {
        fn trusted_cas(&self) -> TrustedCas {
            self.cas.lock().clone()
        }
        fn is_registered(&self, id: &str) -> bool {
            self.registered.lock().iter().any(|r| r == id)
        }
    }

    fn ca(name: &str) -> (Vec<u8>, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (cert.der().to_vec(), Issuer::new(params, key))
    }

    fn device(issuer: Option<&Issuer<'static, KeyPair>>) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["device".to_string()]).unwrap();
        let cert = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        cert.der().clone()
    }

    #[test]
    fn the_verifier_follows_the_trust_as_it_changes() {
        let (emulator_ca, _) = ca("emulator");
        let (customer_ca, customer) = ca("customer");
        let trust = Arc::new(Changing::default());
        *trust.cas.lock() = TrustedCas { generation: 1, cas: Arc::new(vec![emulator_ca.clone()]) };
        let verifier = DeviceCertVerifier::new(trust.clone());
        let now = UnixTime::now();
        let of_customer = device(Some(&customer));
        assert!(verifier.verify_client_cert(&of_customer, &[], now).is_err());

        *trust.cas.lock() =
            TrustedCas { generation: 2, cas: Arc::new(vec![emulator_ca.clone(), customer_ca]) };
        assert!(verifier.verify_client_cert(&of_customer, &[], now).is_ok(), "a CA registered at run time");
        *trust.cas.lock() = TrustedCas { generation: 3, cas: Arc::new(vec![emulator_ca]) };
        assert!(verifier.verify_client_cert(&of_customer, &[], now).is_err(), "and deactivated");

        let self_signed = device(None);
        assert!(matches!(
            verifier.verify_client_cert(&self_signed, &[], now),
            Err(rustls::Error::InvalidCertificate(_))
        ));
        trust.registered.lock().push(certificate_id(&self_signed));
        assert!(verifier.verify_client_cert(&self_signed, &[], now).is_ok(), "registered without a CA");
        assert!(verifier.root_hint_subjects().is_empty());
    }

    #[test]
    fn certificates_outside_their_validity_are_refused_even_when_registered() {
        let (emulator_ca, emulator) = ca("emulator");
        let trust = Arc::new(Changing::default());
        *trust.cas.lock() = TrustedCas { generation: 1, cas: Arc::new(vec![emulator_ca]) };
        let verifier = DeviceCertVerifier::new(trust.clone());
        let now = UnixTime::now();
        let dated = |issuer: Option<&Issuer<'static, KeyPair>>, from: i32, to: i32| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec!["device".to_string()]).unwrap();
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(to, 1, 1);
            let cert = match issuer {
                Some(issuer) => params.signed_by(&key, issuer).unwrap(),
                None => params.self_signed(&key).unwrap(),
            };
            cert.der().clone()
        };
        for cert in [dated(Some(&emulator), 2000, 2001), dated(None, 2000, 2001), dated(None, 2999, 3000)] {
            trust.registered.lock().push(certificate_id(&cert));
            let refused = verifier.verify_client_cert(&cert, &[], now).unwrap_err();
            assert!(is_out_of_validity(&refused), "{refused:?}");
        }
        let current = dated(None, 2000, 2999);
        trust.registered.lock().push(certificate_id(&current));
        assert!(verifier.verify_client_cert(&current, &[], now).is_ok(), "a registered one within its dates");
    }

    #[test]
    fn certificate_id_is_lower_hex_sha256() {
        let id = super::certificate_id(b"abc");
        assert_eq!(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
