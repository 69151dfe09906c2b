//! The AWS-compatible HTTP API toolkit (`docs/architecture.md`, "HTTP API"). Every AWS service of
//! iotemu shares one port; a request goes to a service by the SigV4 credential scope of its
//! `Authorization` header (`.../us-east-1/iot/aws4_request`), because paths collide between `iot`
//! and `iot-jobs-data`. Signatures are parsed for account, region and service, never verified.
//!
//! - [`CredentialScope`]: who is calling, where; the [`ApiContext`] extractor hands it to handlers
//!   ([`ApiContext::scope`]: the account and region of the request's resources).
//! - [`ApiError`]: REST-JSON errors (status, `x-amzn-ErrorType`, `{"message"}`).
//! - [`AwsJson`]: a JSON body extractor whose rejection is an InvalidRequestException.
//! - [`dispatch`]: the fallback that picks the service router.
//! - [`blocking`]: runs an operation that commits to SQLite on tokio's blocking pool.
//! - [`paging`]: the `nextToken` and `marker` pages of the list operations.

mod error;
pub mod operations;
pub mod paging;
mod scope;
pub mod tags;

pub use error::{ApiError, AwsJson};

/// A query-string extractor whose rejection the handler turns into AWS's error with [`query`].
pub type AwsQuery<T> = Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>;

/// The query of an [`AwsQuery`], or an InvalidRequestException saying what is wrong with it.
pub fn query<T>(q: AwsQuery<T>) -> Result<T, ApiError> {
    q.map(|axum::extract::Query(v)| v).map_err(|e| ApiError::invalid_request(e.body_text()))
}
pub use scope::{ApiContext, CredentialScope};

/// Runs `f`, which blocks (it commits to SQLite), on tokio's blocking pool, so the runtime's
/// workers keep serving; a panic in it is a 500 InternalFailureException.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(500, "InternalFailureException", e.to_string()))?
}

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt;

/// The routers of the AWS services, by SigV4 service name (`iot`, `iotdata`, ...).
#[derive(Clone, Default)]
pub struct ServiceRouters {
    routers: Arc<HashMap<&'static str, Router>>,
    defaults: Arc<(String, String)>,
}

impl ServiceRouters {
    /// Routers for the default account and region (used when a request is unsigned or its
    /// access key is not a 12-digit account id).
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        ServiceRouters { routers: Arc::default(), defaults: Arc::new((account.into(), region.into())) }
    }

    /// Adds the router of `service`.
    pub fn with(mut self, service: &'static str, router: Router) -> Self {
        Arc::make_mut(&mut self.routers).insert(service, router);
        self
    }
}

/// Sends a request to the router of its credential scope's service, with the scope in the
/// request's extensions for [`ApiContext`].
pub async fn dispatch(State(services): State<ServiceRouters>, mut request: Request) -> Response {
    let (account, region) = &*services.defaults;
    let scope = CredentialScope::from_headers(request.headers(), request.uri().query(), account, region);
    let Some(router) = scope.as_ref().and_then(|s| services.routers.get(s.service.as_str())).cloned() else {
        let message = match &scope {
            Some(s) => format!("iotemu does not serve the AWS service {:?}", s.service),
            None => "missing or malformed SigV4 Authorization header: the credential scope names the service"
                .to_string(),
        };
        return ApiError::new(400, "InvalidRequestException", message).into_response();
    };
    let service = scope.as_ref().map(|s| s.service.clone()).unwrap_or_default();
    if let Some(scope) = scope {
        request.extensions_mut().insert(scope);
    }
    let (method, path) = (request.method().to_string(), request.uri().path().to_string());
    let op = operations::operation(&service, &method, &path);
    if let Some(op) = &op {
        if let Err(e) = operations::validate(&service, op) {
            return e.into_response();
        }
    }
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // A path or method no route serves (axum's bare 404 or 405): the operation by name.
    let unrouted = matches!(response.status().as_u16(), 404 | 405)
        && !response.headers().contains_key("x-amzn-ErrorType");
    if unrouted {
        let name = op.as_ref().map(|o| o.name.as_str());
        return operations::unknown_operation(&service, name, &method, &path).into_response();
    }
    response
}
