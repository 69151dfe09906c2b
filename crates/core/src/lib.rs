//! iotemu's shared vocabulary: who made a request ([`RequestContext`]), where a resource lives
//! ([`Scope`]), trace ids, the typed `$aws/...` reserved topics ([`ReservedTopic`]) and what
//! clients may do on them ([`client_may_publish`], [`client_may_subscribe`]), the [`Clock`], and
//! the traits through which the broker and the services meet without importing each other
//! ([`ReservedTopicHandler`], [`DeviceAuthenticator`], [`DeviceAuthorizer`], [`Publisher`],
//! [`Connections`], [`RetainedMessages`], [`RulesFeed`], [`ShadowReader`], [`LogGroupWriter`]).
//!
//! No internal dependencies. See `docs/architecture.md`, "Crates".

mod authz;
mod clock;
mod context;
mod custom_auth;
mod error;
mod events;
mod index_feed;
mod publish;
mod reserved;
mod reserved_access;
mod scope;
mod services;

/// The certificateId of a DER certificate: the lower-case hex SHA-256 of its bytes (botocore:
/// 64 hex characters), which is also the principalId of the device's log entries.
pub fn certificate_id(der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

pub use authz::{AllowAll, DeviceAuthorizer, IotAction};
pub use clock::{Clock, SystemClock};
pub use context::{ClientInfo, Protocol, RequestContext, TraceId};
pub use custom_auth::{
    CustomAuthGrant, CustomAuthRequest, CustomAuthResult, CustomAuthenticator, HttpRequestContext,
};
pub use error::{
    AcceptAll, AuthnFailure, DeviceAuthenticator, DeviceTrust, ServiceError, StaticTrust, TrustedCas,
};
pub use events::{EventConfigurationType, NoEvents, ResourceEvent, ResourceEvents};
pub use index_feed::{IndexChange, IndexFeed};
pub use publish::{
    ConnectedClient, Connections, MessageProperties, OutboundMessage, PublishRefused, Publisher,
    RetainedMessage, RetainedMessages, RoutedMessage, RulesFeed,
};
pub use reserved::{
    Disposition, PassThrough, ProvisioningOperation, ProvisioningTopic, ReservedTopic, ReservedTopicHandler,
};
pub use reserved_access::{
    client_may_publish, client_may_subscribe, ClientOperation, ReservedTopicAccess, ReservedTopicRefusal,
    RESERVED_TOPIC_ACCESS,
};
pub use scope::Scope;
pub use services::{LogGroupWriter, ServiceFailure, ShadowReader};
