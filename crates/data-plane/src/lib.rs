//! The `iot-data` (SigV4 service `iotdata`) operations that are not shadows: Publish,
//! GetRetainedMessage, ListRetainedMessages and DeleteConnection. Shapes, paths and errors follow
//! botocore's `iot-data` 2015-05-28 model; behaviour follows `http.md`, `mqtt.md` and
//! `docs/aws-behaviour.md` §8 (retained messages) and §9 (DeleteConnection).
//!
//! The broker is reached only through the `iotemu_core` seams (`Publisher`, `Connections`,
//! `RetainedMessages`). DescribeEndpoint (`iot`) is here too: it names this data plane's
//! endpoints (`iot:Data-ATS`, and the API port for `iot:Jobs` and `iot:CredentialProvider`).
//!
//! - `state.rs`: the topic and client id rules, [`Endpoints`] (pure).
//! - `service.rs`: [`DataPlane`], the operations; Publish writes the Publish-In entry.
//! - `error.rs`: [`DataPlaneError`], AWS's exception names and statuses.
//! - `http.rs`: the `iotdata` routes ([`routes`]) and DescribeEndpoint's ([`endpoint_routes`]),
//!   wire only.
//!
//! Choices where AWS is not documented:
//! - An HTTP publish's Publish-In entry has `protocol` HTTP, `clientId` `n/a` (HTTPS has no
//!   client id, `http.md`; the rules SQL `clientid()` answers `n/a` for non-MQTT messages),
//!   `principalId` the caller's access key id (the emulator has no IAM principal ids), and the
//!   HTTP peer's address.
//! - Publish answers `{"message":"OK","traceId":...}` as AWS's HTTPS publish endpoint does.
//! - A reserved topic that clients may not publish to (`iotemu_core::client_may_publish`:
//!   `reserved-topics.md`'s Subscribe-only topics such as `/update/delta` and `$aws/events/...`,
//!   `$` topics outside the page, and topics no iotemu service answers) is refused with
//!   UnauthorizedException (401), the one denial botocore's `iot-data` model lists for Publish,
//!   and a Publish-In Failure entry (reason FORBIDDEN_RESERVED_TOPIC); a retained publish to a
//!   `$` topic is an InvalidRequestException (AWS does not retain on reserved topics,
//!   `docs/aws-behaviour.md` §8).
//! - ListRetainedMessages lists in topic order; its nextToken is opaque (the last topic,
//!   base64); maxResults defaults to 200, its maximum.
//! - The MQTT 5 DISCONNECT that DeleteConnection sends carries 0x98 (Administrative action).
//!
//! Limitations: GetRetainedMessage/ListRetainedMessage/DeleteConnection log entries are not
//! written (AWS's fields are unconfirmed); IAM policies are not evaluated.

mod error;
mod http;
mod service;
mod state;

pub use error::DataPlaneError;
pub use http::{endpoint_routes, http_client, publish_request, published, routes, Params, Peer};
pub use service::{DataPlane, PublishRequest};
pub use state::{Endpoints, HTTP_CLIENT_ID};
