//! Just-in-time provisioning and registration, on a device's first TLS connection with a
//! certificate that an ACTIVE registered CA with `autoRegistrationStatus` ENABLE signed and the
//! registry does not know yet.
//!
//! - JITP (`jit-provisioning.md`): the CA's `registrationConfig` has a template (`templateBody`,
//!   or `templateName` of a JITP template): the certificate is registered PENDING_ACTIVATION, the
//!   template is evaluated with the certificate's subject (`AWS::IoT::Certificate::CommonName`,
//!   `Country`, `Organization`, `OrganizationalUnit`, `DistinguishedNameQualifier`, `StateName`,
//!   `SerialNumber`) and `AWS::IoT::Certificate::Id`, and applied (thing, policy, ACTIVE); a
//!   ProvisionDevice entry says how it went. As on AWS, that first connection is still refused
//!   (the certificate was not ACTIVE when it arrived): the device connects again. A provisioning
//!   that fails is rolled back, the registration too, so the next attempt starts over.
//! - JITR (`auto-register-device-cert.md`): no template: the certificate is registered
//!   PENDING_ACTIVATION and `$aws/events/certificates/registered/<caCertificateId>` is
//!   published, again whenever the device presents it while it is PENDING_ACTIVATION; the
//!   connection is refused until someone activates it.
//!
//! [`JitAuthenticator`] wraps the registry's authenticator: every other certificate is the
//! registry's to decide.
//!
//! Choices where AWS is silent: the refusal's `Connection.AuthNError` reason is
//! DEVICE_CERTIFICATE_INACTIVE; JITP uses a `templateName` template whether or not it is
//! enabled (the guide's JITP example creates it without `--enabled`); the event's `timestamp` and
//! `certificateRegistrationTimestamp` are epoch milliseconds (a number and a string, as the
//! guide's structure writes them); the JITP entry's `provisioningTemplateName` is empty for an
//! inline `templateBody`, and its traceId a new one (no message caused it).

use crate::error::Rejection;
use crate::register::{self, Ownership, Provisioned};
use crate::template::{Inputs, Template};
use crate::Provisioning;
use iotemu_core::Scope;
use iotemu_core::{
    AuthnFailure, ClientInfo, DeviceAuthenticator, DeviceTrust, OutboundMessage, Protocol, TraceId,
    TrustedCas,
};
use iotemu_registry::{CaCertificate, RegistryAuthenticator};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use x509_parser::prelude::FromDer;

/// The subject fields JITP gives a template, by pseudo-parameter.
const SUBJECT_FIELDS: [(&str, &str); 7] = [
    ("AWS::IoT::Certificate::Country", "2.5.4.6"),
    ("AWS::IoT::Certificate::Organization", "2.5.4.10"),
    ("AWS::IoT::Certificate::OrganizationalUnit", "2.5.4.11"),
    ("AWS::IoT::Certificate::DistinguishedNameQualifier", "2.5.4.46"),
    ("AWS::IoT::Certificate::StateName", "2.5.4.8"),
    ("AWS::IoT::Certificate::CommonName", "2.5.4.3"),
    ("AWS::IoT::Certificate::SerialNumber", "2.5.4.5"),
];

/// JITP's pseudo-parameters of a certificate: its subject fields (those it has) and its id.
pub fn certificate_parameters(id: &str, der: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([(crate::device::CERTIFICATE_ID.to_string(), id.to_string())]);
    if let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) {
        for (name, oid) in SUBJECT_FIELDS {
            let value = cert
                .subject()
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == oid)
                .and_then(|a| a.as_str().ok());
            if let Some(value) = value {
                out.insert(name.to_string(), value.to_string());
            }
        }
    }
    out
}

fn refused(details: impl Into<String>) -> AuthnFailure {
    AuthnFailure { reason: "DEVICE_CERTIFICATE_INACTIVE", details: details.into() }
}

