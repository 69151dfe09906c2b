//! Connecting through a custom authorizer (`custom-authentication.md`): ALPN `mqtt` on the
//! device port, and MQTT over WebSockets authenticated neither by SigV4 nor by a certificate.
//! At CONNECT the user name, password, client id, SNI and (for a WebSocket) the upgrade's headers
//! and query go to the [`CustomAuthenticator`]; a refusal is CONNACK "not authorized" (0x05 on
//! 3.1.1, 0x87 on MQTT 5) and a Connection.AuthNError entry (`authenticationType` CUSTOM_AUTH).
//! A grant gives the connection its principal and IoT policies; `disconnectAfterInSeconds` cuts
//! it (CUSTOMAUTH_TTL_EXPIRATION) and `refreshAfterInSeconds` asks the authorizer again, whose
//! new policies then apply (a refusal then ends the connection with AUTH_ERROR).

use crate::broker::Broker;
use crate::codec::ConnectPacket;
use iotemu_core::{
    AuthnFailure, ClientInfo, CustomAuthRequest, DeviceAuthorizer, HttpRequestContext, IotAction, TraceId,
};
use iotemu_logs::{ConnectionAuthNError, LogEntry, LogLevel};
use parking_lot::RwLock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How a connection authenticates.
pub enum Auth {
    /// Known before CONNECT: a certificate id, an access key, `anonymous`; `enforced`: whether
    /// the principal's IoT policies apply.
    Principal { principal: Arc<str>, enforced: bool },
    /// A custom authorizer decides at CONNECT.
    Custom(CustomAuthContext),
}

/// What a custom-authenticated connection presented before CONNECT.
#[derive(Debug, Clone)]
pub struct CustomAuthContext {
    pub sni: Option<String>,
    /// The address the client connected to (the entries' `targetIp`/`targetPort`).
    pub local: SocketAddr,
    /// The WebSocket upgrade request, for MQTT over WebSockets.
    pub http: Option<HttpRequestContext>,
}

/// The IoT policies an authorizer returned, replaced when it is asked again.
pub(crate) struct ConnectionPolicies(RwLock<Arc<dyn DeviceAuthorizer>>);

impl ConnectionPolicies {
    pub(crate) fn authorize(&self, client: &ClientInfo, action: IotAction, resource: &str) -> bool {
        self.0.read().authorize(client, action, resource)
    }

    pub(crate) fn current(&self) -> Arc<dyn DeviceAuthorizer> {
        self.0.read().clone()
    }
}

/// A connection the authorizer let in.
pub(crate) struct Granted {
    pub principal: Arc<str>,
    pub policies: Arc<ConnectionPolicies>,
    pub disconnect_after: Option<Duration>,
    /// Re-asks the authorizer; aborted when dropped.
    pub refresher: Option<Refresher>,
}

/// The task re-invoking the authorizer every `refreshAfterInSeconds`; `failed` fires with the
/// reason when the authorizer no longer allows the connection.
pub(crate) struct Refresher {
    task: tokio::task::JoinHandle<()>,
    pub failed: oneshot::Receiver<&'static str>,
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asks the authorizer about `connect`; `None` (after the Connection.AuthNError entry) when it
/// refuses: the caller answers CONNACK "not authorized".
pub(crate) async fn authenticate(
    broker: &Broker,
    context: &CustomAuthContext,
    connect: &ConnectPacket,
    peer: SocketAddr,
) -> Option<Granted> {
    let request = CustomAuthRequest {
        username: connect.login.as_ref().map(|(u, _)| u.clone()),
        password: connect.login.as_ref().map(|(_, p)| p.clone().into_bytes()),
        client_id: connect.client_id.clone(),
        server_name: context.sni.clone(),
        http: context.http.clone(),
    };
    let answer = match broker.shared.custom_auth.get() {
        Some(authenticator) => authenticator.authenticate(&request).await,
        None => Err(AuthnFailure {
            reason: "CUSTOM_AUTHORIZER_NOT_FOUND",
            details: "No custom authorizers are served".into(),
        }),
    };
    let grant = match answer {
        Ok(grant) => grant,
        Err(failure) => {
            log_refusal(broker, context, peer, &connect.client_id, &failure);
            return None;
        }
    };
    let policies = Arc::new(ConnectionPolicies(RwLock::new(grant.policies)));
    let refresher = grant.refresh_after.map(|every| {
        let (tell, failed) = oneshot::channel();
        let task = tokio::spawn(refresh(broker.clone(), request, policies.clone(), every, tell));
        Refresher { task, failed }
    });
    Some(Granted {
        principal: grant.principal_id,
        policies,
        disconnect_after: grant.disconnect_after,
        refresher,
    })
}

/// Re-invokes the authorizer every `every` (its latest `refreshAfterInSeconds`) and applies the
/// policies it returns.
async fn refresh(
    broker: Broker,
    request: CustomAuthRequest,
    policies: Arc<ConnectionPolicies>,
    mut every: Duration,
    failed: oneshot::Sender<&'static str>,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(authenticator) = broker.shared.custom_auth.get() else { return };
        match authenticator.authenticate(&request).await {
            Ok(grant) => {
                *policies.0.write() = grant.policies;
                if let Some(next) = grant.refresh_after {
                    every = next;
                }
            }
            Err(failure) => {
                let _ = failed.send(failure.reason);
                return;
            }
        }
    }
}

/// The Connection.AuthNError entry of a refused client.
fn log_refusal(
    broker: &Broker,
    context: &CustomAuthContext,
    peer: SocketAddr,
    client_id: &str,
    failure: &AuthnFailure,
) {
    let logs = &broker.shared.logs;
    if !logs.enabled(LogLevel::Error) {
        return;
    }
    let entry = ConnectionAuthNError {
        authentication_type: "CUSTOM_AUTH",
        server_name_indication: context.sni.clone(),
        client_id: (!client_id.is_empty()).then(|| client_id.into()),
        source_ip: peer.ip().to_canonical().to_string().into(),
        source_port: peer.port(),
        target_ip: context.local.ip().to_canonical().to_string().into(),
        target_port: context.local.port(),
    };
    logs.failure(
        TraceId::new(),
        LogEntry::ConnectionAuthNError(entry),
        failure.reason,
        failure.details.clone(),
    );
}
