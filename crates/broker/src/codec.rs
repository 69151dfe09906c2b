//! The wire: MQTT 3.1.1 and 5 packets, parsed and written by `rumqttc`'s `mqttbytes` modules,
//! behind our own [`MqttCodec`] trait and protocol-neutral packet types. The rest of the broker
//! never sees a `rumqttc` type.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::{self as m4base, v4};
use rumqttc::v5::mqttbytes::{self as m5base, v5};

/// The MQTT protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    V311,
    V5,
}

pub use iotemu_core::MessageProperties;

/// A CONNECT packet.
#[derive(Debug, Clone)]
pub struct ConnectPacket {
    pub version: MqttVersion,
    pub client_id: String,
    pub keep_alive: u16,
    /// MQTT 3.1.1 `cleanSession`, MQTT 5 `cleanStart`.
    pub clean_start: bool,
    pub will: Option<WillPacket>,
    /// MQTT 5 Session Expiry Interval (seconds).
    pub session_expiry: Option<u32>,
    /// MQTT 5 Receive Maximum: unacknowledged QoS 1 PUBLISHes the client accepts.
    pub receive_maximum: Option<u16>,
    /// MQTT 5 Maximum Packet Size: the largest packet the client accepts, in bytes.
    pub max_packet_size: Option<u32>,
    /// The CONNECT's user name and password (read by custom authorizers).
    pub login: Option<(String, String)>,
}

/// The last will of a CONNECT.
#[derive(Debug, Clone)]
pub struct WillPacket {
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 Will Delay Interval (seconds).
    pub delay: u32,
    pub properties: Option<MessageProperties>,
}

/// A PUBLISH packet, in either direction.
#[derive(Debug, Clone)]
pub struct PublishPacket {
    /// Raw topic bytes: checked for UTF-8 by the broker, empty when an MQTT 5 alias stands in.
    pub topic: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub pkid: u16,
    pub payload: Bytes,
    pub properties: Option<MessageProperties>,
    pub topic_alias: Option<u16>,
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Debug, Clone)]
pub struct SubscribeFilter {
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    /// MQTT 5 Retain Handling: 0 send at subscribe, 1 only if new, 2 never.
    pub retain_handling: u8,
}

/// A packet from a client, after CONNECT.
#[derive(Debug, Clone)]
pub enum Incoming {
    Connect,
    Publish(PublishPacket),
    PubAck(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<SubscribeFilter>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect {
        reason: u8,
        session_expiry: Option<u32>,
    },
    /// A packet AWS IoT does not support from clients (PUBREC, PUBREL, PUBCOMP, AUTH) or that
    /// only a server sends.
    Unsupported(&'static str),
}

/// The outcome of a CONNECT, mapped to each version's CONNACK code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAckCode {
    Success,
    ClientIdNotValid,
    NotAuthorized,
    QosNotSupported,
    TopicNameInvalid,
}

/// A packet to a client.
#[derive(Debug, Clone)]
pub enum Outgoing {
    ConnAck {
        session_present: bool,
        code: ConnAckCode,
        /// MQTT 5: the session expiry the server applied, when it differs from the request.
        session_expiry: Option<u32>,
        /// MQTT 5: the keep alive the server applied, when it differs from the request.
        server_keep_alive: Option<u16>,
        topic_alias_max: u16,
        receive_max: u16,
        max_packet_size: u32,
        /// MQTT 5: the client id the server assigned to an empty one.
        assigned_client_id: Option<String>,
    },
    Publish(PublishPacket),
    PubAck {
        pkid: u16,
        reason: u8,
    },
    SubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    UnsubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    PingResp,
    /// MQTT 5 only; dropped on 3.1.1 where the server has no DISCONNECT.
    Disconnect {
        reason: u8,
    },
}

/// Why bytes could not become a packet.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("packet of {0} bytes exceeds the maximum packet size")]
    TooLarge(usize),
    #[error("malformed packet: {0}")]
    Malformed(String),
    #[error("the first packet is not CONNECT")]
    NotConnect,
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocol(u8),
}