/// The source of the service's own messages (the JITR event).
fn service_source() -> Arc<ClientInfo> {
    static SOURCE: OnceLock<Arc<ClientInfo>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
            Arc::new(ClientInfo::new(Protocol::Mqtt, "", "iotemu-provisioning", unspecified))
        })
        .clone()
}

impl Provisioning {
    /// What JITP or JITR decides for certificate `id` (DER `der`) in `scope`; `None` when it is
    /// none of their business.
    pub fn authenticate_just_in_time(
        &self,
        scope: &Scope,
        id: &str,
        der: &[u8],
    ) -> Option<Result<(), AuthnFailure>> {
        match self.registry.describe_certificate(scope, id) {
            Ok(known) => {
                let ca_id = known.ca_certificate_id.as_deref()?;
                if known.status != "PENDING_ACTIVATION" {
                    return None;
                }
                let ca = self.registry.describe_ca_certificate(scope, ca_id).ok()?;
                if ca.auto_registration_status != "ENABLE" || template_of(&ca).is_some() {
                    return None;
                }
                self.publish_registered(scope, &ca, id);
                Some(Err(refused(format!(
                    "Certificate {id} is PENDING_ACTIVATION (just-in-time registration)"
                ))))
            }
            Err(_) => {
                let ca = self.registry.signing_ca_certificate(scope, der)?;
                if ca.auto_registration_status != "ENABLE" {
                    return None;
                }
                Some(match template_of(&ca) {
                    Some(template) => self.provision_just_in_time(scope, &ca, template, id, der),
                    None => self.register_just_in_time(scope, &ca, id, der),
                })
            }
        }
    }

    /// JITR: registers the certificate PENDING_ACTIVATION and publishes the event.
    fn register_just_in_time(
        &self,
        scope: &Scope,
        ca: &CaCertificate,
        id: &str,
        der: &[u8],
    ) -> Result<(), AuthnFailure> {
        if let Err(e) = self.registry.auto_register_certificate(scope, der, ca) {
            return Err(AuthnFailure { reason: "INTERNAL_SERVER_ERROR", details: e.to_string() });
        }
        self.publish_registered(scope, ca, id);
        Err(refused(format!(
            "Certificate {id} was registered PENDING_ACTIVATION by just-in-time registration"
        )))
    }

    /// `$aws/events/certificates/registered/<caCertificateId>`.
    fn publish_registered(&self, scope: &Scope, ca: &CaCertificate, id: &str) {
        let now = self.now();
        let registered =
            self.registry.describe_certificate(scope, id).map(|c| c.created * 1000).unwrap_or(now as i64);
        let payload = json!({
            "certificateId": id,
            "caCertificateId": ca.id,
            "timestamp": now,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": scope.account,
            "certificateRegistrationTimestamp": registered.to_string(),
        });
        let topic = format!("$aws/events/certificates/registered/{}", ca.id);
        let mut message = OutboundMessage::new(topic, payload.to_string(), TraceId::new());
        message.qos = 1;
        if let Err(e) = self.publisher.deliver(&service_source(), message) {
            tracing::warn!(error = %e, "the just-in-time registration event could not be published");
        }
    }

    /// JITP: registers, provisions and activates; the first connection is refused either way.
    fn provision_just_in_time(
        &self,
        scope: &Scope,
        ca: &CaCertificate,
        template: TemplateRef<'_>,
        id: &str,
        der: &[u8],
    ) -> Result<(), AuthnFailure> {
        let trace_id = TraceId::new();
        let (name, body) = match template {
            TemplateRef::Body(body) => (String::new(), body.to_string()),
            TemplateRef::Name(name) => {
                let found = self.state.lock().templates.get(&(scope.clone(), name.to_string())).cloned();
                match found {
                    Some(t) => (name.to_string(), t.default_body().to_string()),
                    None => {
                        let rejection = Rejection::new(
                            404,
                            "ResourceNotFound",
                            format!(
                                "The provisioning template {name} of CA certificate {} does not exist.",
                                ca.id
                            ),
                        );
                        self.log_provision(trace_id, None, name, id, Err(&rejection));
                        return Err(refused(rejection.message));
                    }
                }
            }
        };
        let result = self.provision_certificate(scope, ca, &body, id, der);
        self.log_provision(trace_id, None, &name, id, result.as_ref());
        match result {
            Ok(_) => Err(refused(format!("Certificate {id} was PENDING_ACTIVATION when it connected; just-in-time provisioning has now provisioned it: connect again"),
            )),
            Err(rejection) => Err(refused(format!("Just-in-time provisioning failed: {}", rejection.message))),
        }
    }

