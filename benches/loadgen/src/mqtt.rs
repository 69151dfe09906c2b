//! A lean MQTT 3.1.1 client on raw tokio sockets: rumqttc's `mqttbytes::v4` codec frames and
//! parses packets; PUBLISH and PUBACK, the hot-path packets, are encoded by hand into batches.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::{BufMut, BytesMut};
use rumqttc::mqttbytes::v4::SubscribeReasonCode;
use rumqttc::mqttbytes::v4::{Connect, Subscribe};
use rumqttc::mqttbytes::v4::{ConnectReturnCode, Packet};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Largest packet we accept from a broker.
pub const MAX_PACKET: usize = 1 << 20;
/// Bytes in every benchmark payload.
pub const PAYLOAD_LEN: usize = 100;
/// How long any single handshake step (connect, CONNACK, SUBACK) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// A connected client: socket halves plus whatever bytes were read past the last packet.
pub struct Conn {
    pub rd: OwnedReadHalf,
    pub wr: OwnedWriteHalf,
    pub buf: BytesMut,
}

pub fn qos_of(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// TCP connect + CONNECT/CONNACK (clean session).
pub async fn connect(addr: SocketAddr, client_id: &str, keep_alive: u16) -> Result<Conn> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("TCP connect timed out")?
        .with_context(|| format!("TCP connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (rd, mut wr) = stream.into_split();
    let mut connect = Connect::new(client_id);
    connect.keep_alive = keep_alive;
    connect.clean_session = true;
    let mut out = BytesMut::with_capacity(64 + client_id.len());
    Packet::Connect(connect).write(&mut out, MAX_PACKET)?;
    wr.write_all(&out).await?;
    let mut conn = Conn { rd, wr, buf: BytesMut::with_capacity(4096) };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.read_packet()).await.context("CONNACK timed out")?? {
        Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => Ok(conn),
        Packet::ConnAck(ack) => bail!("connect refused: {:?}", ack.code),
        other => bail!("expected CONNACK, got {other:?}"),
    }
}

impl Conn {
    /// Reads one whole packet (more bytes from the socket as needed).
    pub async fn read_packet(&mut self) -> Result<Packet> {
        loop {
            match Packet::read(&mut self.buf, MAX_PACKET) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {
                    if self.buf.capacity() - self.buf.len() < 1024 {
                        self.buf.reserve(8192);
                    }
                    let n = self.rd.read_buf(&mut self.buf).await?;
                    if n == 0 {
                        bail!("connection closed by broker");
                    }
                }
                Err(e) => bail!("malformed packet from broker: {e}"),
            }
        }
    }

    /// SUBSCRIBE to one filter and wait for its SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS, pkid: u16) -> Result<()> {
        let mut sub = Subscribe::new(filter, qos);
        sub.pkid = pkid;
        let mut out = BytesMut::with_capacity(64 + filter.len());
        Packet::Subscribe(sub).write(&mut out, MAX_PACKET)?;
        self.wr.write_all(&out).await?;
        let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            let p =
                tokio::time::timeout_at(deadline, self.read_packet()).await.context("SUBACK timed out")??;
            if let Packet::SubAck(ack) = p {
                if ack.pkid != pkid {
                    continue;
                }
                if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                    bail!("subscription to {filter} refused");
                }
                return Ok(());
            }
        }
    }
}

/// Appends one PUBLISH (no retain, no dup) to `out`.
pub fn put_publish(out: &mut BytesMut, topic: &[u8], qos: u8, pkid: u16, payload: &[u8]) {
    let mut remaining = 2 + topic.len() + payload.len();
    if qos > 0 {
        remaining += 2;
    }
    out.reserve(remaining + 5);
    out.put_u8(0x30 | (qos << 1));
    let mut len = remaining;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if len == 0 {
            break;
        }
    }
    out.put_u16(topic.len() as u16);
    out.put_slice(topic);
    if qos > 0 {
        out.put_u16(pkid);
    }
    out.put_slice(payload);
}

/// Appends one PUBACK to `out`.
pub fn put_puback(out: &mut BytesMut, pkid: u16) {
    out.put_slice(&[0x40, 0x02, (pkid >> 8) as u8, pkid as u8]);
}

/// Next non-zero packet id.
pub fn next_pkid(p: &mut u16) -> u16 {
    *p = if *p == u16::MAX { 1 } else { *p + 1 };
    *p
}

/// The benchmark payload: flow id (u32 BE), sequence (u64 BE), send time in ns since the
/// process's clock base (u64 BE), then filler up to PAYLOAD_LEN bytes.
pub fn fill_payload(p: &mut [u8; PAYLOAD_LEN], flow: u32, seq: u64, ts_ns: u64) {
    p[0..4].copy_from_slice(&flow.to_be_bytes());
    p[4..12].copy_from_slice(&seq.to_be_bytes());
    p[12..20].copy_from_slice(&ts_ns.to_be_bytes());
}

pub fn new_payload() -> [u8; PAYLOAD_LEN] {
    let mut p = [b'x'; PAYLOAD_LEN];
    fill_payload(&mut p, 0, 0, 0);
    p
}

/// (flow, seq, ts_ns) from a payload; None if it is not one of ours.
pub fn parse_payload(p: &[u8]) -> Option<(u32, u64, u64)> {
    if p.len() < 20 {
        return None;
    }
    let flow = u32::from_be_bytes(p[0..4].try_into().ok()?);
    let seq = u64::from_be_bytes(p[4..12].try_into().ok()?);
    let ts = u64::from_be_bytes(p[12..20].try_into().ok()?);
    Some((flow, seq, ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_encoded_publish_parses_with_codec() {
        let mut payload = new_payload();
        fill_payload(&mut payload, 7, 42, 123_456);
        for qos in [0u8, 1] {
            let mut b = BytesMut::new();
            put_publish(&mut b, b"bench/pair/17", qos, 9, &payload);
            put_puback(&mut b, 513);
            match Packet::read(&mut b, MAX_PACKET).unwrap() {
                Packet::Publish(p) => {
                    assert_eq!(p.topic, "bench/pair/17");
                    assert_eq!(p.qos as u8, qos);
                    if qos == 1 {
                        assert_eq!(p.pkid, 9);
                    }
                    assert_eq!(parse_payload(&p.payload), Some((7, 42, 123_456)));
                    assert_eq!(p.payload.len(), PAYLOAD_LEN);
                }
                other => panic!("{other:?}"),
            }
            match Packet::read(&mut b, MAX_PACKET).unwrap() {
                Packet::PubAck(a) => assert_eq!(a.pkid, 513),
                other => panic!("{other:?}"),
            }
            assert!(b.is_empty());
        }
    }

    #[test]
    fn long_remaining_length() {
        let big = vec![b'y'; 300];
        let mut b = BytesMut::new();
        put_publish(&mut b, b"t", 1, 1, &big);
        match Packet::read(&mut b, MAX_PACKET).unwrap() {
            Packet::Publish(p) => assert_eq!(p.payload.len(), 300),
            other => panic!("{other:?}"),
        }
    }
}
