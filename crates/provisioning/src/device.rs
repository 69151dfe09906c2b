//! The device operations of fleet provisioning (`fleet-provision-api.md`), for either payload
//! format: CreateKeysAndCertificate, CreateCertificateFromCsr (each a new PENDING_ACTIVATION
//! certificate of the emulator's CA and an ownership token, and a GetDeviceCredentials entry)
//! and RegisterThing (a template, its pre-provisioning hook, the resources, a ProvisionDevice
//! entry). Each entry carries the request's traceId (its Publish-In).

use crate::error::Rejection;
use crate::hook::{self, HookInput};
use crate::register::{self, ApplyError, Ownership, Provisioned};
use crate::state::{new_token, OwnershipToken, TemplateType};
use crate::template::{Inputs, Template};
use crate::Provisioning;
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, TraceId};
use iotemu_logs::{GetDeviceCredentials, LogEntry, ProvisionDevice};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who made a device request, where, and the traceId of its Publish-In.
#[derive(Debug, Clone)]
pub struct DeviceCall {
    pub scope: Scope,
    pub client: Arc<ClientInfo>,
    pub trace_id: TraceId,
}

/// The pseudo-parameter of a fleet provisioning template.
pub const CERTIFICATE_ID: &str = "AWS::IoT::Certificate::Id";

/// A provisioning in progress with one template version: holds it against deletion
/// (ConflictingResourceUpdateException) until dropped.
struct InFlight {
    service: Arc<Provisioning>,
    key: (Scope, String, u32),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.service.state.lock();
        if let Some(n) = state.in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                state.in_flight.remove(&self.key);
            }
        }
    }
}

/// An ownership token a RegisterThing is using: no other request may use it meanwhile.
struct Claimed {
    service: Arc<Provisioning>,
    token: OwnershipToken,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        self.service.state.lock().busy_tokens.remove(&self.token.token);
    }
}

fn internal(e: impl std::fmt::Display) -> Rejection {
    Rejection::internal(format!("Internal error: {e}"))
}

impl Provisioning {
    /// Writes the GetDeviceCredentials Failure of a request refused before its operation ran.
    pub(crate) fn log_credentials_refused(&self, call: &DeviceCall, rejection: &Rejection) {
        self.log_credentials(call, Err(rejection));
    }

    /// Writes a GetDeviceCredentials entry.
    fn log_credentials(&self, call: &DeviceCall, outcome: Result<(&str, String), &Rejection>) {
        let entry = |id: &str, details| {
            LogEntry::GetDeviceCredentials(GetDeviceCredentials {
                device_certificate_id: id.into(),
                details,
                client: Some(call.client.clone()),
            })
        };
        match outcome {
            Ok((id, details)) => self.logs.success(call.trace_id, entry(id, Some(details.into()))),
            Err(r) => self.logs.failure(call.trace_id, entry("", None), r.error_code, r.message.clone()),
        }
    }

    /// A new ownership token for `certificate_id`, kept.
    fn ownership_token(&self, call: &DeviceCall, certificate_id: &str) -> Result<String, Rejection> {
        let now = self.now();
        let token = OwnershipToken {
            token: new_token(),
            certificate_id: certificate_id.to_string(),
            claim_certificate_id: call.client.principal_id.to_string(),
            client_id: call.client.client_id.to_string(),
            created_at: now,
            expires_at: now.saturating_add(self.settings.token_ttl_ms),
        };
        let text = token.token.clone();
        self.keep_token(&call.scope, token).map_err(internal)?;
        Ok(text)
    }

    /// CreateKeysAndCertificate (MQTT): a new RSA 2048 key pair and a PENDING_ACTIVATION
    /// certificate of the emulator's CA, with its ownership token.
    pub fn create_keys_and_certificate(&self, call: &DeviceCall) -> Result<Value, Rejection> {
        let result = (|| {
            let created = self
                .registry
                .create_keys_and_certificate_with_status(&call.scope, "PENDING_ACTIVATION")
                .map_err(internal)?;
            let token = self.ownership_token(call, &created.certificate.id)?;
            Ok(json!({
                "certificateId": created.certificate.id,
                "certificatePem": created.certificate.pem,
                "privateKey": created.private_key_pem,
                "certificateOwnershipToken": token,
            }))
        })();
        match &result {
            Ok(answer) => {
                let id = answer["certificateId"].as_str().unwrap_or_default();
                let details = format!("Created certificate {id} (PENDING_ACTIVATION) with a new key pair.");
                self.log_credentials(call, Ok((id, details)));
            }
            Err(rejection) => self.log_credentials(call, Err(rejection)),
        }
        result
    }

