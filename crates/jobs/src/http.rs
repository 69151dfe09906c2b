//! The Jobs routers: the control plane of the `iot` API ([`control_routes`]: jobs, job
//! executions and job templates, each area's routes in its own `http.rs`) and the device plane of
//! `iot-jobs-data` ([`data_routes`], in `device/http.rs`). Wire only.

use crate::Jobs;
use axum::Router;
use std::sync::Arc;

/// The `iot` routes of jobs, executions and job templates.
pub fn control_routes(jobs: Arc<Jobs>) -> Router {
    crate::jobs::http::routes(jobs.clone())
        .merge(crate::executions::http::routes(jobs.clone()))
        .merge(crate::templates::http::routes(jobs))
}

/// The `iot-jobs-data` routes.
pub fn data_routes(jobs: Arc<Jobs>) -> Router {
    crate::device::http::routes(jobs)
}
