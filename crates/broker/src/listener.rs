//! Accept loops for the plain and mutual-TLS MQTT ports. Each connection, TLS handshake
//! included, runs in its own task, so a slow or silent socket never holds up the others.

use crate::broker::Broker;
use crate::connection;
use crate::tls::certificate_id;
use iotemu_core::{AuthnFailure, TraceId};
use iotemu_logs::{ConnectionAuthNError, LogEntry, LogLevel};
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
        let enforced = broker.shared.config.enforce_on_plain;
        let auth = connection::Auth::Principal { principal, enforced };
        broker.shared.tasks.spawn(connection::run(tcp, peer, auth, None, broker.clone()));
    })
    .await;
}

/// Accepts MQTT over mutual TLS until shutdown; the principal is the client certificate's id.
pub async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, broker: Broker) {
    accept_loop(listener, &broker, |tcp, peer, broker| {
        let acceptor = acceptor.clone();
        let local = tcp.local_addr().unwrap_or(peer);
        let handshake_timeout = broker.shared.config.connect_timeout;
        let broker = broker.clone();
        broker.shared.tasks.clone().spawn(async move {
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    if let Some(failure) = handshake_failure(&e) {
                        log_authn_error(&broker, peer, local, None, &failure);
                    }
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let (_, session) = tls.get_ref();
            let sni = session.server_name().map(str::to_string);
            let Some(cert) = session.peer_certificates().and_then(|c| c.first()).cloned() else { return };
            let principal = certificate_id(&cert);
            if let Err(failure) = broker.shared.authenticator.authenticate(&principal, &cert) {
                log_authn_error(&broker, peer, local, sni, &failure);
                return;
            }
            let auth = connection::Auth::Principal { principal: principal.into(), enforced: true };
            connection::run(tls, peer, auth, None, broker).await;
        });
    })
    .await;
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    broker: &Broker,
    mut spawn: impl FnMut(TcpStream, std::net::SocketAddr, &Broker),
) {
    let shutdown = broker.shared.shutdown.clone();
    let inherited = nodelay_inherited(&listener);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    if !inherited {
                        let _ = tcp.set_nodelay(true);
                    }
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

/// Sets TCP_NODELAY on the listening socket; `true` when the accepted sockets inherit it (Linux
/// copies a listener's TCP options into each accepted socket), which spares a `setsockopt` per
/// connection; elsewhere every accepted socket gets it itself.
fn nodelay_inherited(listener: &TcpListener) -> bool {
    cfg!(target_os = "linux") && socket2::SockRef::from(listener).set_tcp_nodelay(true).is_ok()
}

/// Why a failed handshake failed on the client's certificate; `None` when it failed on something
/// else (say, a port scan).
///
/// A certificate out of its validity period is `NOT_AUTHENTICATED`: AWS's list of
/// Connection.AuthNError reasons (`docs/aws-behaviour.md` §3) has no code for expiry, and this is its
/// generic one.
pub(crate) fn handshake_failure(e: &std::io::Error) -> Option<AuthnFailure> {
    let error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
    if crate::tls::is_out_of_validity(error) {
        let details = match error {
            rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
                not_after, ..
            }) => {
                format!("The certificate expired at {} (epoch seconds, its notAfter)", not_after.as_secs())
            }
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYetContext {
                not_before,
                ..
            }) => format!(
                "The certificate is not valid before {} (epoch seconds, its notBefore)",
                not_before.as_secs()
            ),
            _ => "The certificate is outside its validity period".to_string(),
        };
        return Some(AuthnFailure { reason: "NOT_AUTHENTICATED", details });
    }
    matches!(error, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented).then(
        || AuthnFailure {
            reason: "DEVICE_CERTIFICATE_NOT_REGISTERED",
            details: "The certificate is not issued by the emulator's CA or a registered CA".into(),
        },
    )
}

/// Writes a `Connection.AuthNError` entry (always ERROR/Failure) of an X.509 client.
pub(crate) fn log_authn_error(
    broker: &Broker,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    sni: Option<String>,
    failure: &AuthnFailure,
) {
    log_authn_error_of(broker, "AWS_X509", peer, local, sni, failure);
}

/// Writes a `Connection.AuthNError` entry with its `authenticationType` (`AWS_X509`,
/// `CUSTOM_AUTH`, ...).
pub(crate) fn log_authn_error_of(
    broker: &Broker,
    authentication_type: &'static str,
    peer: std::net::SocketAddr,
    local: std::net::SocketAddr,
    sni: Option<String>,
    failure: &AuthnFailure,
) {
    let logs = &broker.shared.logs;
    if !logs.enabled(LogLevel::Error) {
        return;
    }
    let entry = ConnectionAuthNError {
        authentication_type,
        server_name_indication: sni,
        client_id: None,
        source_ip: peer.ip().to_canonical().to_string().into(),
        source_port: peer.port(),
        target_ip: local.ip().to_canonical().to_string().into(),
        target_port: local.port(),
    };
    let entry = LogEntry::ConnectionAuthNError(entry);
    logs.failure(TraceId::new(), entry, failure.reason, failure.details.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every MQTT socket has Nagle's algorithm off; on Linux the accepted socket gets it from the
    /// listener, with no call of its own.
    #[tokio::test]
    async fn accepted_sockets_inherit_nodelay_from_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inherited = nodelay_inherited(&listener);
        assert_eq!(inherited, cfg!(target_os = "linux"));
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        if inherited {
            assert!(accepted.nodelay().unwrap());
        }
        drop(client);
    }
}