/// Decodes a connection's packets and encodes the server's answers, for one MQTT version.
pub trait MqttCodec: Send {
    fn version(&self) -> MqttVersion;
    /// Takes one packet off the front of `buf`; `Ok(None)` when more bytes are needed.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, CodecError>;
    fn encode(&self, packet: Outgoing, out: &mut BytesMut);
}

/// The codec a connection's CONNECT selected, and that CONNECT.
pub type FirstPacket = (Box<dyn MqttCodec>, ConnectPacket);

/// Reads the first packet, which must be a CONNECT, and picks the codec for its protocol level.
/// `Ok(None)` when more bytes are needed.
pub fn decode_connect(buf: &mut BytesMut, max_packet: usize) -> Result<Option<FirstPacket>, CodecError> {
    // Refuse anything but a CONNECT (type 1, flags 0) from its first byte, before waiting for more.
    match buf.first() {
        None => return Ok(None),
        Some(0x10) => {}
        Some(_) => return Err(CodecError::NotConnect),
    }
    let Some((header_len, remaining)) = frame(buf, max_packet)? else {
        return Ok(None);
    };
    // Variable header: protocol name (2-byte length + "MQTT"), then the protocol level.
    let name_len = match buf.get(header_len..header_len + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
        None => return Err(CodecError::Malformed("truncated CONNECT".into())),
    };
    let level = *buf
        .get(header_len + 2 + name_len)
        .filter(|_| header_len + 3 + name_len <= header_len + remaining)
        .ok_or_else(|| CodecError::Malformed("truncated CONNECT".into()))?;
    match level {
        4 => {
            let packet = v4::Packet::read(buf, max_packet).map_err(from_v4)?;
            let v4::Packet::Connect(c) = packet else {
                return Err(CodecError::NotConnect);
            };
            let will = c.last_will.map(|w| WillPacket {
                topic: w.topic,
                payload: w.message,
                qos: w.qos as u8,
                retain: w.retain,
                delay: 0,
                properties: None,
            });
            let connect = ConnectPacket {
                version: MqttVersion::V311,
                client_id: c.client_id,
                keep_alive: c.keep_alive,
                clean_start: c.clean_session,
                will,
                session_expiry: None,
                receive_maximum: None,
                max_packet_size: None,
                login: c.login.map(|l| (l.username, l.password)),
            };
            Ok(Some((Box::new(V4Codec { max_packet }), connect)))
        }
        5 => {
            let packet = v5::Packet::read(buf, Some(max_packet as u32)).map_err(from_v5)?;
            let v5::Packet::Connect(c, will, login) = packet else {
                return Err(CodecError::NotConnect);
            };
            let will = match will {
                Some(w) => Some(WillPacket {
                    topic: String::from_utf8(w.topic.to_vec())
                        .map_err(|_| CodecError::Malformed("will topic is not UTF-8".into()))?,
                    payload: w.message,
                    qos: w.qos as u8,
                    retain: w.retain,
                    delay: w.properties.as_ref().and_then(|p| p.delay_interval).unwrap_or(0),
                    properties: w.properties.map(|p| MessageProperties {
                        payload_format_indicator: p.payload_format_indicator,
                        message_expiry_interval: p.message_expiry_interval,
                        response_topic: p.response_topic,
                        correlation_data: p.correlation_data,
                        user_properties: p.user_properties,
                        content_type: p.content_type,
                    }),
                }),
                None => None,
            };
            let properties = c.properties.as_ref();
            let receive_maximum = properties.and_then(|p| p.receive_maximum);
            let max_packet_size = properties.and_then(|p| p.max_packet_size);
            // "It is a Protocol Error to include [either] ... or for it to have the value 0."
            if receive_maximum == Some(0) || max_packet_size == Some(0) {
                return Err(CodecError::Malformed("Receive Maximum or Maximum Packet Size of 0".into()));
            }
            let connect = ConnectPacket {
                version: MqttVersion::V5,
                client_id: c.client_id,
                keep_alive: c.keep_alive,
                clean_start: c.clean_start,
                will,
                session_expiry: properties.and_then(|p| p.session_expiry_interval),
                receive_maximum,
                max_packet_size,
                login: login.map(|l| (l.username, l.password)),
            };
            Ok(Some((Box::new(V5Codec { max_packet }), connect)))
        }
        other => Err(CodecError::UnsupportedProtocol(other)),
    }
}