    /// CreateCertificateFromCsr (MQTT): the emulator's CA signs the CSR's key; the certificate
    /// is PENDING_ACTIVATION, with its ownership token.
    pub fn create_certificate_from_csr(
        &self,
        call: &DeviceCall,
        request: &Map<String, Value>,
    ) -> Result<Value, Rejection> {
        let result = (|| {
            let csr = match request.get("certificateSigningRequest") {
                Some(Value::String(csr)) if !csr.is_empty() => csr,
                _ => return Err(Rejection::invalid_payload("certificateSigningRequest is required")),
            };
            let created = self
                .registry
                .create_certificate_from_csr_with_status(&call.scope, csr, "PENDING_ACTIVATION")
                .map_err(|e| match e {
                    iotemu_registry::RegistryError::InvalidRequest(m) => Rejection::invalid_payload(m),
                    other => internal(other),
                })?;
            let token = self.ownership_token(call, &created.id)?;
            Ok(json!({
                "certificateOwnershipToken": token,
                "certificateId": created.id,
                "certificatePem": created.pem,
            }))
        })();
        match &result {
            Ok(answer) => {
                let id = answer["certificateId"].as_str().unwrap_or_default();
                let details = format!("Created certificate {id} (PENDING_ACTIVATION) from the CSR.");
                self.log_credentials(call, Ok((id, details)));
            }
            Err(rejection) => self.log_credentials(call, Err(rejection)),
        }
        result
    }

    /// Writes a ProvisionDevice entry.
    pub(crate) fn log_provision(
        &self,
        trace_id: TraceId,
        client: Option<Arc<ClientInfo>>,
        template: &str,
        certificate_id: &str,
        outcome: Result<&Provisioned, &Rejection>,
    ) {
        let entry = |details| {
            LogEntry::ProvisionDevice(ProvisionDevice {
                provisioning_template_name: template.into(),
                device_certificate_id: certificate_id.into(),
                details,
                client: client.clone(),
            })
        };
        match outcome {
            Ok(done) => self.logs.success(trace_id, entry(Some(done.summary().into()))),
            Err(r) => self.logs.failure(trace_id, entry(None), r.error_code, r.message.clone()),
        }
    }

    /// RegisterThing (MQTT): provisions the device from the template's default version with the
    /// request's parameters, after the template's pre-provisioning hook allowed it; the answer is
    /// `deviceConfiguration` and `thingName`. The token is used up by a success only.
    pub async fn register_thing(
        self: &Arc<Self>,
        call: &DeviceCall,
        template_name: &str,
        request: &Map<String, Value>,
    ) -> Result<Value, Rejection> {
        let mut certificate_id = String::new();
        let result = self.register_thing_steps(call, template_name, request, &mut certificate_id).await;
        let outcome = result.as_ref().map(|(done, _)| done);
        self.log_provision(call.trace_id, Some(call.client.clone()), template_name, &certificate_id, outcome);
        result.map(|(_, answer)| answer)
    }

