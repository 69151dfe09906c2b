//! IoT policies: documents with up to five versions, attached to targets (certificate ARNs, thing
//! group ARNs, Cognito identity ids), and their evaluation for the broker
//! ([`RegistryAuthorizer`]).
//!
//! Choices where AWS leaves room: a target that names a certificate or thing group must exist
//! (ResourceNotFoundException); any other target string is accepted as an identity id, which is
//! how the plain port's principal `anonymous` gets policies when `policies.enforce_on_plain` is
//! on. At most 10 policies per target (AWS quota; LimitExceededException). Policies attached to a
//! thing group apply to a client whose client id names a thing in the group (or a child group)
//! that is attached to the client's certificate, as AWS documents for thing-group policies.

use crate::paging::marker_page;
use crate::policy_document::{Decision, PolicyDocument, PolicyVariables};
use crate::service::load_kind;
use crate::{Registry, RegistryError, Thing};
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, DeviceAuthorizer, IotAction};
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) const POLICY: &str = "policy";
pub(crate) const POLICY_TARGETS: &str = "policy-targets";

/// AWS keeps at most five versions of a policy.
const MAX_VERSIONS: usize = 5;

/// AWS quota: policies attached to one certificate or identity.
const MAX_POLICIES_PER_TARGET: usize = 10;

/// The policy `iotemu certs create-device` gives its devices, unless `--no-policy`.
pub const ALLOW_ALL_POLICY: &str = "iotemu-allow-all";

const ALLOW_ALL_DOCUMENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#;

/// Store kind of the certificates `iotemu certs create-device` made and that have not connected
/// yet: `{"allowAll": bool}`, keyed by certificate id, in the account and region they are for.
pub(crate) const ISSUED_DEVICE: &str = "issued-device";

/// Records, in the store a server reads, that `iotemu certs create-device` made the certificate
/// `id` for `scope`: its first connection there registers it ACTIVE, with the `iotemu-allow-all`
/// policy when `allow_all` (not `--no-policy`). The record is used once; no other certificate of
/// the emulator's CA is registered on first use.
pub fn record_issued_device(
    store: &iotemu_store::Store,
    scope: &Scope,
    id: &str,
    allow_all: bool,
) -> Result<(), RegistryError> {
    Ok(store.put(ISSUED_DEVICE, scope, id, &serde_json::json!({ "allowAll": allow_all }))?)
}

/// A policy, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub arn: String,
    pub versions: BTreeMap<u32, PolicyVersion>,
    pub default_version: u32,
    /// The id the next version gets (ids are never reused).
    pub next_version: u32,
    /// Epoch seconds.
    pub created: i64,
    pub last_modified: i64,
    pub generation_id: String,
}

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub document: String,
    /// Epoch seconds.
    pub created: i64,
}

impl Policy {
    /// The id of an existing version given as text, or ResourceNotFoundException.
    fn version_id(&self, version: &str) -> Result<u32, RegistryError> {
        let id = version.parse::<u32>().ok().filter(|id| self.versions.contains_key(id));
        id.ok_or_else(|| {
            RegistryError::NotFound(format!("Policy {} version {version} cannot be found.", self.name))
        })
    }

    /// The document of the default (operative) version.
    pub fn default_document(&self) -> &str {
        self.versions.get(&self.default_version).map(|v| v.document.as_str()).unwrap_or_default()
    }
}

/// A policy with its default version parsed, as the cache holds it.
#[derive(Debug, Clone)]
pub(crate) struct CachedPolicy {
    pub policy: Policy,
    pub compiled: Arc<PolicyDocument>,
}

pub(crate) type PolicyCache = BTreeMap<(Scope, String), CachedPolicy>;
pub(crate) type TargetCache = BTreeMap<(Scope, String), BTreeSet<String>>;