/// The fixed header of the packet at the front of `buf`: (header length, remaining length), or
/// `None` when the packet is not complete yet.
fn frame(buf: &BytesMut, max_packet: usize) -> Result<Option<(usize, usize)>, CodecError> {
    let mut remaining: usize = 0;
    for i in 1..5 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        remaining += ((byte & 0x7f) as usize) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            if remaining > max_packet {
                return Err(CodecError::TooLarge(remaining));
            }
            return Ok((buf.len() >= 1 + i + remaining).then_some((1 + i, remaining)));
        }
    }
    Err(CodecError::Malformed("remaining length longer than 4 bytes".into()))
}

fn from_v4(e: m4base::Error) -> CodecError {
    match e {
        m4base::Error::PayloadSizeLimitExceeded(n) => CodecError::TooLarge(n),
        other => CodecError::Malformed(other.to_string()),
    }
}

fn from_v5(e: m5base::Error) -> CodecError {
    match e {
        m5base::Error::PayloadSizeLimitExceeded { pkt_size, .. } => CodecError::TooLarge(pkt_size),
        other => CodecError::Malformed(other.to_string()),
    }
}

fn qos5(q: u8) -> m5base::QoS {
    if q == 0 {
        m5base::QoS::AtMostOnce
    } else {
        m5base::QoS::AtLeastOnce
    }
}

/// MQTT 3.1.1.
struct V4Codec {
    max_packet: usize,
}

