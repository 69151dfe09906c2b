//! How an operation's error looks on the wire (quickwit's `ServiceErrorCode` idea): every
//! service's error enum implements [`ServiceError`], and the HTTP API renders any of them.

/// An error as AWS reports it.
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// The HTTP status (REST-JSON APIs).
    fn http_status(&self) -> u16;
    /// AWS's exception name: the `x-amzn-ErrorType` header and the `__type` field.
    fn error_type(&self) -> &'static str;
}

/// Why a device's certificate may not connect (the `reason` of a `Connection.AuthNError` entry;
/// the codes are AWS's, `aws-behaviour.md` §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnFailure {
    /// DEVICE_CERTIFICATE_INACTIVE, DEVICE_CERTIFICATE_REVOKED or DEVICE_CERTIFICATE_NOT_REGISTERED.
    pub reason: &'static str,
    pub details: String,
}

/// Decides whether a device certificate (already verified against a trusted CA by TLS) may
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
