//! The AWS IoT Device Shadow service core: classic and named shadows, transport-neutral, for
//! the MQTT (`$aws/things/.../shadow/...`) and HTTP (`iot-data`) layers to call.
//!
//! - `state.rs`: [`ShadowDocument`] and the pure functions: request checks, the field-by-field
//!   merge with per-field metadata, the delta, and every answer payload.
//! - `store.rs`: [`Shadows`], the shadows' operations on the documents, cached in memory and
//!   written through to the store before they return.
//! - `service.rs`: [`ShadowRequests`], one request from either transport: the operation, its
//!   answers published through the broker, and the GetThingShadow, UpdateThingShadow and
//!   DeleteThingShadow entries.
//! - `error.rs`: [`ShadowError`], AWS's codes and messages and the REST exception names.
//! - [`mqtt`]: the reserved request topics and their answer topics (wire only; the
//!   reserved-topic router hands them over).
//! - [`http`]: the `iot-data` shadow routes (wire only).
//!
//! AWS pages followed: device-shadow-document.md, device-shadow-data-flow.md,
//! device-shadow-mqtt.md, device-shadow-rest-api.md, device-shadow-error-messages.md, and
//! `docs/aws-behaviour.md` §6 where they leave points open.
//!
//! Choices where the pages are silent (unconfirmed against AWS): a request `version` is compared
//! with 0 when no shadow exists; `/update/documents` has `"previous": null` for a new shadow;
//! GET's `metadata` carries `delta` as in the "Delta state" example; arrays' metadata has one
//! entry per element; an array holding `null` is rejected with 400 "Invalid JSON"; arrays add
//! no nesting level; invalid names answer 400 "Invalid thing name" / "Invalid shadow name";
//! 429's message is "Too Many Requests"; ListNamedShadowsForThing's default page is 100.
//!
//! Limitations: a deleted shadow keeps its version forever (AWS: 48 hours); the 429 of more
//! than 10 in-flight requests is counted by the wire layer (only
//! [`ShadowError::too_many_requests`] is here); numbers compare as JSON values (`1` differs
//! from `1.0` in the delta).

mod error;
pub mod http;
pub mod mqtt;
mod service;
mod state;
mod store;

pub use error::ShadowError;
pub use service::{Rejection, ShadowRequests};
pub use state::{
    apply_update, check_shadow_name, check_thing_name, client_token_of, delete_answer, document_bytes,
    get_document, parse_request, rejected, Limits, ShadowDocument, UpdateOutcome, MAX_CLIENT_TOKEN_BYTES,
};
pub use store::Shadows;
