//! How an operation's error looks on the wire (quickwit's `ServiceErrorCode` idea): every
//! service's error enum implements [`ServiceError`], and the HTTP API renders any of them.

/// An error as AWS reports it.
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// The HTTP status (REST-JSON APIs).
    fn http_status(&self) -> u16;
    /// AWS's exception name: the `x-amzn-ErrorType` header and the `__type` field.
    fn error_type(&self) -> &'static str;
    /// Members of the error body besides `message` (ResourceAlreadyExistsException's
    /// `resourceId` and `resourceArn`, botocore `iot` model).
    fn extra_fields(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Why a device's certificate may not connect (the `reason` of a `Connection.AuthNError` entry;
/// the codes are AWS's, `docs/aws-behaviour.md` §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnFailure {
    /// DEVICE_CERTIFICATE_INACTIVE, DEVICE_CERTIFICATE_REVOKED or DEVICE_CERTIFICATE_NOT_REGISTERED.
    pub reason: &'static str,
    pub details: String,
}

/// Decides whether a device certificate (already accepted by TLS, see [`DeviceTrust`]) may
/// connect. The registry implements it; the broker asks it after every TLS handshake.
pub trait DeviceAuthenticator: Send + Sync + 'static {
    fn authenticate(&self, certificate_id: &str, der: &[u8]) -> Result<(), AuthnFailure>;
}

/// Lets every certificate the TLS layer accepted connect (tests, and the broker on its own).
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptAll;

impl DeviceAuthenticator for AcceptAll {
    fn authenticate(&self, _: &str, _: &[u8]) -> Result<(), AuthnFailure> {
        Ok(())
    }
}

/// The CA certificates (DER) a device certificate may chain to, with a number that changes
/// whenever the set does, so that a verifier can keep what it built from them until then.
#[derive(Debug, Clone, Default)]
pub struct TrustedCas {
    pub generation: u64,
    pub cas: std::sync::Arc<Vec<Vec<u8>>>,
}

/// What the MQTTS listener's TLS verifier trusts, asked on every handshake: CAs are registered
/// and deactivated at run time, so a fixed root store cannot serve. The registry implements it.
pub trait DeviceTrust: Send + Sync + 'static {
    /// The CAs whose certificates pass TLS (the emulator's CA and the ACTIVE registered ones).
    fn trusted_cas(&self) -> TrustedCas;
    /// Whether a certificate is registered (in any status): it then passes TLS whatever signed
    /// it, and [`DeviceAuthenticator`] decides on its status after the handshake.
    fn is_registered(&self, certificate_id: &str) -> bool;
}

/// A fixed set of CAs and no registered certificates (tests, and the broker on its own).
#[derive(Debug, Clone, Default)]
pub struct StaticTrust(pub TrustedCas);

impl StaticTrust {
    pub fn new(cas: Vec<Vec<u8>>) -> Self {
        StaticTrust(TrustedCas { generation: 0, cas: std::sync::Arc::new(cas) })
    }
}

impl DeviceTrust for StaticTrust {
    fn trusted_cas(&self) -> TrustedCas {
        self.0.clone()
    }
    fn is_registered(&self, _: &str) -> bool {
        false
    }
}
