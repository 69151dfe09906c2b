//! IoT policies: versions, attachments and their evaluation for the broker (`service.rs`), the
//! routes (`http.rs`, wire only). The policy language itself is `policy_document.rs`.

pub(crate) mod http;
mod service;

pub(crate) use service::{load, PolicyCache, TargetCache, ISSUED_DEVICE};
pub use service::{record_issued_device, Policy, PolicyVersion, RegistryAuthorizer, ALLOW_ALL_POLICY};
