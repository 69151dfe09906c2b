//! The console's demo device: `POST /_iotemu/demo/<action>` performs a real action through the
//! emulator's own listeners, so that the entries it causes are written exactly as a device's
//! would be. Everything it makes is named `iotemu-demo...` (a reset removes it all):
//!
//! - `publish`: client `iotemu-demo-device` connects on the plain port, subscribes to
//!   `iotemu-demo/#` and publishes to `iotemu-demo/hello` (Connect, Subscribe, Publish-In and
//!   Publish-Out under one traceId, Disconnect).
//! - `shadow`: the same client updates the reported state of thing `iotemu-demo-thing` (made
//!   in the registry if missing) on
//!   `$aws/things/iotemu-demo-thing/shadow/update` (Publish-In, UpdateThingShadow, the answers'
//!   Publish-Out).
//! - `denied`: a new ACTIVE certificate with the policy `iotemu-demo-connect-only` (iot:Connect
//!   only) connects on the TLS port and publishes to `iotemu-demo/denied`: the policy refuses
//!   it (a Publish-In Failure, AUTHORIZATION_FAILURE) and the connection is closed.
//! - `basic-ingest`: publishes to `$aws/rules/iotemu-demo-missing-rule/x`, a Basic Ingest topic
//!   of a rule that does not exist.
//!
//! The device speaks MQTT 3.1.1 itself (a few packets, written by hand), over TCP or TLS.