impl MqttCodec for V4Codec {
    fn version(&self) -> MqttVersion {
        MqttVersion::V311
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, CodecError> {
        if frame(buf, self.max_packet)?.is_none() {
            return Ok(None);
        }
        let packet = v4::Packet::read(buf, self.max_packet).map_err(from_v4)?;
        Ok(Some(match packet {
            v4::Packet::Connect(_) => Incoming::Connect,
            v4::Packet::Publish(p) => Incoming::Publish(PublishPacket {
                topic: Bytes::from(p.topic.into_bytes()),
                qos: p.qos as u8,
                retain: p.retain,
                dup: p.dup,
                pkid: p.pkid,
                payload: p.payload,
                properties: None,
                topic_alias: None,
            }),
            v4::Packet::PubAck(a) => Incoming::PubAck(a.pkid),
            v4::Packet::Subscribe(s) => Incoming::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| SubscribeFilter {
                        filter: f.path,
                        qos: f.qos as u8,
                        no_local: false,
                        retain_as_published: false,
                        retain_handling: 0,
                    })
                    .collect(),
            },
            v4::Packet::Unsubscribe(u) => Incoming::Unsubscribe { pkid: u.pkid, filters: u.topics },
            v4::Packet::PingReq => Incoming::PingReq,
            v4::Packet::Disconnect => Incoming::Disconnect { reason: 0, session_expiry: None },
            v4::Packet::PubRec(_) => Incoming::Unsupported("PUBREC"),
            v4::Packet::PubRel(_) => Incoming::Unsupported("PUBREL"),
            v4::Packet::PubComp(_) => Incoming::Unsupported("PUBCOMP"),
            v4::Packet::ConnAck(_)
            | v4::Packet::SubAck(_)
            | v4::Packet::UnsubAck(_)
            | v4::Packet::PingResp => Incoming::Unsupported("a server-to-client packet"),
        }))
    }

    fn encode(&self, packet: Outgoing, out: &mut BytesMut) {
        let packet = match packet {
            Outgoing::ConnAck { session_present, code, .. } => v4::Packet::ConnAck(v4::ConnAck {
                session_present,
                code: match code {
                    ConnAckCode::Success => v4::ConnectReturnCode::Success,
                    ConnAckCode::ClientIdNotValid => v4::ConnectReturnCode::BadClientId,
                    ConnAckCode::NotAuthorized
                    | ConnAckCode::QosNotSupported
                    | ConnAckCode::TopicNameInvalid => v4::ConnectReturnCode::NotAuthorized,
                },
            }),
            Outgoing::Publish(p) => return write_v4_publish(&p, out),
            Outgoing::PubAck { pkid, .. } => v4::Packet::PubAck(v4::PubAck { pkid }),
            Outgoing::SubAck { pkid, codes } => v4::Packet::SubAck(v4::SubAck {
                pkid,
                return_codes: codes
                    .into_iter()
                    .map(|c| match c {
                        0 => v4::SubscribeReasonCode::Success(m4base::QoS::AtMostOnce),
                        1 => v4::SubscribeReasonCode::Success(m4base::QoS::AtLeastOnce),
                        _ => v4::SubscribeReasonCode::Failure,
                    })
                    .collect(),
            }),
            Outgoing::UnsubAck { pkid, .. } => v4::Packet::UnsubAck(v4::UnsubAck { pkid }),
            Outgoing::PingResp => v4::Packet::PingResp,
            Outgoing::Disconnect { .. } => return,
        };
        if let Err(e) = packet.write(out, usize::MAX) {
            tracing::warn!(error = %e, "could not encode an MQTT 3.1.1 packet");
        }
    }
}

/// A 3.1.1 PUBLISH written straight from the packet's bytes (MQTT 3.1.1 §3.3): the topic is
/// already checked UTF-8, so it needs no `String` copy as `v4::Publish` would take per delivery.
fn write_v4_publish(p: &PublishPacket, out: &mut BytesMut) {
    use bytes::BufMut;
    let pkid_len = if p.qos > 0 { 2 } else { 0 };
    let remaining = 2 + p.topic.len() + pkid_len + p.payload.len();
    // What the format cannot carry (a topic over 65,535 bytes, a packet over 256 MB) is not
    // written, as rumqttc's writer refused it; the broker's own limits stop it long before.
    if p.topic.len() > usize::from(u16::MAX) || remaining > 268_435_455 {
        tracing::warn!(topic_bytes = p.topic.len(), remaining, "could not encode an MQTT 3.1.1 PUBLISH");
        return;
    }
    out.reserve(5 + remaining);
    out.put_u8(0x30 | u8::from(p.dup) << 3 | (p.qos & 0b11) << 1 | u8::from(p.retain));
    // Remaining Length (§2.2.3): 7 bits per byte, least significant first.
    let mut left = remaining;
    loop {
        let byte = (left % 128) as u8;
        left /= 128;
        if left == 0 {
            out.put_u8(byte);
            break;
        }
        out.put_u8(byte | 0x80);
    }
    out.put_u16(p.topic.len() as u16);
    out.extend_from_slice(&p.topic);
    if p.qos > 0 {
        out.put_u16(p.pkid);
    }
    out.extend_from_slice(&p.payload);
}

/// MQTT 5.
struct V5Codec {
    max_packet: usize,
}

