//! The `iot-data` operations that are not shadows: Publish, GetRetainedMessage,
//! ListRetainedMessages and DeleteConnection.

mod http;

pub use http::{http_client, routes, DataPlane, Peer, HTTP_CLIENT_ID};
