//! A byte-level MQTT client: packets from rumqttc's `mqttbytes` over a plain TCP stream, so a
//! test knows its local port and can send anything, valid or not.

use bytes::BytesMut;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why no packet came.
#[derive(Debug, PartialEq, Eq)]
pub enum RawEnd {
    /// The server closed the connection.
    Closed,
    /// Nothing arrived in time.
    Timeout,
}

/// One raw MQTT connection.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    /// This client's address, as the broker sees it (`sourceIp`/`sourcePort`).
    pub local: SocketAddr,
}

impl RawClient {
    /// Opens a TCP connection and sends nothing.
    pub async fn tcp(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let local = stream.local_addr().expect("local addr");
        RawClient { stream, buf: BytesMut::new(), local }
    }

    /// Connects with MQTT 3.1.1 and returns the CONNACK.
    pub async fn connect_v4(
        addr: SocketAddr,
        client_id: &str,
        keep_alive: u16,
        clean: bool,
    ) -> (RawClient, v4::ConnAck) {
        let mut client = RawClient::tcp(addr).await;
        let mut connect = v4::Connect::new(client_id);
        connect.keep_alive = keep_alive;
        connect.clean_session = clean;
        client.send_v4(v4::Packet::Connect(connect)).await;
        match client.recv_v4(Duration::from_secs(5)).await {
            Ok(v4::Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with MQTT 5 and returns the CONNACK.
    pub async fn connect_v5(addr: SocketAddr, client_id: &str, keep_alive: u16) -> (RawClient, v5::ConnAck) {
        let mut client = RawClient::tcp(addr).await;
        let connect =
            v5::Connect { keep_alive, client_id: client_id.into(), clean_start: true, properties: None };
        client.send_v5(v5::Packet::Connect(connect, None, None)).await;
        match client.recv_v5(Duration::from_secs(5)).await {
            Ok(v5::Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Writes raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Closes the write side (the server sees end of stream).
    pub async fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    pub async fn send_v4(&mut self, packet: v4::Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).expect("encode");
        self.send_bytes(&out).await;
    }

    pub async fn send_v5(&mut self, packet: v5::Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, None).expect("encode");
        self.send_bytes(&out).await;
    }

    /// The next MQTT 3.1.1 packet.
    pub async fn recv_v4(&mut self, timeout: Duration) -> Result<v4::Packet, RawEnd> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match v4::Packet::read(&mut self.buf, 1 << 20) {
                Ok(packet) => return Ok(packet),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("bad packet from server: {e}"),
            }
            self.fill(deadline).await?;
        }
    }

    /// The next MQTT 5 packet.
    pub async fn recv_v5(&mut self, timeout: Duration) -> Result<v5::Packet, RawEnd> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match v5::Packet::read(&mut self.buf, Some(1 << 20)) {
                Ok(packet) => return Ok(packet),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("bad packet from server: {e}"),
            }
            self.fill(deadline).await?;
        }
    }

    async fn fill(&mut self, deadline: tokio::time::Instant) -> Result<(), RawEnd> {
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(RawEnd::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => Err(RawEnd::Closed),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Whether the server closes the connection within `timeout` (packets before that are
    /// returned as raw bytes so a test can assert none of a kind came).
    pub async fn closed_within(&mut self, timeout: Duration) -> (bool, Vec<u8>) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.fill(deadline).await {
                Ok(()) => continue,
                Err(RawEnd::Closed) => return (true, self.buf.to_vec()),
                Err(RawEnd::Timeout) => return (false, self.buf.to_vec()),
            }
        }
    }
}
