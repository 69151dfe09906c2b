//! The AWS IoT Device Shadow service core: classic and named shadows, transport-neutral, for
//! the MQTT (`$aws/things/.../shadow/...`) and HTTP (`iot-data`) layers to call.
//!
//! - `state.rs`: [`ShadowDocument`] and the pure functions: request checks, the field-by-field
//!   merge with per-field metadata, the delta, and every answer payload.
//! - `service.rs`: [`Shadows`], the operations, cached in memory and written through to the
//!   store before they return.
//! - `error.rs`: [`ShadowError`], AWS's codes and messages and the REST exception names.
//!
//! AWS pages followed: device-shadow-document.md, device-shadow-data-flow.md,
//! device-shadow-mqtt.md, device-shadow-rest-api.md, device-shadow-error-messages.md, and
//! `aws-behaviour.md` §6 where they leave points open.
//!
//! Limitations: a deleted shadow keeps its version forever (AWS: 48 hours); objects emptied by
//! `null`s are kept as `{}`; the 429 of more than 10 in-flight requests is counted by the wire
//! layer (only [`ShadowError::too_many_requests`] is here).

mod error;
mod service;
mod state;

pub use error::ShadowError;
pub use service::Shadows;
pub use state::{
    apply_update, check_shadow_name, check_thing_name, client_token_of, delete_answer, document_bytes,
    get_document, parse_request, rejected, Limits, ShadowDocument, UpdateOutcome, MAX_CLIENT_TOKEN_BYTES,
};