/// Loads the policies (parsing their default versions) and the attachments from the store.
pub(crate) fn load(store: &iotemu_store::Store) -> Result<(PolicyCache, TargetCache), RegistryError> {
    let policies: BTreeMap<(Scope, String), Policy> = load_kind(store, POLICY)?;
    let policies = policies
        .into_iter()
        .map(|(key, policy)| {
            let compiled =
                PolicyDocument::parse(policy.default_document()).map_err(RegistryError::Internal)?;
            Ok((key, CachedPolicy { policy, compiled: Arc::new(compiled) }))
        })
        .collect::<Result<_, RegistryError>>()?;
    Ok((policies, load_kind(store, POLICY_TARGETS)?))
}

/// botocore `PolicyName`: 1-128 of `[\w+=,.@-]`.
fn check_policy_name(name: &str) -> Result<(), RegistryError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        RegistryError::InvalidRequest(format!(
            "policyName {name:?} must be 1 to 128 characters of letters, digits and _+=,.@-"
        ))
    })
}

fn parse_document(text: &str) -> Result<PolicyDocument, RegistryError> {
    PolicyDocument::parse(text).map_err(RegistryError::MalformedPolicy)
}

fn policy_not_found(name: &str) -> RegistryError {
    // AWS names no policy in its message (docs/aws-behaviour.md §16).
    let _ = name;
    RegistryError::NotFound("Policy not found".into())
}

impl Registry {
    /// CreatePolicy: version 1, the default.
    pub fn create_policy(&self, scope: &Scope, name: &str, document: &str) -> Result<Policy, RegistryError> {
        check_policy_name(name)?;
        let compiled = parse_document(document)?;
        let mut policies = self.policies.write();
        let key = (scope.clone(), name.to_string());
        if policies.contains_key(&key) {
            return Err(RegistryError::AlreadyExistsResource {
                message: format!("Policy cannot be created - name already exists (name={name})"),
                id: name.to_string(),
                arn: format!("arn:aws:iot:{}:{}:policy/{name}", scope.region, scope.account),
            });
        }
        let now = self.now_secs();
        let policy = Policy {
            name: name.to_string(),
            arn: format!("arn:aws:iot:{}:{}:policy/{name}", scope.region, scope.account),
            versions: [(1, PolicyVersion { document: document.to_string(), created: now })].into(),
            default_version: 1,
            next_version: 2,
            created: now,
            last_modified: now,
            generation_id: uuid::Uuid::new_v4().to_string(),
        };
        self.put(POLICY, scope, name, &policy)?;
        policies.insert(key, CachedPolicy { policy: policy.clone(), compiled: Arc::new(compiled) });
        Ok(policy)
    }

    /// GetPolicy.
    pub fn get_policy(&self, scope: &Scope, name: &str) -> Result<Policy, RegistryError> {
        self.policies
            .read()
            .get(&(scope.clone(), name.to_string()))
            .map(|c| c.policy.clone())
            .ok_or_else(|| policy_not_found(name))
    }

