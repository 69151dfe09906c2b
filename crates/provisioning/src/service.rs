//! [`Provisioning`]: provisioning templates and ownership tokens kept in memory and written to
//! the SQLite store before an operation returns; the control-plane operations of the `iot` API;
//! the expiry of ownership tokens. The device operations are in `device.rs`, just-in-time
//! provisioning in `jit.rs`.

use crate::state::{
    check_body, check_description, check_hook, check_role_arn, check_template_name, OwnershipToken,
    ProvisioningHook, ProvisioningTemplate, TemplateType, TemplateVersion, MAX_TEMPLATES, MAX_VERSIONS,
    TEMPLATE_KIND, TOKEN_KIND,
};
use crate::ProvisioningError;
use iotemu_core::Scope;
use iotemu_core::{Clock, Publisher};
use iotemu_logs::EventSink;
use iotemu_registry::Registry;
use iotemu_store::Store;
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The `[provisioning]` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lambda function ARN (or `*`) -> the URL a pre-provisioning hook POSTs to.
    pub hook_endpoints: HashMap<String, String>,
    /// How long a hook may take (AWS: 5 s).
    pub hook_timeout: Duration,
    /// How long an ownership token lives, in milliseconds (AWS: one hour).
    pub token_ttl_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hook_endpoints: HashMap::new(),
            hook_timeout: crate::hook::HOOK_TIMEOUT,
            token_ttl_ms: 3_600_000,
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub templates: BTreeMap<(Scope, String), ProvisioningTemplate>,
    /// By token.
    pub tokens: BTreeMap<String, (Scope, OwnershipToken)>,
    /// Tokens a RegisterThing is using right now.
    pub busy_tokens: std::collections::BTreeSet<String>,
    /// (scope, template, version) -> provisionings in progress with it.
    pub in_flight: BTreeMap<(Scope, String, u32), usize>,
}

/// The fleet provisioning service.
pub struct Provisioning {
    pub(crate) store: Arc<Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) logs: EventSink,
    pub(crate) settings: Settings,
    pub(crate) http: reqwest::Client,
    pub(crate) state: Mutex<State>,
}

/// CreateProvisioningTemplate's body (the handler keeps `tags` in the tags store).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTemplate {
    pub template_name: Option<String>,
    pub description: Option<String>,
    pub template_body: Option<String>,
    pub enabled: Option<bool>,
    pub provisioning_role_arn: Option<String>,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    #[serde(rename = "type")]
    pub template_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<iotemu_api::tags::Tag>,
}

/// UpdateProvisioningTemplate's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTemplate {
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub default_version_id: Option<u32>,
    pub provisioning_role_arn: Option<String>,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    pub remove_pre_provisioning_hook: Option<bool>,
}

pub(crate) fn template_not_found(name: &str) -> ProvisioningError {
    ProvisioningError::NotFound(format!("The provisioning template {name} does not exist."))
}

