//! The seam through which the broker asks a custom authorizer about a connecting client
//! (`custom-authentication.md`): the authorizers crate implements [`CustomAuthenticator`]; the
//! broker never imports it.

use crate::{AuthnFailure, DeviceAuthorizer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What a client connecting through a custom authorizer presented.
#[derive(Debug, Clone, Default)]
pub struct CustomAuthRequest {
    /// The MQTT username (`...?x-amz-customauthorizer-name=...&<tokenKey>=...`).
    pub username: Option<String>,
    /// The MQTT password, as sent.
    pub password: Option<Vec<u8>>,
    pub client_id: String,
    /// The TLS SNI.
    pub server_name: Option<String>,
    /// The WebSocket upgrade's headers (names lower case) and query string.
    pub http: Option<HttpRequestContext>,
}

/// The HTTP request of a WebSocket connection.
#[derive(Debug, Clone, Default)]
pub struct HttpRequestContext {
    pub headers: Vec<(String, String)>,
    pub query_string: String,
}

/// What an authorizer's function granted: the principal logged, the IoT policies of the
/// connection, and when it is cut or asked again.
pub struct CustomAuthGrant {
    pub principal_id: Arc<str>,
    pub policies: Arc<dyn DeviceAuthorizer>,
    pub disconnect_after: Option<Duration>,
    pub refresh_after: Option<Duration>,
}

/// The answer of [`CustomAuthenticator::authenticate`].
pub type CustomAuthResult<'a> =
    Pin<Box<dyn Future<Output = Result<CustomAuthGrant, AuthnFailure>> + Send + 'a>>;

/// Runs the custom authorizer the request names (or the default one); a failure carries AWS's
/// Connection.AuthNError reason (CUSTOM_AUTHORIZER_NOT_FOUND, ..._LAMBDA_EXECUTION_ERROR, ...).
pub trait CustomAuthenticator: Send + Sync + 'static {
    fn authenticate<'a>(&'a self, request: &'a CustomAuthRequest) -> CustomAuthResult<'a>;
}