impl MqttCodec for V5Codec {
    fn version(&self) -> MqttVersion {
        MqttVersion::V5
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, CodecError> {
        if frame(buf, self.max_packet)?.is_none() {
            return Ok(None);
        }
        // rumqttc refuses a DISCONNECT without reason code, which MQTT 5 allows (3.14.2.1).
        if buf[0] == 0xE0 && buf[1] == 0 {
            let _ = buf.split_to(2);
            return Ok(Some(Incoming::Disconnect { reason: 0, session_expiry: None }));
        }
        let packet = v5::Packet::read(buf, Some(self.max_packet as u32)).map_err(from_v5)?;
        Ok(Some(match packet {
            v5::Packet::Connect(..) => Incoming::Connect,
            v5::Packet::Publish(p) => {
                let topic_alias = p.properties.as_ref().and_then(|pr| pr.topic_alias);
                Incoming::Publish(PublishPacket {
                    topic: p.topic,
                    qos: p.qos as u8,
                    retain: p.retain,
                    dup: p.dup,
                    pkid: p.pkid,
                    payload: p.payload,
                    properties: p.properties.map(|pr| MessageProperties {
                        payload_format_indicator: pr.payload_format_indicator,
                        message_expiry_interval: pr.message_expiry_interval,
                        response_topic: pr.response_topic,
                        correlation_data: pr.correlation_data,
                        user_properties: pr.user_properties,
                        content_type: pr.content_type,
                    }),
                    topic_alias,
                })
            }
            v5::Packet::PubAck(a) => Incoming::PubAck(a.pkid),
            v5::Packet::Subscribe(s) => Incoming::Subscribe {
                pkid: s.pkid,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| SubscribeFilter {
                        filter: f.path,
                        qos: f.qos as u8,
                        no_local: f.nolocal,
                        retain_as_published: f.preserve_retain,
                        retain_handling: match f.retain_forward_rule {
                            v5::RetainForwardRule::OnEverySubscribe => 0,
                            v5::RetainForwardRule::OnNewSubscribe => 1,
                            v5::RetainForwardRule::Never => 2,
                        },
                    })
                    .collect(),
            },
            v5::Packet::Unsubscribe(u) => Incoming::Unsubscribe { pkid: u.pkid, filters: u.filters },
            v5::Packet::PingReq(_) => Incoming::PingReq,
            v5::Packet::Disconnect(d) => Incoming::Disconnect {
                reason: d.reason_code as u8,
                session_expiry: d.properties.and_then(|p| p.session_expiry_interval),
            },
            v5::Packet::PubRec(_) => Incoming::Unsupported("PUBREC"),
            v5::Packet::PubRel(_) => Incoming::Unsupported("PUBREL"),
            v5::Packet::PubComp(_) => Incoming::Unsupported("PUBCOMP"),
            v5::Packet::Auth(_) => Incoming::Unsupported("AUTH"),
            v5::Packet::ConnAck(_)
            | v5::Packet::SubAck(_)
            | v5::Packet::UnsubAck(_)
            | v5::Packet::PingResp(_) => Incoming::Unsupported("a server-to-client packet"),
        }))
    }

