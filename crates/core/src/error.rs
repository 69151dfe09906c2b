//! How an operation's error looks on the wire (quickwit's `ServiceErrorCode` idea): every
//! service's error enum implements [`ServiceError`], and the HTTP API renders any of them.

/// An error as AWS reports it.
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// The HTTP status (REST-JSON APIs).
    fn http_status(&self) -> u16;
    /// AWS's exception name: the `x-amzn-ErrorType` header and the `__type` field.
    fn error_type(&self) -> &'static str;
}