fn version_not_found(name: &str, version: u32) -> ProvisioningError {
    ProvisioningError::NotFound(format!("Version {version} of provisioning template {name} does not exist."))
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, ProvisioningError> {
    value.ok_or_else(|| ProvisioningError::InvalidRequest(format!("{member} is required")))
}

/// One page of `items` sorted by `key`, after `token`: at most `max` (1 to 250, default 50).
pub(crate) fn page<T, K: Ord + ToString + std::str::FromStr>(
    items: impl Iterator<Item = T>,
    key: impl Fn(&T) -> K,
    max: Option<usize>,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ProvisioningError> {
    let max = max.unwrap_or(50);
    if !(1..=250).contains(&max) {
        return Err(ProvisioningError::InvalidRequest("maxResults must be between 1 and 250".into()));
    }
    let after = match token {
        None => None,
        Some(t) => Some(
            t.parse::<K>()
                .map_err(|_| ProvisioningError::InvalidRequest(format!("invalid nextToken {t:?}")))?,
        ),
    };
    let (out, next) = iotemu_api::paging::page_by(items, key, after.as_ref(), max);
    Ok((out, next.map(|k| k.to_string())))
}

impl Provisioning {
    /// Loads the templates and ownership tokens from `store`.
    pub fn load(
        store: Arc<Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        publisher: Arc<dyn Publisher>,
        logs: EventSink,
        settings: Settings,
    ) -> Result<Self, ProvisioningError> {
        let bad = |e: serde_json::Error| ProvisioningError::Internal(e.to_string());
        let mut state = State::default();
        for doc in store.all(TEMPLATE_KIND)? {
            let template: ProvisioningTemplate = serde_json::from_value(doc.value).map_err(bad)?;
            state.templates.insert((doc.scope, doc.key), template);
        }
        for doc in store.all(TOKEN_KIND)? {
            let token: OwnershipToken = serde_json::from_value(doc.value).map_err(bad)?;
            state.tokens.insert(doc.key, (doc.scope, token));
        }
        Ok(Provisioning {
            store,
            registry,
            clock,
            publisher,
            logs,
            settings,
            http: reqwest::Client::new(),
            state: Mutex::new(state),
        })
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    fn save(&self, scope: &Scope, template: &ProvisioningTemplate) -> Result<(), ProvisioningError> {
        let value = serde_json::to_value(template).map_err(|e| ProvisioningError::Internal(e.to_string()))?;
        Ok(self.store.put(TEMPLATE_KIND, scope, &template.template_name, &value)?)
    }

    /// CreateProvisioningTemplate: version 1 is the default; `enabled` is false unless given.
    pub fn create_provisioning_template(
        &self,
        scope: &Scope,
        request: CreateTemplate,
    ) -> Result<ProvisioningTemplate, ProvisioningError> {
        let name = required(request.template_name, "templateName")?;
        check_template_name(&name)?;
        let body = required(request.template_body, "templateBody")?;
        let role = required(request.provisioning_role_arn, "provisioningRoleArn")?;
        check_role_arn(&role)?;
        if let Some(description) = &request.description {
            check_description(description)?;
        }
        let template_type = match request.template_type.as_deref() {
            None => TemplateType::FleetProvisioning,
            Some(t) => TemplateType::parse(t)?,
        };
        if let Some(hook) = &request.pre_provisioning_hook {
            check_hook(hook, template_type)?;
        }
        check_body(&body)?;
        let mut state = self.state.lock();
        let key = (scope.clone(), name.clone());
        if state.templates.contains_key(&key) {
            return Err(ProvisioningError::AlreadyExists(format!(
                "Template with name {name} already exists"
            )));
        }
        if state.templates.keys().filter(|(s, _)| s == scope).count() >= MAX_TEMPLATES {
            return Err(ProvisioningError::LimitExceeded(format!(
                "An account can have at most {MAX_TEMPLATES} provisioning templates per region"
            )));
        }
        let now = self.now();
        let template = ProvisioningTemplate {
            template_arn: format!(
                "arn:aws:iot:{}:{}:provisioningtemplate/{name}",
                scope.region, scope.account
            ),
            template_name: name,
            description: request.description,
            enabled: request.enabled.unwrap_or(false),
            provisioning_role_arn: role,
            pre_provisioning_hook: request.pre_provisioning_hook,
            template_type,
            creation_date: now,
            last_modified_date: now,
            default_version_id: 1,
            versions: BTreeMap::from([(
                1,
                TemplateVersion { version_id: 1, template_body: body, creation_date: now },
            )]),
            next_version_id: 2,
        };
        self.save(scope, &template)?;
        state.templates.insert(key, template.clone());
        Ok(template)
    }

    /// DescribeProvisioningTemplate.
    pub fn describe_provisioning_template(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<ProvisioningTemplate, ProvisioningError> {
        self.state
            .lock()
            .templates
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| template_not_found(name))
    }

    /// ListProvisioningTemplates, by name.
    pub fn list_provisioning_templates(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> Result<(Vec<ProvisioningTemplate>, Option<String>), ProvisioningError> {
        let state = self.state.lock();
        let all = state.templates.iter().filter(|((s, _), _)| s == scope).map(|(_, t)| t.clone());
        page(all, |t| t.template_name.clone(), max, token)
    }

    /// UpdateProvisioningTemplate (`defaultVersionId` sets the default version).
    pub fn update_provisioning_template(
        &self,
        scope: &Scope,
        name: &str,
        update: UpdateTemplate,
    ) -> Result<(), ProvisioningError> {
        if let Some(description) = &update.description {
            check_description(description)?;
        }
        if let Some(role) = &update.provisioning_role_arn {
            check_role_arn(role)?;
        }
        let remove_hook = update.remove_pre_provisioning_hook.unwrap_or(false);
        if remove_hook && update.pre_provisioning_hook.is_some() {
            return Err(ProvisioningError::InvalidRequest(
                "preProvisioningHook and removePreProvisioningHook cannot be given together".into(),
            ));
        }
        let mut state = self.state.lock();
        let template = state
            .templates
            .get(&(scope.clone(), name.to_string()))
            .ok_or_else(|| template_not_found(name))?;
        let mut next = template.clone();
        if let Some(hook) = update.pre_provisioning_hook {
            check_hook(&hook, next.template_type)?;
            next.pre_provisioning_hook = Some(hook);
        }
        if remove_hook {
            next.pre_provisioning_hook = None;
        }
        if let Some(version) = update.default_version_id {
            if !next.versions.contains_key(&version) {
                return Err(version_not_found(name, version));
            }
            next.default_version_id = version;
        }
        if let Some(description) = update.description {
            next.description = Some(description);
        }
        if let Some(enabled) = update.enabled {
            next.enabled = enabled;
        }
        if let Some(role) = update.provisioning_role_arn {
            next.provisioning_role_arn = role;
        }
        next.last_modified_date = self.now();
        self.save(scope, &next)?;
        state.templates.insert((scope.clone(), name.to_string()), next);
        Ok(())
    }

    /// DeleteProvisioningTemplate: ConflictingResourceUpdateException while a provisioning is
    /// using it, DeleteConflictException while a CA's registration config names it.
    pub fn delete_provisioning_template(&self, scope: &Scope, name: &str) -> Result<(), ProvisioningError> {
        let mut state = self.state.lock();
        let key = (scope.clone(), name.to_string());
        if !state.templates.contains_key(&key) {
            return Err(template_not_found(name));
        }
        if state.in_flight.keys().any(|(s, t, _)| s == scope && t == name) {
            return Err(ProvisioningError::ConflictingResourceUpdate(format!(
                "The provisioning template {name} is being used by a provisioning in progress"
            )));
        }
        let (cas, _) = self
            .registry
            .list_ca_certificates(scope, 250, None, true, Some(name))
            .map_err(|e| ProvisioningError::Internal(e.to_string()))?;
        if let Some(ca) = cas.first() {
            return Err(ProvisioningError::DeleteConflict(format!(
                "The provisioning template {name} is the registration config of CA certificate {}",
                ca.id
            )));
        }
        self.store.delete(TEMPLATE_KIND, scope, name)?;
        state.templates.remove(&key);
        Ok(())
    }

    /// CreateProvisioningTemplateVersion: at most [`MAX_VERSIONS`] versions.
    pub fn create_provisioning_template_version(
        &self,
        scope: &Scope,
        name: &str,
        body: Option<String>,
        set_as_default: bool,
    ) -> Result<(ProvisioningTemplate, u32), ProvisioningError> {
        let body = required(body, "templateBody")?;
        let mut state = self.state.lock();
        let template = state
            .templates
            .get(&(scope.clone(), name.to_string()))
            .ok_or_else(|| template_not_found(name))?;
        if template.versions.len() >= MAX_VERSIONS {
            return Err(ProvisioningError::VersionsLimitExceeded(format!(
                "The provisioning template {name} already has the maximum of {MAX_VERSIONS} versions"
            )));
        }
        check_body(&body)?;
        let mut next = template.clone();
        let now = self.now();
        let id = next.next_version_id;
        next.versions.insert(id, TemplateVersion { version_id: id, template_body: body, creation_date: now });
        next.next_version_id += 1;
        if set_as_default {
            next.default_version_id = id;
        }
        next.last_modified_date = now;
        self.save(scope, &next)?;
        state.templates.insert((scope.clone(), name.to_string()), next.clone());
        Ok((next, id))
    }

    /// DescribeProvisioningTemplateVersion.
    pub fn describe_provisioning_template_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<(ProvisioningTemplate, TemplateVersion), ProvisioningError> {
        let template = self.describe_provisioning_template(scope, name)?;
        let found =
            template.versions.get(&version).cloned().ok_or_else(|| version_not_found(name, version))?;
        Ok((template, found))
    }

    /// ListProvisioningTemplateVersions, by version id.
    pub fn list_provisioning_template_versions(
        &self,
        scope: &Scope,
        name: &str,
        max: Option<usize>,
        token: Option<&str>,
    ) -> Result<(ProvisioningTemplate, Vec<TemplateVersion>, Option<String>), ProvisioningError> {
        let template = self.describe_provisioning_template(scope, name)?;
        let (versions, next) = page(template.versions.values().cloned(), |v| v.version_id, max, token)?;
        Ok((template, versions, next))
    }

    /// DeleteProvisioningTemplateVersion: never the default version (DeleteConflictException),
    /// nor one a provisioning in progress is using (ConflictingResourceUpdateException).
    pub fn delete_provisioning_template_version(
        &self,
        scope: &Scope,
        name: &str,
        version: u32,
    ) -> Result<(), ProvisioningError> {
        let mut state = self.state.lock();
        let template = state
            .templates
            .get(&(scope.clone(), name.to_string()))
            .ok_or_else(|| template_not_found(name))?;
        if !template.versions.contains_key(&version) {
            return Err(version_not_found(name, version));
        }
        if template.default_version_id == version {
            return Err(ProvisioningError::DeleteConflict(format!(
                "Version {version} is the default version of provisioning template {name} and cannot be deleted"
            )));
        }
        if state.in_flight.contains_key(&(scope.clone(), name.to_string(), version)) {
            return Err(ProvisioningError::ConflictingResourceUpdate(format!(
                "Version {version} of provisioning template {name} is being used by a provisioning in progress"
            )));
        }
        let mut next = template.clone();
        next.versions.remove(&version);
        next.last_modified_date = self.now();
        self.save(scope, &next)?;
        state.templates.insert((scope.clone(), name.to_string()), next);
        Ok(())
    }

    /// RegisterThing (HTTP): provisions from `body` with `parameters` (single-thing
    /// provisioning, `single-thing-provisioning.md`): the certificate may come from a CSR (the
    /// answer's `certificatePem`), a PEM, or an id; `resourceArns` by logical id. It writes no
    /// log entry (the API's calls are CloudTrail's, not AWSIotLogsV2's).
    pub fn register_thing_with_body(
        &self,
        scope: &Scope,
        body: Option<String>,
        parameters: BTreeMap<String, String>,
    ) -> Result<crate::register::Provisioned, ProvisioningError> {
        use crate::register::{apply, ApplyError, Ownership};
        let body = required(body, "templateBody")?;
        let template = check_body(&body)?;
        let plan = template
            .evaluate(&crate::template::Inputs { parameters: &parameters, pseudo: &BTreeMap::new() })
            .map_err(|e| ProvisioningError::InvalidRequest(e.message))?;
        let ownership = Ownership { certificate_id: None, allow_new_certificates: true };
        apply(&self.registry, scope, &plan, ownership).map_err(|e| match e {
            ApplyError::Conflict(m) => ProvisioningError::ConflictingResourceUpdate(m),
            ApplyError::Failure(m) => ProvisioningError::ResourceRegistrationFailure(m),
        })
    }

    /// Keeps a new ownership token.
    pub(crate) fn keep_token(&self, scope: &Scope, token: OwnershipToken) -> Result<(), ProvisioningError> {
        let value = serde_json::to_value(&token).map_err(|e| ProvisioningError::Internal(e.to_string()))?;
        self.store.put(TOKEN_KIND, scope, &token.token, &value)?;
        self.state.lock().tokens.insert(token.token.clone(), (scope.clone(), token));
        Ok(())
    }

    /// Forgets a token (used, or expired).
    pub(crate) fn drop_token(&self, scope: &Scope, token: &str) -> Result<(), ProvisioningError> {
        self.store.delete(TOKEN_KIND, scope, token)?;
        let mut state = self.state.lock();
        state.tokens.remove(token);
        state.busy_tokens.remove(token);
        Ok(())
    }

    /// Removes the expired ownership tokens, and with each the certificate it was for when that
    /// was never activated nor attached to a policy or a thing (`fleet-provision-api.md`: "the
    /// certificate is deleted").
    pub fn expire_tokens(&self) -> Result<usize, ProvisioningError> {
        let now = self.now();
        let expired: Vec<(Scope, OwnershipToken)> = {
            let state = self.state.lock();
            state
                .tokens
                .values()
                .filter(|(_, t)| t.is_expired(now) && !state.busy_tokens.contains(&t.token))
                .cloned()
                .collect()
        };
        for (scope, token) in &expired {
            let unclaimed = self
                .registry
                .describe_certificate(scope, &token.certificate_id)
                .is_ok_and(|c| c.status == "PENDING_ACTIVATION");
            if unclaimed {
                // DeleteCertificate refuses one with a thing or a policy attached: it stays.
                if let Err(e) = self.registry.delete_certificate(scope, &token.certificate_id) {
                    tracing::debug!(error = %e, certificate = %token.certificate_id, "an unclaimed certificate stays");
                }
            }
            self.drop_token(scope, &token.token)?;
        }
        Ok(expired.len())
    }

    /// Expires tokens every `tick` until `shutdown`.
    pub async fn run_timers(self: Arc<Self>, tick: Duration, shutdown: tokio_util::sync::CancellationToken) {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    let service = self.clone();
                    match tokio::task::spawn_blocking(move || service.expire_tokens()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "expiring ownership tokens failed"),
                        Err(e) => tracing::warn!(error = %e, "expiring ownership tokens panicked"),
                    }
                }
            }
        }
    }

    /// Forgets every template and token (`POST /_iotemu/reset`), in the store too.
    pub fn reset(&self) -> Result<(), ProvisioningError> {
        let mut state = self.state.lock();
        for (scope, name) in state.templates.keys() {
            self.store.delete(TEMPLATE_KIND, scope, name)?;
        }
        for (token, (scope, _)) in &state.tokens {
            self.store.delete(TOKEN_KIND, scope, token)?;
        }
        state.templates.clear();
        state.tokens.clear();
        state.busy_tokens.clear();
        Ok(())
    }
}
