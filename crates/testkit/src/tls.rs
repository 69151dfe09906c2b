//! rustls client configurations for mutual TLS against the emulator.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// A client trusting `ca` and presenting `cert`/`key` (PEM files).
pub fn client_config(ca: &Path, cert: &Path, key: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(ca.expect("parse CA")).expect("add CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("read cert")
        .collect::<Result<_, _>>()
        .expect("parse cert");
    let key = PrivateKeyDer::from_pem_file(key).expect("read key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client cert");
    Arc::new(config)
}

/// Connects a rumqttc (MQTT 3.1.1) client over mutual TLS as `device` to `localhost:port` and
/// waits (up to `timeout`) for its CONNACK. The event loop must keep being polled afterwards.
pub async fn connect_rumqttc(
    port: u16,
    client_id: &str,
    device: &crate::Device,
    timeout: std::time::Duration,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop, rumqttc::mqttbytes::v4::ConnAck) {
    let config = client_config(&device.ca, &device.cert, &device.key);
    let mut opts = rumqttc::MqttOptions::new(client_id, "localhost", port);
    opts.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config)));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 10);
    let connack = tokio::time::timeout(timeout, async {
        loop {
            let event = eventloop.poll().await.expect("the TLS connection");
            if let rumqttc::Event::Incoming(rumqttc::mqttbytes::v4::Packet::ConnAck(ack)) = event {
                return ack;
            }
        }
    })
    .await
    .expect("CONNACK over mutual TLS");
    (client, eventloop, connack)
}
