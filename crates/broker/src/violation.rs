//! Protocol violations: what a client did wrong, the MQTT 5 reason code the broker answers with,
//! and the `reason`/`details` of the Failure entries that record it.
//!
//! AWS documents no `reason` codes for these cases (`docs/aws-behaviour.md` §2-3 has only
//! AUTHORIZATION_FAILURE and DUPLICATE_CLIENT_ID); the upper-case codes below are ours, chosen in
//! the same style, and each connection they end logs `disconnectReason` CLIENT_ERROR.

use crate::codec::CodecError;
use crate::topic::TopicError;
use iotemu_core::{ClientOperation, ReservedTopicRefusal};
use std::borrow::Cow;

/// The `details` AWS writes with AUTHORIZATION_FAILURE (`docs/aws-behaviour.md` §2).
pub const AUTHORIZATION_FAILURE_DETAILS: &str = "Authorization Failure";

/// A client's protocol violation.
#[derive(Debug, Clone)]
pub enum Violation {
    Malformed(String),
    Protocol(Cow<'static, str>),
    /// AWS IoT supports QoS 0 and 1 only (`mqtt.md`).
    QosNotSupported,
    TopicInvalid(TopicError),
    TopicFilterInvalid(TopicError),
    PacketTooLarge(usize),
    PayloadTooLarge(usize),
    TooManyFilters(usize),
    TooManySubscriptions(usize),
    TopicAliasInvalid(u16),
    /// An IoT policy denies the action (`docs/aws-behaviour.md` §2).
    NotAuthorized,
    /// A publish or subscribe that `reserved-topics.md` does not allow clients (a forged shadow
    /// answer, say): [`iotemu_core::client_may_publish`].
    ReservedTopic(ReservedTopicRefusal),
}

impl Violation {
    /// The Failure entry's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Violation::Malformed(_) => "MALFORMED_PACKET",
            Violation::Protocol(_) => "PROTOCOL_ERROR",
            Violation::QosNotSupported => "QOS_NOT_SUPPORTED",
            Violation::TopicInvalid(_) => "INVALID_TOPIC",
            Violation::TopicFilterInvalid(_) => "INVALID_TOPIC_FILTER",
            Violation::PacketTooLarge(_) | Violation::PayloadTooLarge(_) => "PAYLOAD_LIMIT_EXCEEDED",
            Violation::TooManyFilters(_) | Violation::TooManySubscriptions(_) => {
                "SUBSCRIPTION_LIMIT_EXCEEDED"
            }
            Violation::TopicAliasInvalid(_) => "INVALID_TOPIC_ALIAS",
            Violation::NotAuthorized => "AUTHORIZATION_FAILURE",
            Violation::ReservedTopic(_) => ReservedTopicRefusal::REASON,
        }
    }

    /// The Failure entry's `details`.
    pub fn details(&self) -> String {
        match self {
            Violation::Malformed(m) => format!("Malformed packet: {m}"),
            Violation::Protocol(m) => format!("Protocol error: {m}"),
            Violation::QosNotSupported => "QoS 2 is not supported; AWS IoT supports QoS 0 and 1".into(),
            Violation::TopicInvalid(e) => format!("Invalid topic name: {e}"),
            Violation::TopicFilterInvalid(e) => format!("Invalid topic filter: {e}"),
            Violation::PacketTooLarge(n) => format!("Packet of {n} bytes exceeds the maximum packet size"),
            Violation::PayloadTooLarge(n) => format!("Payload of {n} bytes exceeds the limit"),
            Violation::TooManyFilters(n) => format!("{n} topic filters in one SUBSCRIBE exceed the limit"),
            Violation::TooManySubscriptions(n) => {
                format!("{n} subscriptions on one connection exceed the limit")
            }
            Violation::TopicAliasInvalid(a) => format!("Topic alias {a} is not valid"),
            Violation::NotAuthorized => AUTHORIZATION_FAILURE_DETAILS.into(),
            Violation::ReservedTopic(refusal) => refusal.to_string(),
        }
    }

    /// The MQTT 5 reason code (of the DISCONNECT, or of the PUBACK or SUBACK that refuses a
    /// reserved topic: 0x90 "the topic name is not malformed, but is not accepted", 0x8F "the
    /// topic filter is correctly formed but is not allowed", new mqtt.md's reason-code tables).
    pub fn v5_code(&self) -> u8 {
        match self {
            Violation::Malformed(_) => 0x81,
            Violation::Protocol(_) => 0x82,
            Violation::QosNotSupported => 0x9B,
            Violation::TopicInvalid(_) => 0x90,
            Violation::TopicFilterInvalid(_) => 0x8F,
            Violation::PacketTooLarge(_) | Violation::PayloadTooLarge(_) => 0x95,
            Violation::TooManyFilters(_) | Violation::TooManySubscriptions(_) => 0x97,
            Violation::TopicAliasInvalid(_) => 0x94,
            Violation::NotAuthorized => 0x87,
            Violation::ReservedTopic(r) if r.operation == ClientOperation::Subscribe => 0x8F,
            Violation::ReservedTopic(_) => 0x90,
        }
    }
}

impl From<CodecError> for Violation {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::TooLarge(n) => Violation::PacketTooLarge(n),
            CodecError::Malformed(m) => Violation::Malformed(m),
            CodecError::NotConnect => Violation::Protocol("the first packet is not CONNECT".into()),
            CodecError::UnsupportedProtocol(l) => {
                Violation::Protocol(format!("unsupported protocol level {l}").into())
            }
        }
    }
}
