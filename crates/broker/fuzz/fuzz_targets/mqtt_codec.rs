//! Any bytes, read as a connection's stream: the CONNECT (3.1.1 or 5) that picks the codec, then
//! every packet after it, in chunks of the size the first byte gives (as reads split a stream).
//! Each decoded packet goes through what the broker does with it next (topic and filter checks)
//! and the codec encodes answers to it. Nothing may panic, overflow the stack or hang.
#![no_main]

use bytes::BytesMut;
use iotemu_broker::codec::{decode_connect, ConnAckCode, Incoming, Outgoing};
use iotemu_broker::topic::{parse_filter, validate_topic_name};
use iotemu_broker::Limits;
use libfuzzer_sys::fuzz_target;

/// The broker's largest packet with the default limits (payload limit + room for properties).
const MAX_PACKET: usize = 128 * 1024 + 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk.max(1));
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut chunks = stream.chunks(chunk);
    let (mut codec, connect) = loop {
        match decode_connect(&mut buf, MAX_PACKET) {
            Ok(Some(first)) => break first,
            Ok(None) => match chunks.next() {
                Some(c) => buf.extend_from_slice(c),
                None => return,
            },
            Err(_) => return,
        }
    };
    if let Some(will) = &connect.will {
        let _ = validate_topic_name(will.topic.as_bytes(), &limits);
    }
    let mut out = BytesMut::new();
    codec.encode(
        Outgoing::ConnAck {
            session_present: connect.clean_start,
            code: ConnAckCode::Success,
            session_expiry: connect.session_expiry,
            server_keep_alive: Some(connect.keep_alive),
            topic_alias_max: 8,
            receive_max: 100,
            max_packet_size: MAX_PACKET as u32,
            assigned_client_id: Some(connect.client_id.clone()),
        },
        &mut out,
    );
    loop {
        let packet = match codec.decode(&mut buf) {
            Ok(Some(packet)) => packet,
            Ok(None) => match chunks.next() {
                Some(c) => {
                    buf.extend_from_slice(c);
                    continue;
                }
                None => return,
            },
            Err(_) => return,
        };
        match packet {
            Incoming::Publish(p) => {
                if let Ok(topic) = validate_topic_name(&p.topic, &limits) {
                    let _ = iotemu_core::client_may_publish(topic).map_err(|e| e.to_string());
                }
                codec.encode(Outgoing::PubAck { pkid: p.pkid, reason: 0x90 }, &mut out);
                codec.encode(Outgoing::Publish(p), &mut out);
            }
            Incoming::Subscribe { pkid, filters } => {
                let mut codes = Vec::new();
                for f in &filters {
                    if let Ok(parsed) = parse_filter(&f.filter, &limits) {
                        let _ = parsed.is_exact();
                        let _ = iotemu_core::client_may_subscribe(parsed.filter).map_err(|e| e.to_string());
                    }
                    codes.push(f.qos);
                }
                codec.encode(Outgoing::SubAck { pkid, codes }, &mut out);
            }
            Incoming::Unsubscribe { pkid, filters } => {
                let codes = filters.iter().map(|f| u8::from(parse_filter(f, &limits).is_err())).collect();
                codec.encode(Outgoing::UnsubAck { pkid, codes }, &mut out);
            }
            Incoming::PingReq => codec.encode(Outgoing::PingResp, &mut out),
            Incoming::Disconnect { reason, .. } => codec.encode(Outgoing::Disconnect { reason }, &mut out),
            Incoming::Connect | Incoming::PubAck(_) | Incoming::Unsupported(_) => {}
        }
        if out.len() > 1 << 20 {
            out.clear();
        }
    }
});