    /// ListPolicies, by name.
    pub fn list_policies(
        &self,
        scope: &Scope,
        marker: Option<&str>,
        size: Option<usize>,
        ascending: bool,
    ) -> Result<(Vec<Policy>, Option<String>), RegistryError> {
        let mut all: Vec<Policy> = self
            .policies
            .read()
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, c)| c.policy.clone())
            .collect();
        if !ascending {
            all.reverse();
        }
        marker_page(all, |p| p.name.as_str(), marker, size)
    }

    /// DeletePolicy: refused (DeleteConflictException) while the policy is attached or has
    /// versions besides the default (botocore documentation of DeletePolicy).
    pub fn delete_policy(&self, scope: &Scope, name: &str) -> Result<(), RegistryError> {
        let mut policies = self.policies.write();
        let key = (scope.clone(), name.to_string());
        let cached = policies.get(&key).ok_or_else(|| policy_not_found(name))?;
        if !self.targets_of(scope, name).is_empty() {
            return Err(RegistryError::DeleteConflict(format!(
                "The policy cannot be deleted as the policy is attached to one or more principals (name={name})"
            )));
        }
        if cached.policy.versions.len() > 1 {
            // AWS's message, its doubled "than" included (rebuy-de/aws-nuke #320).
            return Err(RegistryError::DeleteConflict(
                "The policy cannot be deleted as versions other than than default version exist".into(),
            ));
        }
        self.store.delete(POLICY, scope, name)?;
        policies.remove(&key);
        Ok(())
    }

    /// CreatePolicyVersion: at most five versions (VersionsLimitExceededException).
    pub fn create_policy_version(
        &self,
        scope: &Scope,
        name: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<(Policy, u32), RegistryError> {
        let compiled = parse_document(document)?;
        self.change_policy(scope, name, |cached| {
            let policy = &mut cached.policy;
            if policy.versions.len() >= MAX_VERSIONS {
                return Err(RegistryError::VersionsLimitExceeded(format!(
                    "The policy {name} already has the maximum number of versions ({MAX_VERSIONS})"
                )));
            }
            let id = policy.next_version;
            policy.next_version += 1;
            policy
                .versions
                .insert(id, PolicyVersion { document: document.to_string(), created: self.now_secs() });
            if set_as_default {
                policy.default_version = id;
                cached.compiled = Arc::new(compiled);
            }
            Ok(id)
        })
    }

    /// ListPolicyVersions: the policy with every version (the wire lists them newest first).
    pub fn list_policy_versions(&self, scope: &Scope, name: &str) -> Result<Policy, RegistryError> {
        self.get_policy(scope, name)
    }

    /// GetPolicyVersion.
    pub fn get_policy_version(
        &self,
        scope: &Scope,
        name: &str,
        version: &str,
    ) -> Result<(Policy, u32), RegistryError> {
        let policy = self.get_policy(scope, name)?;
        let id = policy.version_id(version)?;
        Ok((policy, id))
    }

    /// SetDefaultPolicyVersion.
    pub fn set_default_policy_version(
        &self,
        scope: &Scope,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        self.change_policy(scope, name, |cached| {
            let id = cached.policy.version_id(version)?;
            let document = &cached.policy.versions[&id].document;
            cached.compiled = Arc::new(PolicyDocument::parse(document).map_err(RegistryError::Internal)?);
            cached.policy.default_version = id;
            Ok(())
        })
        .map(|_| ())
    }

    /// DeletePolicyVersion: never the default one (DeleteConflictException).
    pub fn delete_policy_version(
        &self,
        scope: &Scope,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        self.change_policy(scope, name, |cached| {
            let policy = &mut cached.policy;
            let id = policy.version_id(version)?;
            if id == policy.default_version {
                return Err(RegistryError::DeleteConflict(
                    "Cannot delete the default version of a policy".to_string(),
                ));
            }
            policy.versions.remove(&id);
            Ok(())
        })
        .map(|_| ())
    }

    /// Applies `change` to a copy of the cached policy, stores it, then swaps it in.
    fn change_policy<T>(
        &self,
        scope: &Scope,
        name: &str,
        change: impl FnOnce(&mut CachedPolicy) -> Result<T, RegistryError>,
    ) -> Result<(Policy, T), RegistryError> {
        let mut policies = self.policies.write();
        let cached =
            policies.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| policy_not_found(name))?;
        let mut next = cached.clone();
        let out = change(&mut next)?;
        next.policy.last_modified = self.now_secs();
        self.put(POLICY, scope, name, &next.policy)?;
        *cached = next;
        Ok((cached.policy.clone(), out))
    }

    /// AttachPolicy (and the older AttachPrincipalPolicy).
    pub fn attach_policy(&self, scope: &Scope, name: &str, target: &str) -> Result<(), RegistryError> {
        if !self.policies.read().contains_key(&(scope.clone(), name.to_string())) {
            return Err(policy_not_found(name));
        }
        self.check_policy_target(scope, target)?;
        // "Dynamic thing groups can't have policies applied to them" (dynamic-thing-groups.md).
        let group =
            target.strip_prefix(&format!("arn:aws:iot:{}:{}:thinggroup/", scope.region, scope.account));
        if group.is_some_and(|g| self.is_dynamic_group(scope, g)) {
            return Err(RegistryError::InvalidRequest(format!(
                "Policies cannot be attached to dynamic thing group {}.",
                group.unwrap_or_default()
            )));
        }
        self.change_targets(scope, target, |set| {
            if set.len() >= MAX_POLICIES_PER_TARGET && !set.contains(name) {
                return Err(RegistryError::LimitExceeded(format!(
                    "A target can have at most {MAX_POLICIES_PER_TARGET} policies attached"
                )));
            }
            set.insert(name.to_string());
            Ok(())
        })
    }

    /// DetachPolicy (and DetachPrincipalPolicy); detaching what is not attached succeeds.
    pub fn detach_policy(&self, scope: &Scope, name: &str, target: &str) -> Result<(), RegistryError> {
        self.change_targets(scope, target, |set| {
            set.remove(name);
            Ok(())
        })
    }

    fn change_targets(
        &self,
        scope: &Scope,
        target: &str,
        change: impl FnOnce(&mut BTreeSet<String>) -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        let mut targets = self.policy_targets.write();
        let key = (scope.clone(), target.to_string());
        let mut next = targets.get(&key).cloned().unwrap_or_default();
        change(&mut next)?;
        if next.is_empty() {
            self.store.delete(POLICY_TARGETS, scope, target)?;
            targets.remove(&key);
        } else {
            self.put(POLICY_TARGETS, scope, target, &next)?;
            targets.insert(key, next);
        }
        Ok(())
    }

    /// A certificate ARN must name a known certificate; other targets are identities.
    fn check_policy_target(&self, scope: &Scope, target: &str) -> Result<(), RegistryError> {
        if target.is_empty() {
            return Err(RegistryError::InvalidRequest("target must not be empty".into()));
        }
        if target.starts_with("arn:aws:iot:") && target.contains(":cert/") {
            let known = self.certificates.read().iter().any(|((s, _), c)| s == scope && c.arn == target);
            if !known {
                return Err(RegistryError::NotFound(format!("The certificate {target} cannot be found.")));
            }
        }
        if let Some((_, group)) =
            target.split_once(":thinggroup/").filter(|_| target.starts_with("arn:aws:iot:"))
        {
            if !self.thing_groups.read().contains_key(&(scope.clone(), group.to_string())) {
                return Err(RegistryError::NotFound(format!("Thing group {group} cannot be found.")));
            }
        }
        Ok(())
    }

    /// Gives a certificate registered on first use (one from `iotemu certs create-device`
    /// without `--no-policy`) the `iotemu-allow-all` policy, creating the policy if needed.
    pub(crate) fn grant_allow_all(&self, scope: &Scope, certificate_arn: &str) -> Result<(), RegistryError> {
        match self.create_policy(scope, ALLOW_ALL_POLICY, ALLOW_ALL_DOCUMENT) {
            Ok(_) | Err(RegistryError::AlreadyExistsResource { .. }) => {}
            Err(e) => return Err(e),
        }
        self.attach_policy(scope, ALLOW_ALL_POLICY, certificate_arn)
    }

    /// The names of the policies attached to `target` directly.
    pub fn policies_of(&self, scope: &Scope, target: &str) -> Vec<String> {
        let targets = self.policy_targets.read();
        targets
            .get(&(scope.clone(), target.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The targets `policy` is attached to.
    fn targets_of(&self, scope: &Scope, policy: &str) -> Vec<String> {
        let targets = self.policy_targets.read();
        targets
            .iter()
            .filter(|((s, _), names)| s == scope && names.contains(policy))
            .map(|((_, target), _)| target.clone())
            .collect()
    }

    /// ListAttachedPolicies; `recursive` adds, for a thing group, the policies of its ancestors.
    pub fn list_attached_policies(
        &self,
        scope: &Scope,
        target: &str,
        recursive: bool,
        marker: Option<&str>,
        size: Option<usize>,
    ) -> Result<(Vec<Policy>, Option<String>), RegistryError> {
        self.check_policy_target(scope, target)?;
        let mut names: BTreeSet<String> = self.policies_of(scope, target).into_iter().collect();
        if let Some((_, group)) = target.split_once(":thinggroup/").filter(|_| recursive) {
            let ancestors: Vec<String> = {
                let groups = self.thing_groups.read();
                crate::thing_groups::ancestors(&groups, scope, group).iter().map(|g| g.name.clone()).collect()
            };
            for ancestor in ancestors {
                names.extend(self.policies_of(scope, &self.group_arn(scope, &ancestor)));
            }
        }
        let policies = self.policies.read();
        let attached: Vec<Policy> = names
            .iter()
            .filter_map(|n| policies.get(&(scope.clone(), n.clone())).map(|c| c.policy.clone()))
            .collect();
        marker_page(attached, |p| p.name.as_str(), marker, size)
    }

    /// ListTargetsForPolicy.
    pub fn list_targets_for_policy(
        &self,
        scope: &Scope,
        name: &str,
        marker: Option<&str>,
        size: Option<usize>,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.get_policy(scope, name)?;
        marker_page(self.targets_of(scope, name), |t| t.as_str(), marker, size)
    }

    /// GetEffectivePolicies: the policies of `principal`, and those of the thing groups of
    /// `thing_name` (when given).
    pub fn get_effective_policies(
        &self,
        scope: &Scope,
        principal: Option<&str>,
        thing_name: Option<&str>,
    ) -> Result<Vec<Policy>, RegistryError> {
        if let Some(thing) = thing_name {
            self.describe_thing(scope, thing)?;
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        if let Some(principal) = principal {
            self.check_policy_target(scope, principal)?;
            names.extend(self.policies_of(scope, principal));
        }
        if let Some(thing) = thing_name {
            names.extend(self.thing_group_policies(scope, thing));
        }
        let policies = self.policies.read();
        Ok(names
            .iter()
            .filter_map(|n| policies.get(&(scope.clone(), n.clone())).map(|c| c.policy.clone()))
            .collect())
    }

    /// The policies attached to the thing groups of `thing` and to their ancestors.
    fn thing_group_policies(&self, scope: &Scope, thing: &str) -> Vec<String> {
        self.thing_group_hierarchy(scope, thing)
            .iter()
            .flat_map(|group| self.policies_of(scope, &self.group_arn(scope, group)))
            .collect()
    }

    fn group_arn(&self, scope: &Scope, group: &str) -> String {
        format!("arn:aws:iot:{}:{}:thinggroup/{group}", scope.region, scope.account)
    }

    /// Whether `client` may do `action` on `resource` in `scope`, by the policies of its
    /// principal (and of the thing groups of its attached thing).
    pub fn authorize(&self, scope: &Scope, client: &ClientInfo, action: IotAction, resource: &str) -> bool {
        let target = self.principal_target(scope, &client.principal_id);
        let vars =
            ConnectionVariables { registry: self, scope, client, target: &target, thing: OnceCell::new() };
        let mut names = self.policies_of(scope, &target);
        if let Some(thing) = vars.attached_thing() {
            names.extend(self.thing_group_policies(scope, &thing.name));
        }
        if names.is_empty() {
            return false;
        }
        let docs: Vec<Arc<PolicyDocument>> = {
            let policies = self.policies.read();
            names
                .iter()
                .filter_map(|n| policies.get(&(scope.clone(), n.clone())).map(|c| c.compiled.clone()))
                .collect()
        };
        let arn =
            format!("arn:aws:iot:{}:{}:{}/{resource}", scope.region, scope.account, action.resource_type());
        PolicyDocument::evaluate(docs.iter().map(|d| d.as_ref()), action.name(), &arn, &vars)
            == Decision::Allow
    }

    /// The policy target of a principal id: a certificate id becomes its ARN.
    fn principal_target(&self, scope: &Scope, principal: &str) -> String {
        if principal.len() == 64 && principal.bytes().all(|b| b.is_ascii_hexdigit()) {
            format!("arn:aws:iot:{}:{}:cert/{principal}", scope.region, scope.account)
        } else {
            principal.to_string()
        }
    }
}

/// The policy variables of one connected client, resolved lazily.
struct ConnectionVariables<'a> {
    registry: &'a Registry,
    scope: &'a Scope,
    client: &'a ClientInfo,
    /// The principal's policy target (a certificate ARN).
    target: &'a str,
    thing: OnceCell<Option<Thing>>,
}

impl ConnectionVariables<'_> {
    /// The thing named by the client id, when it is attached to the client's principal
    /// (`thing-policy-variables.md`: "Thing name is taken as client Id").
    fn attached_thing(&self) -> Option<&Thing> {
        self.thing
            .get_or_init(|| {
                let things = self.registry.things.read();
                let thing = things.get(&(self.scope.clone(), self.client.client_id.to_string()))?;
                thing.principals.contains(self.target).then(|| thing.clone())
            })
            .as_ref()
    }

    fn certificate_field(&self, path: &str) -> Option<String> {
        let id = self.client.principal_id.as_ref();
        let pem = self.registry.certificates.read().get(&(self.scope.clone(), id.to_string()))?.pem.clone();
        certificate_name_field(&pem, path)
    }
}

impl PolicyVariables for ConnectionVariables<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "iot:clientid" => Some(self.client.client_id.to_string()),
            "aws:sourceip" => Some(self.client.source_ip.to_string()),
            "iot:certificateid" => {
                self.target.contains(":cert/").then(|| self.client.principal_id.to_string())
            }
            "iot:connection.thing.isattached" => Some(self.attached_thing().is_some().to_string()),
            "iot:connection.thing.thingname" => self.attached_thing().map(|t| t.name.clone()),
            "iot:connection.thing.thingtypename" => self.attached_thing().and_then(|t| t.type_name.clone()),
            _ => {
                if lower.starts_with("iot:connection.thing.attributes[") && name.ends_with(']') {
                    let attribute = &name["iot:Connection.Thing.Attributes[".len()..name.len() - 1];
                    return self.attached_thing().and_then(|t| t.attributes.get(attribute).cloned());
                }
                lower.strip_prefix("iot:certificate.").and_then(|path| self.certificate_field(path))
            }
        }
    }
}