    async fn register_thing_steps(
        self: &Arc<Self>,
        call: &DeviceCall,
        template_name: &str,
        request: &Map<String, Value>,
        certificate_id: &mut String,
    ) -> Result<(Provisioned, Value), Rejection> {
        let mut parameters = parameters(request)?;
        let token = match request.get("certificateOwnershipToken") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                return Err(Rejection::invalid_token("Certificate ownership token cannot be empty."))
            }
            Some(_) => return Err(Rejection::invalid_payload("certificateOwnershipToken must be a string")),
        };
        // The entry names the token's certificate whatever fails next.
        if let Some((_, known)) = self.state.lock().tokens.get(&token).filter(|(s, _)| *s == call.scope) {
            *certificate_id = known.certificate_id.clone();
        }
        let (template, _in_flight) = self.template_for_device(&call.scope, template_name)?;
        let claimed = self.claim_token(&call.scope, &token)?;
        if let Some(target) = template.pre_provisioning_hook.as_ref().map(|h| h.target_arn.clone()) {
            let pem = self
                .registry
                .describe_certificate(&call.scope, &claimed.token.certificate_id)
                .map(|c| c.pem)
                .unwrap_or_default();
            let input = HookInput {
                claim_certificate_id: &call.client.principal_id,
                certificate_id: &claimed.token.certificate_id,
                certificate_pem: &pem,
                template_arn: &template.template_arn,
                client_id: &call.client.client_id,
                parameters: &parameters,
            }
            .to_json();
            let overrides = hook::invoke(
                &self.http,
                &self.settings.hook_endpoints,
                &target,
                &input,
                self.settings.hook_timeout,
            )
            .await
            .map_err(Rejection::access_denied)?;
            parameters.extend(overrides);
        }
        let service = self.clone();
        let scope = call.scope.clone();
        let body = template.default_body().to_string();
        let owned = claimed.token.certificate_id.clone();
        let provisioned = run_blocking(move || {
            let template = Template::parse(&body).map_err(|e| Rejection::new(400, "InvalidParameters", e.message))?;
            let pseudo = BTreeMap::from([(CERTIFICATE_ID.to_string(), owned.clone())]);
            let plan = template
                .evaluate(&Inputs { parameters: &parameters, pseudo: &pseudo })
                .map_err(|e| Rejection::new(400, "InvalidParameters", e.message))?;
            if plan.certificate.is_none() {
                return Err(Rejection::new(
                    400,
                    "ResourceRegistrationFailure",
                    "The template has no AWS::IoT::Certificate resource, so the certificate would never be activated",
                ));
            }
            let ownership = Ownership { certificate_id: Some(&owned), allow_new_certificates: false };
            let done = register::apply(&service.registry, &scope, &plan, ownership).map_err(apply_rejection)?;
            service.drop_token(&scope, &claimed.token.token).map_err(internal)?;
            Ok((done, plan.device_configuration))
        })
        .await?;
        let (done, configuration) = provisioned;
        let mut answer = json!({ "deviceConfiguration": configuration });
        if let Some(thing) = &done.thing_name {
            answer["thingName"] = json!(thing);
        }
        Ok((done, answer))
    }

    /// The template a device names: it must exist, be enabled and be a fleet provisioning
    /// template. Marks its default version in use.
    fn template_for_device(
        self: &Arc<Self>,
        scope: &Scope,
        name: &str,
    ) -> Result<(crate::state::ProvisioningTemplate, InFlight), Rejection> {
        let mut state = self.state.lock();
        let template = state.templates.get(&(scope.clone(), name.to_string())).cloned().ok_or_else(|| {
            Rejection::new(
                404,
                "ResourceNotFound",
                format!("The provisioning template {name} does not exist."),
            )
        })?;
        if !template.enabled {
            return Err(Rejection::access_denied(format!("The provisioning template {name} is disabled.")));
        }
        if template.template_type != TemplateType::FleetProvisioning {
            return Err(Rejection::new(
                400,
                "InvalidRequest",
                format!("The provisioning template {name} is a JITP template; RegisterThing needs a FLEET_PROVISIONING one."),
            ));
        }
        let key = (scope.clone(), name.to_string(), template.default_version_id);
        *state.in_flight.entry(key.clone()).or_default() += 1;
        Ok((template, InFlight { service: self.clone(), key }))
    }

    /// Takes the token for this request.
    fn claim_token(self: &Arc<Self>, scope: &Scope, token: &str) -> Result<Claimed, Rejection> {
        let now = self.now();
        let mut state = self.state.lock();
        let found = state.tokens.get(token).filter(|(s, _)| s == scope).map(|(_, t)| t.clone());
        let Some(found) = found else {
            return Err(Rejection::invalid_token("The certificate ownership token is invalid."));
        };
        if found.is_expired(now) {
            return Err(Rejection::invalid_token("The certificate ownership token has expired."));
        }
        if !state.busy_tokens.insert(found.token.clone()) {
            return Err(Rejection::invalid_token(
                "The certificate ownership token is being used by another RegisterThing request.",
            ));
        }
        Ok(Claimed { service: self.clone(), token: found })
    }
}

/// The request's `parameters`: an object of strings (numbers and booleans are taken as text).
fn parameters(request: &Map<String, Value>) -> Result<BTreeMap<String, String>, Rejection> {
    let mut out = BTreeMap::new();
    match request.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(Rejection::invalid_payload(format!("parameters.{key} must be a string")))
                    }
                };
                out.insert(key.clone(), text);
            }
        }
        Some(_) => return Err(Rejection::invalid_payload("parameters must be an object of strings")),
    }
    Ok(out)
}

/// The device's view of a resource that could not be provisioned.
pub(crate) fn apply_rejection(e: ApplyError) -> Rejection {
    match e {
        ApplyError::Conflict(message) => Rejection::new(409, "ResourceConflictsException", message),
        ApplyError::Failure(message) => Rejection::new(400, "ResourceRegistrationFailure", message),
    }
}

/// Runs `f` (it commits to SQLite) on tokio's blocking pool.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Rejection> + Send + 'static,
) -> Result<T, Rejection> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}
