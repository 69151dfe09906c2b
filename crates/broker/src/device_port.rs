//! The device port: AWS IoT's port 443 (iotemu's 8443 unless configured), one TLS port that
//! serves by ALPN as `protocols.md` describes: `x-amzn-mqtt-ca` is MQTT with an X.509 client
//! certificate (as on 8883), `http/1.1` is HTTPS (publish, shadows, MQTT over WebSockets), and
//! `mqtt` is MQTT with a custom authorizer. A client that names no protocol is served by what it
//! sends first: an MQTT CONNECT (first byte 0x10) is MQTT with its certificate, anything else
//! HTTP.
//!
//! The broker runs MQTT here itself; HTTP connections are handed, TLS done, to whoever serves
//! HTTP (the `iotemu` binary's device routes) as [`HttpsConnection`]s.

use crate::broker::Broker;
use crate::connection::{self, Auth, CustomAuthContext, Lifetime};
use crate::listener::{accept_loop, handshake_failure, log_authn_error};
use crate::tls::{certificate_id, ALPN_HTTP, ALPN_MQTT_CUSTOM_AUTH, ALPN_MQTT_X509};
use iotemu_core::AuthnFailure;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The stream of a device-port connection: TLS, with the bytes read to choose the protocol put
/// back in front.
pub type DeviceStream = Prefixed<TlsStream<TcpStream>>;

/// An HTTPS connection of the device port, TLS done.
pub struct HttpsConnection {
    pub stream: DeviceStream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The id of the client's certificate, when it presented one and it is ACTIVE.
    pub certificate_id: Option<Arc<str>>,
    /// The TLS SNI.
    pub sni: Option<String>,
}

/// Accepts device-port connections until shutdown; HTTP ones go to `https`.
pub async fn serve_device_port(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    broker: Broker,
    https: mpsc::Sender<HttpsConnection>,
) {
    accept_loop(listener, &broker, |tcp, peer, broker| {
        let (acceptor, https, broker) = (acceptor.clone(), https.clone(), broker.clone());
        broker.shared.tasks.clone().spawn(serve_one(tcp, peer, acceptor, https, broker));
    })
    .await;
}

/// What a device-port client speaks.
enum Speaks {
    MqttX509,
    MqttCustomAuth,
    Http,
}

async fn serve_one(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    https: mpsc::Sender<HttpsConnection>,
    broker: Broker,
) {
    let local = tcp.local_addr().unwrap_or(peer);
    let timeout = broker.shared.config.connect_timeout;
    let mut tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed on the device port");
            if let Some(failure) = handshake_failure(&e) {
                log_authn_error(&broker, peer, local, None, &failure);
            }
            return;
        }
        Err(_) => return,
    };
    let (_, session) = tls.get_ref();
    let sni = session.server_name().map(str::to_string);
    let cert = session.peer_certificates().and_then(|c| c.first()).cloned();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let mut prefix = Vec::new();
    let speaks = match alpn.as_deref() {
        Some(p) if p == ALPN_MQTT_X509 => Speaks::MqttX509,
        Some(p) if p == ALPN_MQTT_CUSTOM_AUTH => Speaks::MqttCustomAuth,
        Some(p) if p == ALPN_HTTP => Speaks::Http,
        _ => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeout, tls.read(&mut first)).await {
                Ok(Ok(1)) => prefix.push(first[0]),
                _ => return,
            }
            if first[0] == 0x10 {
                Speaks::MqttX509
            } else {
                Speaks::Http
            }
        }
    };
    let stream = Prefixed { prefix, at: 0, inner: tls };
    // A certificate, when presented, must be registered and ACTIVE whatever the protocol.
    let certificate_id = match &cert {
        Some(cert) => {
            let id = certificate_id(cert);
            if let Err(failure) = broker.shared.authenticator.authenticate(&id, cert) {
                log_authn_error(&broker, peer, local, sni, &failure);
                return;
            }
            Some(Arc::<str>::from(id))
        }
        None => None,
    };
    match speaks {
        Speaks::MqttX509 => {
            let Some(principal) = certificate_id else {
                let failure = AuthnFailure {
                    reason: "DEVICE_CERTIFICATE_NOT_REGISTERED",
                    details: "No client certificate was presented for ALPN x-amzn-mqtt-ca".into(),
                };
                log_authn_error(&broker, peer, local, sni, &failure);
                return;
            };
            connection::run(stream, peer, Auth::Principal { principal, enforced: true }, None, broker).await;
        }
        Speaks::MqttCustomAuth => {
            // The authorizer named in the CONNECT's user name (or the default one) decides.
            let auth = Auth::Custom(CustomAuthContext { sni, local, http: None });
            connection::run(stream, peer, auth, None, broker).await;
        }
        Speaks::Http => {
            let _ = https.send(HttpsConnection { stream, peer, local, certificate_id, sni }).await;
        }
    }
}

impl Broker {
    /// Serves an MQTT connection that arrived some other way (MQTT over WebSockets), in the
    /// broker's task set: `auth` who the client is (or that a custom authorizer decides),
    /// `lifetime` when it is cut.
    pub fn spawn_connection<S>(&self, stream: S, peer: SocketAddr, auth: Auth, lifetime: Option<Lifetime>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let run = connection::run(stream, peer, auth, lifetime, self.clone());
        self.shared.tasks.spawn(run);
    }
}

/// A stream with bytes already read from it put back in front.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = (this.prefix.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_prefixed_stream_reads_its_prefix_first() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"llo").await.unwrap();
        drop(a);
        let mut p = Prefixed { prefix: b"he".to_vec(), at: 0, inner: b };
        let mut all = String::new();
        p.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello");
    }
}