/// `subject.commonname`, `issuer.organization.1` and the like (`cert-policy-variables.md`): the
/// first value of the attribute, or the one-based-index-th one after it.
fn certificate_name_field(pem_text: &str, path: &str) -> Option<String> {
    let (which, rest) = path.split_once('.')?;
    let (attribute, index) = match rest.rsplit_once('.') {
        Some((a, i)) if i.bytes().all(|b| b.is_ascii_digit()) => (a, i.parse::<usize>().ok()?),
        _ => (rest, 0),
    };
    let der = pem::parse(pem_text).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.contents()).ok()?;
    let name = match which {
        "subject" => cert.subject(),
        "issuer" => cert.issuer(),
        _ => return None,
    };
    use x509_parser::oid_registry as oids;
    let oid = match attribute {
        "commonname" => oids::OID_X509_COMMON_NAME,
        "organization" => oids::OID_X509_ORGANIZATION_NAME,
        "organizationalunit" => oids::OID_X509_ORGANIZATIONAL_UNIT,
        "country" => oids::OID_X509_COUNTRY_NAME,
        "state" => oids::OID_X509_STATE_OR_PROVINCE_NAME,
        "locality" => oids::OID_X509_LOCALITY_NAME,
        "serialnumber" => oids::OID_X509_SERIALNUMBER,
        "title" => oids::OID_X509_TITLE,
        "surname" => oids::OID_X509_SURNAME,
        "givenname" => oids::OID_X509_GIVEN_NAME,
        "initials" => oids::OID_X509_INITIALS,
        "generationqualifier" => oids::OID_X509_GENERATION_QUALIFIER,
        "distinguishednamequalifier" => oids::OID_X509_DN_QUALIFIER,
        _ => return None,
    };
    let value = name.iter_by_oid(&oid).nth(index)?.as_str().ok()?.to_string();
    Some(value)
}

/// The registry as the broker's [`DeviceAuthorizer`], for the account and region the MQTT
/// listeners serve.
pub struct RegistryAuthorizer {
    pub registry: Arc<Registry>,
    pub scope: Scope,
}

impl DeviceAuthorizer for RegistryAuthorizer {
    fn authorize(&self, client: &ClientInfo, action: IotAction, resource: &str) -> bool {
        self.registry.authorize(&self.scope, client, action, resource)
    }
}
