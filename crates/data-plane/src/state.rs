//! The data plane's rules (pure): which topics an HTTP publish may use, which client ids
//! DeleteConnection takes, and the addresses DescribeEndpoint gives.

use crate::DataPlaneError;
use std::net::SocketAddr;

/// The client id AWS has no value for over HTTPS.
pub const HTTP_CLIENT_ID: &str = "n/a";

/// Publish's rule for reserved topics once clients may publish there
/// (`iotemu_core::client_may_publish`): no retained message on a `$` topic (AWS does not retain on
/// reserved topics, `docs/aws-behaviour.md` §8).
pub fn check_publish_topic(topic: &str, retain: bool) -> Result<(), DataPlaneError> {
    if retain && topic.starts_with('$') {
        return Err(DataPlaneError::InvalidRequest(
            "retained messages are not allowed on reserved topics".into(),
        ));
    }
    Ok(())
}

/// DeleteConnection's `clientId`: 1 to 128 characters, not starting with `$`.
pub fn check_client_id(client_id: &str) -> Result<(), DataPlaneError> {
    if client_id.is_empty() || client_id.len() > 128 || client_id.starts_with('$') {
        return Err(DataPlaneError::InvalidRequest(
            "clientId must be 1 to 128 characters and must not start with $".into(),
        ));
    }
    Ok(())
}

/// Where the emulator listens, for DescribeEndpoint: the MQTTS listener (`iot:Data`,
/// `iot:Data-ATS`) and the API port (`iot:CredentialProvider`, `iot:Jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub mqtts: SocketAddr,
    pub api: SocketAddr,
}

/// The host name of `addr`, as AWS's DescribeEndpoint answers a host name only (never
/// `host:port`; devices reach it on 8883 or 443): `localhost` on a loopback or unspecified bind
/// (a name the server certificate holds), else the bind address. The ports are in the README
/// and `iotemu print-config`.
pub fn endpoint_address(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    }
}