    fn encode(&self, packet: Outgoing, out: &mut BytesMut) {
        let packet = match packet {
            Outgoing::ConnAck {
                session_present,
                code,
                session_expiry,
                server_keep_alive,
                topic_alias_max,
                receive_max,
                max_packet_size,
                assigned_client_id,
            } => v5::Packet::ConnAck(v5::ConnAck {
                session_present,
                code: match code {
                    ConnAckCode::Success => v5::ConnectReturnCode::Success,
                    ConnAckCode::ClientIdNotValid => v5::ConnectReturnCode::ClientIdentifierNotValid,
                    ConnAckCode::NotAuthorized => v5::ConnectReturnCode::NotAuthorized,
                    ConnAckCode::QosNotSupported => v5::ConnectReturnCode::QoSNotSupported,
                    ConnAckCode::TopicNameInvalid => v5::ConnectReturnCode::TopicNameInvalid,
                },
                properties: Some(v5::ConnAckProperties {
                    session_expiry_interval: session_expiry,
                    receive_max: Some(receive_max),
                    // AWS IoT: "AWS IoT Core doesn't support QoS 2" (docs/aws-behaviour.md §1).
                    max_qos: Some(1),
                    retain_available: Some(1),
                    max_packet_size: Some(max_packet_size),
                    assigned_client_identifier: assigned_client_id,
                    topic_alias_max: Some(topic_alias_max),
                    reason_string: None,
                    user_properties: Vec::new(),
                    wildcard_subscription_available: Some(1),
                    subscription_identifiers_available: Some(0),
                    shared_subscription_available: Some(1),
                    server_keep_alive,
                    response_information: None,
                    server_reference: None,
                    authentication_method: None,
                    authentication_data: None,
                }),
            }),
            Outgoing::Publish(p) => v5::Packet::Publish(v5::Publish {
                dup: p.dup,
                qos: qos5(p.qos),
                retain: p.retain,
                topic: p.topic,
                pkid: p.pkid,
                payload: p.payload,
                properties: p.properties.map(|pr| v5::PublishProperties {
                    payload_format_indicator: pr.payload_format_indicator,
                    message_expiry_interval: pr.message_expiry_interval,
                    topic_alias: None,
                    response_topic: pr.response_topic,
                    correlation_data: pr.correlation_data,
                    user_properties: pr.user_properties,
                    subscription_identifiers: Vec::new(),
                    content_type: pr.content_type,
                }),
            }),
            Outgoing::PubAck { pkid, reason } => v5::Packet::PubAck(v5::PubAck {
                pkid,
                reason: match reason {
                    0x87 => v5::PubAckReason::NotAuthorized,
                    0x90 => v5::PubAckReason::TopicNameInvalid,
                    0x97 => v5::PubAckReason::QuotaExceeded,
                    _ => v5::PubAckReason::Success,
                },
                properties: None,
            }),
            Outgoing::SubAck { pkid, codes } => v5::Packet::SubAck(v5::SubAck {
                pkid,
                return_codes: codes
                    .into_iter()
                    .map(|c| match c {
                        0 => v5::SubscribeReasonCode::Success(m5base::QoS::AtMostOnce),
                        1 => v5::SubscribeReasonCode::Success(m5base::QoS::AtLeastOnce),
                        0x87 => v5::SubscribeReasonCode::NotAuthorized,
                        0x8F => v5::SubscribeReasonCode::TopicFilterInvalid,
                        0x97 => v5::SubscribeReasonCode::QuotaExceeded,
                        _ => v5::SubscribeReasonCode::Unspecified,
                    })
                    .collect(),
                properties: None,
            }),
            Outgoing::UnsubAck { pkid, codes } => v5::Packet::UnsubAck(v5::UnsubAck {
                pkid,
                reasons: codes
                    .into_iter()
                    .map(|c| match c {
                        0 => v5::UnsubAckReason::Success,
                        0x11 => v5::UnsubAckReason::NoSubscriptionExisted,
                        0x8F => v5::UnsubAckReason::TopicFilterInvalid,
                        _ => v5::UnsubAckReason::UnspecifiedError,
                    })
                    .collect(),
                properties: None,
            }),
            Outgoing::PingResp => v5::Packet::PingResp(v5::PingResp),
            Outgoing::Disconnect { reason } => {
                // Written by hand: rumqttc 0.25 writes a remaining length of 1 followed by two
                // bytes for a DISCONNECT with a reason code and no properties. Reason code plus
                // an empty property length is what every client parses.
                out.extend_from_slice(&[0xE0, 0x02, reason, 0x00]);
                return;
            }
        };
        if let Err(e) = packet.write(out, None) {
            tracing::warn!(error = %e, "could not encode an MQTT 5 packet");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_connect(client_id: &str) -> BytesMut {
        let mut buf = BytesMut::new();
        v4::Packet::Connect(v4::Connect::new(client_id)).write(&mut buf, usize::MAX).unwrap();
        buf
    }

    #[test]
    fn picks_the_codec_by_protocol_level() {
        let mut buf = v4_connect("dev-1");
        let (codec, connect) = decode_connect(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(codec.version(), MqttVersion::V311);
        assert_eq!(connect.client_id, "dev-1");
        assert!(buf.is_empty());

        let mut buf = BytesMut::new();
        let c =
            v5::Connect { keep_alive: 30, client_id: "dev-5".into(), clean_start: true, properties: None };
        v5::Packet::Connect(c, None, None).write(&mut buf, None).unwrap();
        let (codec, connect) = decode_connect(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(codec.version(), MqttVersion::V5);
        assert_eq!(connect.client_id, "dev-5");
    }

    #[test]
    fn waits_for_a_whole_packet_and_refuses_garbage() {
        let full = v4_connect("dev-1");
        let mut part = BytesMut::from(&full[..full.len() - 1]);
        assert!(decode_connect(&mut part, 1 << 20).unwrap().is_none());
        let mut garbage = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(decode_connect(&mut garbage, 1 << 20).is_err());
        let mut huge = BytesMut::from(&[0x10u8, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert!(decode_connect(&mut huge, 1 << 20).is_err());
    }

    #[test]
    fn v5_disconnect_with_a_reason_code_is_well_formed() {
        let mut out = BytesMut::new();
        V5Codec { max_packet: 1024 }.encode(Outgoing::Disconnect { reason: 0x8E }, &mut out);
        match v5::Packet::read(&mut out, None) {
            Ok(v5::Packet::Disconnect(d)) => {
                assert_eq!(d.reason_code, v5::DisconnectReasonCode::SessionTakenOver)
            }
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty(), "no stray bytes after the packet");
    }

    #[test]
    fn v4_publish_is_written_as_rumqttc_writes_it() {
        let topic = "dt/\u{e9}t\u{e9}/0";
        for (qos, dup, retain, size) in
            [(0, false, false, 0), (1, true, false, 20), (0, false, true, 200), (1, false, true, 20_000)]
        {
            let packet = PublishPacket {
                topic: Bytes::from_static(topic.as_bytes()),
                qos,
                retain,
                dup,
                pkid: 7,
                payload: Bytes::from(vec![b'x'; size]),
                properties: None,
                topic_alias: None,
            };
            let mut ours = BytesMut::new();
            V4Codec { max_packet: 1 << 20 }.encode(Outgoing::Publish(packet.clone()), &mut ours);
            let mut theirs = BytesMut::new();
            let publish = v4::Publish {
                dup,
                qos: if qos == 0 { m4base::QoS::AtMostOnce } else { m4base::QoS::AtLeastOnce },
                retain,
                topic: topic.into(),
                pkid: 7,
                payload: packet.payload.clone(),
            };
            v4::Packet::Publish(publish).write(&mut theirs, usize::MAX).unwrap();
            assert_eq!(ours, theirs, "qos {qos} dup {dup} retain {retain} payload {size}");
        }
        // A topic the two-byte length cannot hold is not written (a truncated length would
        // corrupt the stream).
        let long = PublishPacket {
            topic: Bytes::from(vec![b't'; 70_000]),
            qos: 0,
            retain: false,
            dup: false,
            pkid: 0,
            payload: Bytes::from_static(b"x"),
            properties: None,
            topic_alias: None,
        };
        let mut ours = BytesMut::new();
        V4Codec { max_packet: 1 << 20 }.encode(Outgoing::Publish(long), &mut ours);
        assert!(ours.is_empty());
    }

    #[test]
    fn v5_disconnect_without_reason_code_is_accepted() {
        let mut codec = V5Codec { max_packet: 1024 };
        let mut buf = BytesMut::from(&[0xE0u8, 0x00][..]);
        assert!(matches!(codec.decode(&mut buf), Ok(Some(Incoming::Disconnect { reason: 0, .. }))));
    }
}
