//! Accept loops for the plain and mutual-TLS MQTT ports. Each connection, TLS handshake
//! included, runs in its own task, so a slow or silent socket never holds up the others.

use crate::broker::Broker;
use crate::connection;
use crate::tls::certificate_id;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The principal of clients on the plain port.
const ANONYMOUS: &str = "anonymous";

/// Accepts plain MQTT connections until shutdown.
pub async fn serve_plain(listener: TcpListener, broker: Broker) {
    let anonymous: Arc<str> = ANONYMOUS.into();
    accept_loop(listener, &broker, |tcp, peer, broker| {
        let principal = anonymous.clone();
        broker.shared.tasks.spawn(connection::run(tcp, peer, principal, broker.clone()));
    })
    .await;
}

/// Accepts MQTT over mutual TLS until shutdown; the principal is the client certificate's id.
pub async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, broker: Broker) {
    accept_loop(listener, &broker, |tcp, peer, broker| {
        let acceptor = acceptor.clone();
        let handshake_timeout = broker.shared.config.connect_timeout;
        let broker = broker.clone();
        broker.shared.tasks.clone().spawn(async move {
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let principal = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                Some(cert) => certificate_id(cert),
                None => return,
            };
            connection::run(tls, peer, principal.into(), broker).await;
        });
    })
    .await;
}

async fn accept_loop(
    listener: TcpListener,
    broker: &Broker,
    mut spawn: impl FnMut(TcpStream, std::net::SocketAddr, &Broker),
) {
    let shutdown = broker.shared.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    spawn(tcp, peer, broker);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}
