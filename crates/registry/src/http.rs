//! The registry's REST routes (`iot`): one `http.rs` per area (things, certificates, policies,
//! thing groups; wire only), and the wire helpers they share. Shapes follow botocore's `iot` model.

use crate::{Page, Registry};
use axum::http::HeaderMap;
use axum::{Json, Router};
use iotemu_api::paging::with_next_token;
use iotemu_api::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The routes of the registry operations.
pub fn routes(registry: Arc<Registry>) -> Router {
    crate::things::http::routes()
        .merge(crate::thing_groups::http::routes())
        .merge(crate::policies::http::routes())
        .merge(crate::billing_groups::http::routes())
        .merge(crate::tags::routes())
        .with_state(registry.clone())
        .merge(crate::certificates::http::routes(registry))
}

/// A query string in AWS's error shape when it does not parse.
pub(crate) use iotemu_api::{query, AwsQuery};

/// botocore `AttributePayload`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AttributePayload {
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub merge: bool,
}

/// A required, non-empty request header (`x-amzn-principal`, `x-amzn-iot-policy`, ...).
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let value = headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    ApiError::required(value, &format!("the {name} header"))
}

/// A `pageSize`/`marker` list body: `nextMarker` added when there is more.
pub(crate) fn with_marker(mut body: Value, next: Option<String>) -> Json<Value> {
    if let Some(next) = next {
        body["nextMarker"] = json!(next);
    }
    Json(body)
}

/// `maxResults`/`nextToken` of a list operation.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageQuery {
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl From<PageQuery> for Page {
    fn from(q: PageQuery) -> Page {
        Page { max_results: q.max_results, next_token: q.next_token }
    }
}

/// A list body: `items` under `key`, and `nextToken` when there is more.
pub(crate) fn listing(key: &str, items: impl serde::Serialize, next: Option<String>) -> Json<Value> {
    Json(with_next_token(json!({ key: items }), next))
}