    fn provision_certificate(
        &self,
        scope: &Scope,
        ca: &CaCertificate,
        body: &str,
        id: &str,
        der: &[u8],
    ) -> Result<Provisioned, Rejection> {
        let invalid = |e: crate::template::TemplateError| Rejection::new(400, "InvalidParameters", e.message);
        let template = Template::parse(body).map_err(invalid)?;
        let pseudo = certificate_parameters(id, der);
        let plan =
            template.evaluate(&Inputs { parameters: &BTreeMap::new(), pseudo: &pseudo }).map_err(invalid)?;
        self.registry
            .auto_register_certificate(scope, der, ca)
            .map_err(|e| Rejection::internal(format!("Registering the certificate: {e}")))?;
        let ownership = Ownership { certificate_id: Some(id), allow_new_certificates: false };
        match register::apply(&self.registry, scope, &plan, ownership) {
            Ok(done) => Ok(done),
            Err(e) => {
                // The registration goes too, so that the next connection tries again.
                let _ = self.registry.update_certificate(scope, id, "INACTIVE");
                let _ = self.registry.delete_certificate(scope, id);
                Err(crate::device::apply_rejection(e))
            }
        }
    }
}

/// A CA's JITP template.
#[derive(Debug, Clone, Copy)]
enum TemplateRef<'a> {
    Body(&'a str),
    Name(&'a str),
}

fn template_of(ca: &CaCertificate) -> Option<TemplateRef<'_>> {
    let config = ca.registration_config.as_ref()?;
    match (&config.template_body, &config.template_name) {
        (Some(body), _) if !body.is_empty() => Some(TemplateRef::Body(body)),
        (_, Some(name)) if !name.is_empty() => Some(TemplateRef::Name(name)),
        _ => None,
    }
}

/// The broker's authenticator with just-in-time provisioning and registration in front of the
/// registry's. The service is attached once the broker (which it publishes through) exists;
/// until then the registry alone decides.
pub struct JitAuthenticator {
    inner: Arc<RegistryAuthenticator>,
    scope: Scope,
    service: OnceLock<Arc<Provisioning>>,
}

impl JitAuthenticator {
    pub fn new(inner: Arc<RegistryAuthenticator>, scope: Scope) -> Self {
        JitAuthenticator { inner, scope, service: OnceLock::new() }
    }

    /// Attaches the provisioning service.
    pub fn attach(&self, service: Arc<Provisioning>) {
        let _ = self.service.set(service);
    }
}

impl DeviceAuthenticator for JitAuthenticator {
    fn authenticate(&self, certificate_id: &str, der: &[u8]) -> Result<(), AuthnFailure> {
        let decided =
            self.service.get().and_then(|s| s.authenticate_just_in_time(&self.scope, certificate_id, der));
        match decided {
            Some(outcome) => outcome,
            None => self.inner.authenticate(certificate_id, der),
        }
    }
}

impl DeviceTrust for JitAuthenticator {
    fn trusted_cas(&self) -> TrustedCas {
        self.inner.trusted_cas()
    }

    fn is_registered(&self, certificate_id: &str) -> bool {
        self.inner.is_registered(certificate_id)
    }
}
