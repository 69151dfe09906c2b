//! `POST /_iotemu/seed`: applies a seed (TOML, or JSON when it starts with `{`) to the running
//! emulator, as `--seed` does at start. Relative paths (a certificate's `out`) start at the data
//! directory. The answer counts what was done and gives each certificate's ARN and id, and the
//! PEM certificate and private key of those written to a folder, for a CI job that runs in
//! another container than the emulator; a bad entry is a 400 InvalidRequestException naming it.

use super::Seed;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use iotemu_api::ApiError;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

struct SeedTarget {
    /// The API port's router, which the seed's requests go through.
    api: Router,
    account: String,
    region: String,
    data_dir: PathBuf,
}

/// The route, over `api` (the router of every other route).
pub fn routes(api: Router, account: String, region: String, data_dir: PathBuf) -> Router {
    let target = Arc::new(SeedTarget { api, account, region, data_dir });
    Router::new().route("/_iotemu/seed", post(apply_seed)).with_state(target)
}

async fn apply_seed(State(target): State<Arc<SeedTarget>>, body: String) -> Result<Json<Value>, ApiError> {
    let is_json = body.trim_start().starts_with('{');
    let seed = Seed::parse(&body, is_json, "seed", target.data_dir.clone())
        .map_err(|e| ApiError::invalid_request(e.0))?;
    let applied = seed
        .apply(&target.api, &target.account, &target.region)
        .await
        .map_err(|e| ApiError::invalid_request(e.0))?;
    Ok(Json(json!({
        "applied": applied.created,
        "alreadyThere": applied.existing,
        "certificates": applied.certificates,
    })))
}