use super::super::http::AdminState;
use iotemu_core::{ReservedTopic, Scope};
use iotemu_shadow::mqtt::{Operation, ShadowRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const CLIENT_ID: &str = "iotemu-demo-device";
pub const THING: &str = "iotemu-demo-thing";
const POLICY: &str = "iotemu-demo-connect-only";
const WAIT: Duration = Duration::from_secs(5);

/// Runs `action`; what it did, for the page.
pub async fn run(state: Arc<AdminState>, action: &str) -> Result<serde_json::Value, String> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let topic = match action {
        "publish" => {
            let mut c = Client::connect_plain(&state).await?;
            c.subscribe("iotemu-demo/#").await?;
            c.publish("iotemu-demo/hello", br#"{"hello":"from the iotemu console"}"#).await?;
            // The PUBACK and the delivery of the message to the subscription.
            c.wait_all(&[4, 3]).await?;
            c.disconnect().await?;
            "iotemu-demo/hello".to_string()
        }
        "shadow" => {
            // The thing is registered too, so that the console's state view lists it.
            let scope = Scope { account: state.account_id.clone(), region: state.region.clone() };
            let registry = state.registry.clone();
            tokio::task::spawn_blocking(move || {
                registry.create_thing(&scope, THING, None, Default::default())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let request = ShadowRequest { thing: THING, name: None, operation: Operation::Update };
            let topic = request.topic();
            let mut c = Client::connect_plain(&state).await?;
            c.subscribe(&request.answer_topic("accepted")).await?;
            c.publish(&topic, br#"{"state":{"reported":{"temperature":21,"demo":true}}}"#).await?;
            c.wait_all(&[4, 3]).await?;
            c.disconnect().await?;
            topic
        }
        "basic-ingest" => {
            let topic = ReservedTopic::basic_ingest_topic("iotemu-demo-missing-rule", "x");
            let mut c = Client::connect_plain(&state).await?;
            c.publish(&topic, br#"{"demo":true}"#).await?;
            c.wait_all(&[4]).await?;
            c.disconnect().await?;
            topic
        }
        "denied" => {
            let topic = "iotemu-demo/denied".to_string();
            let mut c = connect_denied_device(&state).await?;
            c.publish_qos0(&topic, br#"{"demo":true}"#).await?;
            // AWS closes a 3.1.1 connection whose PUBLISH a policy denies.
            let _ = tokio::time::timeout(WAIT, c.read_packet()).await;
            topic
        }
        other => return Err(format!("no demo action {other:?}: publish, shadow, denied or basic-ingest")),
    };
    Ok(serde_json::json!({ "action": action, "clientId": CLIENT_ID, "topic": topic, "startedAt": started }))
}

/// A certificate allowed to connect and nothing else, attached to a fresh ACTIVE certificate.
async fn connect_denied_device(
    state: &AdminState,
) -> Result<Client<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>, String> {
    let scope = Scope { account: state.account_id.clone(), region: state.region.clone() };
    let registry = state.registry.clone();
    let (cert_pem, key_pem) = tokio::task::spawn_blocking(move || -> Result<(String, String), String> {
        let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
        // An existing demo policy (from an earlier press) is fine.
        let _ = registry.create_policy(&scope, POLICY, document);
        let new = registry.create_keys_and_certificate(&scope, true).map_err(|e| e.to_string())?;
        registry.attach_policy(&scope, POLICY, &new.certificate.arn).map_err(|e| e.to_string())?;
        Ok((new.certificate.pem, new.private_key_pem))
    })
    .await
    .map_err(|e| e.to_string())??;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(state.ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(state.mqtts_addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Client::handshake(tls).await
}

/// A minimal MQTT 3.1.1 client.
struct Client<S> {
    stream: S,
    next_id: u16,
}

impl Client<tokio::net::TcpStream> {
    async fn connect_plain(state: &AdminState) -> Result<Self, String> {
        let tcp = tokio::net::TcpStream::connect(state.mqtt_addr).await.map_err(|e| e.to_string())?;
        Client::handshake(tcp).await
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn handshake(stream: S) -> Result<Self, String> {
        let mut c = Client { stream, next_id: 1 };
        let mut body = Vec::new();
        string(&mut body, "MQTT");
        body.extend_from_slice(&[4, 0x02, 0, 60]);
        string(&mut body, CLIENT_ID);
        c.send(0x10, &body).await?;
        let (kind, ack) = c.read_packet().await?;
        if kind >> 4 != 2 || ack.get(1) != Some(&0) {
            return Err(format!("the CONNECT was refused (CONNACK {ack:?})"));
        }
        Ok(c)
    }

    async fn send(&mut self, header: u8, body: &[u8]) -> Result<(), String> {
        let mut packet = vec![header];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            packet.push(byte);
            if len == 0 {
                break;
            }
        }
        packet.extend_from_slice(body);
        self.stream.write_all(&packet).await.map_err(|e| e.to_string())?;
        self.stream.flush().await.map_err(|e| e.to_string())
    }

    /// The next packet: its first byte and its body (within [`WAIT`]).
    async fn read_packet(&mut self) -> Result<(u8, Vec<u8>), String> {
        let read = async {
            let kind = self.stream.read_u8().await?;
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = self.stream.read_u8().await?;
                len |= ((b & 0x7f) as usize) << shift;
                shift += 7;
                if b & 0x80 == 0 || shift > 21 {
                    break;
                }
            }
            let mut body = vec![0; len];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>((kind, body))
        };
        match tokio::time::timeout(WAIT, read).await {
            Ok(r) => r.map_err(|e| format!("the connection ended: {e}")),
            Err(_) => Err("no answer from the broker within 5 s".into()),
        }
    }

    /// Reads until a packet of `kind` (the high nibble) arrives.
    async fn wait_for(&mut self, kind: u8) -> Result<Vec<u8>, String> {
        loop {
            let (k, body) = self.read_packet().await?;
            if k >> 4 == kind {
                return Ok(body);
            }
        }
    }

    fn id(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    async fn subscribe(&mut self, filter: &str) -> Result<(), String> {
        let id = self.id();
        let mut body = id.to_be_bytes().to_vec();
        string(&mut body, filter);
        body.push(0);
        self.send(0x82, &body).await?;
        self.wait_for(9).await.map(|_| ())
    }

    async fn publish(&mut self, topic: &str, payload: &[u8]) -> Result<(), String> {
        let id = self.id();
        let mut body = Vec::new();
        string(&mut body, topic);
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        self.send(0x32, &body).await
    }

    async fn publish_qos0(&mut self, topic: &str, payload: &[u8]) -> Result<(), String> {
        let mut body = Vec::new();
        string(&mut body, topic);
        body.extend_from_slice(payload);
        self.send(0x30, &body).await
    }

    /// Reads until a packet of each of `kinds` has arrived (in any order).
    async fn wait_all(&mut self, kinds: &[u8]) -> Result<(), String> {
        let mut missing = kinds.to_vec();
        while !missing.is_empty() {
            let (k, _) = self.read_packet().await?;
            missing.retain(|m| *m != k >> 4);
        }
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), String> {
        self.send(0xe0, &[]).await?;
        let _ = self.stream.shutdown().await;
        Ok(())
    }
}
