//! Registry operations. Reads come from the in-memory cache; every mutation is written to the
//! store before it returns.

use crate::ca::CertAuthority;
use crate::certificates::{CaCertificate, CA_CERTIFICATE, REGISTRATION_CODE};
use crate::paging::{marker_page, paginate, Page};
use crate::policies;
use crate::state::ThingType;
use crate::state::{
    apply_attributes, check_attributes, check_thing_name, Certificate, Thing, CERTIFICATE_STATUSES,
};
use crate::thing_groups::{self, Groups, Memberships};
use crate::RegistryError;
use iotemu_core::{AuthnFailure, DeviceAuthenticator, DeviceTrust, TrustedCas};
use iotemu_store::{Scope, Store};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

const THING: &str = "thing";
pub(crate) const CERTIFICATE: &str = "certificate";
const THING_TYPE: &str = "thing-type";

/// Called with a certificate id and AWS's AuthN reason code when it stops being ACTIVE.
type DeactivationHook = Box<dyn Fn(&str, &'static str) + Send + Sync>;

/// The registry of every account and region.
pub struct Registry {
    pub(crate) store: Arc<Store>,
    pub(crate) ca: Arc<CertAuthority>,
    /// The emulator CA's certificate (DER), which the MQTTS listener always trusts.
    pub(crate) emulator_ca_der: Vec<u8>,
    /// Told when a certificate stops being ACTIVE (the broker disconnects its clients).
    on_deactivate: std::sync::OnceLock<DeactivationHook>,
    // Lock order: things, thing_groups, group_memberships, certificates, thing_types,
    // ca_certificates, registration_codes, policies, policy_targets; a method taking two locks
    // takes them in this order.
    pub(crate) things: RwLock<BTreeMap<(Scope, String), Thing>>,
    pub(crate) thing_groups: RwLock<Groups>,
    pub(crate) group_memberships: RwLock<Memberships>,
    pub(crate) certificates: RwLock<BTreeMap<(Scope, String), Certificate>>,
    thing_types: RwLock<BTreeMap<(Scope, String), ThingType>>,
    pub(crate) ca_certificates: RwLock<BTreeMap<(Scope, String), CaCertificate>>,
    /// GetRegistrationCode's code, per scope (key `code`).
    pub(crate) registration_codes: RwLock<BTreeMap<(Scope, String), String>>,
    /// Goes up whenever the ACTIVE CAs may have changed, under the CA cache's write lock.
    pub(crate) trust_generation: std::sync::atomic::AtomicU64,
    pub(crate) policies: RwLock<policies::PolicyCache>,
    /// Target (certificate ARN, thing group ARN, identity) -> names of its policies.
    pub(crate) policy_targets: RwLock<policies::TargetCache>,
}

/// What CreateKeysAndCertificate returns: the certificate and its keys.
pub struct NewCertificate {
    pub certificate: Certificate,
    pub public_key_pem: String,
    pub private_key_pem: String,
}

/// UpdateThing's input.
#[derive(Debug, Default)]
pub struct UpdateThing {
    pub type_name: Option<String>,
    pub remove_type: bool,
    /// Attributes and whether to merge them.
    pub attributes: Option<(BTreeMap<String, String>, bool)>,
    pub expected_version: Option<i64>,
}

/// ListThings' filters and page.
#[derive(Debug, Default)]
pub struct ListThings {
    pub attribute: Option<(String, String)>,
    pub use_prefix: bool,
    pub type_name: Option<String>,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

impl Registry {
    /// Loads the registry from `store`; `ca` issues CreateKeysAndCertificate's certificates.
    pub fn load(store: Arc<Store>, ca: Arc<CertAuthority>) -> Result<Self, RegistryError> {
        let things = load_kind(&store, THING)?;
        let certificates = load_kind(&store, CERTIFICATE)?;
        let thing_types = load_kind(&store, THING_TYPE)?;
        let (thing_groups, group_memberships) = thing_groups::load(&store)?;
        let (policies, policy_targets) = policies::load(&store)?;
        let ca_certificates = load_kind(&store, CA_CERTIFICATE)?;
        let registration_codes = load_kind(&store, REGISTRATION_CODE)?;
        let emulator_ca_der = ca.cert_der().map_err(|e| RegistryError::Internal(e.to_string()))?.to_vec();
        Ok(Registry {
            store,
            ca,
            emulator_ca_der,
            on_deactivate: std::sync::OnceLock::new(),
            things: RwLock::new(things),
            certificates: RwLock::new(certificates),
            thing_types: RwLock::new(thing_types),
            thing_groups: RwLock::new(thing_groups),
            group_memberships: RwLock::new(group_memberships),
            policies: RwLock::new(policies),
            policy_targets: RwLock::new(policy_targets),
            ca_certificates: RwLock::new(ca_certificates),
            registration_codes: RwLock::new(registration_codes),
            trust_generation: Default::default(),
        })
    }

    /// Sets what happens when a certificate becomes INACTIVE or REVOKED: `f(certificate_id,
    /// reason)`, with AWS's AuthN reason code.
    pub fn on_deactivate(&self, f: impl Fn(&str, &'static str) + Send + Sync + 'static) {
        let _ = self.on_deactivate.set(Box::new(f));
    }

    /// Whether the certificate `id` (let in by TLS, see [`Registry::trusted_cas`]) may connect in
    /// `scope`: a certificate the registry does not know yet is registered ACTIVE on first use
    /// if the emulator's CA or an ACTIVE registered CA signed it (`register_on_first_use`); one
    /// of the emulator's CA (say, from `iotemu certs create-device`) also gets the
    /// `iotemu-allow-all` policy unless it was made with `--no-policy`, so that a device works
    /// before anyone calls the API. INACTIVE and REVOKED ones are refused.
    pub fn authenticate_certificate(&self, scope: &Scope, id: &str, der: &[u8]) -> Result<(), AuthnFailure> {
        let known = self.certificates.read().get(&(scope.clone(), id.to_string())).map(|c| c.status.clone());
        let status = match known {
            Some(status) => status,
            None => {
                let registered = self.register_on_first_use(scope, id, der)?;
                if registered.ca_certificate_id.is_none() {
                    self.grant_first_use_policy(scope, &registered.arn, id).map_err(|e| AuthnFailure {
                        reason: "INTERNAL_SERVER_ERROR",
                        details: e.to_string(),
                    })?;
                }
                registered.status
            }
        };
        match status.as_str() {
            "ACTIVE" => Ok(()),
            "REVOKED" => Err(AuthnFailure {
                reason: "DEVICE_CERTIFICATE_REVOKED",
                details: format!("Certificate {id} is revoked"),
            }),
            _ => Err(AuthnFailure {
                reason: "DEVICE_CERTIFICATE_INACTIVE",
                details: format!("Certificate {id} is {status}, not ACTIVE"),
            }),
        }
    }

    fn save(&self, scope: &Scope, thing: &Thing) -> Result<(), RegistryError> {
        self.put(THING, scope, &thing.name, thing)
    }

    pub(crate) fn put<T: serde::Serialize>(
        &self,
        kind: &str,
        scope: &Scope,
        key: &str,
        doc: &T,
    ) -> Result<(), RegistryError> {
        let value = serde_json::to_value(doc).map_err(|e| RegistryError::Internal(e.to_string()))?;
        Ok(self.store.put(kind, scope, key, &value)?)
    }

    /// CreateThing: idempotent for the same configuration, ResourceAlreadyExistsException for
    /// another (botocore documentation of CreateThing).
    pub fn create_thing(
        &self,
        scope: &Scope,
        name: &str,
        type_name: Option<String>,
        attributes: BTreeMap<String, String>,
    ) -> Result<Thing, RegistryError> {
        check_thing_name(name)?;
        check_attributes(&attributes)?;
        if let Some(type_name) = &type_name {
            self.check_type_usable(scope, type_name)?;
        }
        let mut things = self.things.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = things.get(&key) {
            if existing.type_name == type_name && existing.attributes == attributes {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExists(format!(
                "Thing {name} already exists in account with different attributes"
            )));
        }
        let thing = Thing {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thing/{name}", scope.region, scope.account),
            type_name,
            attributes,
            version: 1,
            principals: Default::default(),
        };
        self.save(scope, &thing)?;
        things.insert(key, thing.clone());
        Ok(thing)
    }

    /// DescribeThing.
    pub fn describe_thing(&self, scope: &Scope, name: &str) -> Result<Thing, RegistryError> {
        self.things.read().get(&(scope.clone(), name.to_string())).cloned().ok_or_else(|| not_found(name))
    }

    /// UpdateThing: `expectedVersion` must match; the version goes up by one.
    pub fn update_thing(&self, scope: &Scope, name: &str, update: UpdateThing) -> Result<(), RegistryError> {
        if let Some(type_name) = &update.type_name {
            self.check_type_usable(scope, type_name)?;
        }
        let mut things = self.things.write();
        let thing = things.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        check_version(thing, update.expected_version)?;
        if update.remove_type && update.type_name.is_some() {
            return Err(RegistryError::InvalidRequest(
                "removeThingType and thingTypeName cannot be given together".into(),
            ));
        }
        let mut next = thing.clone();
        if update.remove_type {
            next.type_name = None;
        } else if update.type_name.is_some() {
            next.type_name = update.type_name;
        }
        if let Some((attributes, merge)) = update.attributes {
            apply_attributes(&mut next.attributes, attributes, merge);
            check_attributes(&next.attributes)?;
        }
        next.version += 1;
        self.save(scope, &next)?;
        *thing = next;
        Ok(())
    }

    /// DeleteThing: deleting a thing that does not exist succeeds, as on AWS; the thing leaves
    /// its thing groups.
    pub fn delete_thing(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let key = (scope.clone(), name.to_string());
        let Some(thing) = things.get(&key) else { return Ok(()) };
        check_version(thing, expected_version)?;
        self.forget_memberships(scope, name)?;
        self.store.delete(THING, scope, name)?;
        things.remove(&key);
        Ok(())
    }

    /// ListThings, by name, one page: the things and the token of the next page.
    pub fn list_things(
        &self,
        scope: &Scope,
        query: &ListThings,
    ) -> Result<(Vec<Thing>, Option<String>), RegistryError> {
        let max = query.max_results.unwrap_or(50);
        if !(1..=250).contains(&max) {
            return Err(RegistryError::InvalidRequest("maxResults must be between 1 and 250".into()));
        }
        let things = self.things.read();
        let start = (scope.clone(), query.next_token.clone().unwrap_or_default());
        let mut page = Vec::new();
        let mut matching = things
            .range(start..)
            .take_while(|((s, _), _)| s == scope)
            // The token is the last name of the previous page.
            .filter(|((_, name), _)| query.next_token.as_deref() != Some(name.as_str()))
            .map(|(_, t)| t)
            .filter(|t| query.type_name.as_ref().is_none_or(|ty| t.type_name.as_ref() == Some(ty)))
            .filter(|t| match &query.attribute {
                None => true,
                Some((name, value)) => t.attributes.get(name).is_some_and(|v| {
                    if query.use_prefix {
                        v.starts_with(value.as_str())
                    } else {
                        v == value
                    }
                }),
            });
        for thing in matching.by_ref().take(max) {
            page.push(thing.clone());
        }
        let next = matching.next().and(page.last().map(|t| t.name.clone()));
        Ok((page, next))
    }

    /// A thing may get `type_name` only if the type exists and is not deprecated.
    fn check_type_usable(&self, scope: &Scope, type_name: &str) -> Result<(), RegistryError> {
        match self.thing_types.read().get(&(scope.clone(), type_name.to_string())) {
            None => Err(RegistryError::NotFound(format!("Thing type {type_name} cannot be found."))),
            Some(t) if t.deprecated => Err(RegistryError::InvalidRequest(format!(
                "Thing type {type_name} is deprecated; new things cannot use it"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// CreateThingType (idempotent for the same properties).
    pub fn create_thing_type(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        searchable_attributes: Vec<String>,
    ) -> Result<ThingType, RegistryError> {
        check_thing_name(name)?;
        let mut types = self.thing_types.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = types.get(&key) {
            if existing.description == description && existing.searchable_attributes == searchable_attributes
            {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExists(format!("Thing type {name} already exists")));
        }
        let thing_type = ThingType {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thingtype/{name}", scope.region, scope.account),
            description,
            searchable_attributes,
            deprecated: false,
            deprecation_date: None,
            created: now_secs(),
        };
        self.put(THING_TYPE, scope, name, &thing_type)?;
        types.insert(key, thing_type.clone());
        Ok(thing_type)
    }

    /// DescribeThingType.
    pub fn describe_thing_type(&self, scope: &Scope, name: &str) -> Result<ThingType, RegistryError> {
        self.thing_types
            .read()
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))
    }

    /// ListThingTypes, by name, optionally one name only; one page.
    pub fn list_thing_types(
        &self,
        scope: &Scope,
        name: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<ThingType>, Option<String>), RegistryError> {
        let types: Vec<ThingType> = self
            .thing_types
            .read()
            .iter()
            .filter(|((s, n), _)| s == scope && name.is_none_or(|wanted| wanted == n))
            .map(|(_, t)| t.clone())
            .collect();
        paginate(types, |t| t.name.as_str(), page)
    }

    /// DeprecateThingType (or undo it).
    pub fn deprecate_thing_type(&self, scope: &Scope, name: &str, undo: bool) -> Result<(), RegistryError> {
        let mut types = self.thing_types.write();
        let thing_type = types
            .get_mut(&(scope.clone(), name.to_string()))
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))?;
        let mut next = thing_type.clone();
        next.deprecated = !undo;
        next.deprecation_date = (!undo).then(now_secs);
        self.put(THING_TYPE, scope, name, &next)?;
        *thing_type = next;
        Ok(())
    }

    /// DeleteThingType: only a deprecated type that no thing uses. (AWS also makes you wait
    /// five minutes after deprecating; the emulator does not.)
    pub fn delete_thing_type(&self, scope: &Scope, name: &str) -> Result<(), RegistryError> {
        // Lock order (see `Registry`): things before thing types.
        let things = self.things.read();
        let mut types = self.thing_types.write();
        let key = (scope.clone(), name.to_string());
        let thing_type = types
            .get(&key)
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))?;
        if !thing_type.deprecated {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing type {name} must be deprecated before it is deleted"
            )));
        }
        let used = things.iter().any(|((s, _), t)| s == scope && t.type_name.as_deref() == Some(name));
        if used {
            return Err(RegistryError::InvalidRequest(format!("Thing type {name} is still used by things")));
        }
        self.store.delete(THING_TYPE, scope, name)?;
        types.remove(&key);
        Ok(())
    }

    /// CreateKeysAndCertificate: a key pair and a certificate signed by the emulator's CA (the
    /// same code as `iotemu certs create-device`), ACTIVE when `set_as_active`, else INACTIVE.
    pub fn create_keys_and_certificate(
        &self,
        scope: &Scope,
        set_as_active: bool,
    ) -> Result<NewCertificate, RegistryError> {
        self.create_keys_and_certificate_with_status(scope, if set_as_active { "ACTIVE" } else { "INACTIVE" })
    }

    /// CreateKeysAndCertificate with the certificate in `status` (fleet provisioning's MQTT
    /// CreateKeysAndCertificate makes it PENDING_ACTIVATION).
    pub fn create_keys_and_certificate_with_status(
        &self,
        scope: &Scope,
        status: &str,
    ) -> Result<NewCertificate, RegistryError> {
        let issued = self
            .ca
            .issue_client("AWS IoT Certificate")
            .map_err(|e| RegistryError::Internal(e.to_string()))?;
        let now = now_secs();
        let certificate = Certificate {
            arn: format!("arn:aws:iot:{}:{}:cert/{}", scope.region, scope.account, issued.certificate_id),
            id: issued.certificate_id,
            pem: issued.cert_pem,
            status: status.to_string(),
            ca_certificate_id: None,
            owned_by: scope.account.clone(),
            created: now,
            last_modified: now,
            not_before: issued.not_before,
            not_after: issued.not_after,
            generation_id: uuid::Uuid::new_v4().to_string(),
            certificate_mode: "DEFAULT".into(),
        };
        self.put(CERTIFICATE, scope, &certificate.id, &certificate)?;
        self.certificates.write().insert((scope.clone(), certificate.id.clone()), certificate.clone());
        Ok(NewCertificate {
            certificate,
            public_key_pem: issued.public_key_pem,
            private_key_pem: issued.key_pem,
        })
    }

    /// DescribeCertificate.
    pub fn describe_certificate(&self, scope: &Scope, id: &str) -> Result<Certificate, RegistryError> {
        self.certificates
            .read()
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| cert_not_found(id))
    }

    /// ListCertificates, by creation time (ascending unless `descending`), one page of `size`.
    pub fn list_certificates(
        &self,
        scope: &Scope,
        size: usize,
        marker: Option<&str>,
        ascending: bool,
    ) -> Result<(Vec<Certificate>, Option<String>), RegistryError> {
        let mut all: Vec<Certificate> = self
            .certificates
            .read()
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, c)| c.clone())
            .collect();
        all.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        if !ascending {
            all.reverse();
        }
        marker_page(all, |c| c.id.as_str(), marker, Some(size))
    }

    /// UpdateCertificate: a REVOKED certificate stays REVOKED (CertificateStateException).
    pub fn update_certificate(&self, scope: &Scope, id: &str, status: &str) -> Result<(), RegistryError> {
        if !CERTIFICATE_STATUSES.contains(&status) {
            return Err(RegistryError::InvalidRequest(format!("invalid newStatus {status:?}")));
        }
        let mut certificates = self.certificates.write();
        let certificate =
            certificates.get_mut(&(scope.clone(), id.to_string())).ok_or_else(|| cert_not_found(id))?;
        if certificate.status == "REVOKED" && status != "REVOKED" {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {id} is revoked and cannot be changed"
            )));
        }
        let mut next = certificate.clone();
        next.status = status.to_string();
        next.last_modified = now_secs();
        self.put(CERTIFICATE, scope, id, &next)?;
        *certificate = next;
        drop(certificates);
        if status != "ACTIVE" {
            let reason = if status == "REVOKED" {
                "DEVICE_CERTIFICATE_REVOKED"
            } else {
                "DEVICE_CERTIFICATE_INACTIVE"
            };
            if let Some(f) = self.on_deactivate.get() {
                f(id, reason);
            }
        }
        Ok(())
    }

    /// DeleteCertificate: only when not ACTIVE and attached to no thing.
    pub fn delete_certificate(&self, scope: &Scope, id: &str) -> Result<(), RegistryError> {
        // Lock order (see `Registry`): things before certificates.
        let things = self.things.read();
        let mut certificates = self.certificates.write();
        let key = (scope.clone(), id.to_string());
        let certificate = certificates.get(&key).ok_or_else(|| cert_not_found(id))?;
        if certificate.status == "ACTIVE" {
            return Err(RegistryError::CertificateState(
                "Certificate must be deactivated before deletion.".to_string(),
            ));
        }
        let attached = things.iter().any(|((s, _), t)| s == scope && t.principals.contains(&certificate.arn));
        if attached {
            return Err(RegistryError::DeleteConflict(
                "Things must be detached before deletion.".to_string(),
            ));
        }
        if !self.policies_of(scope, &certificate.arn).is_empty() {
            return Err(RegistryError::DeleteConflict(
                "Certificate policies must be detached before deletion.".to_string(),
            ));
        }
        self.store.delete(CERTIFICATE, scope, id)?;
        certificates.remove(&key);
        Ok(())
    }

    /// AttachThingPrincipal (the principal must be a known certificate ARN).
    pub fn attach_thing_principal(
        &self,
        scope: &Scope,
        thing: &str,
        principal: &str,
    ) -> Result<(), RegistryError> {
        self.check_principal(scope, principal)?;
        self.change_principals(scope, thing, |set| {
            set.insert(principal.to_string());
        })
    }

    /// DetachThingPrincipal.
    pub fn detach_thing_principal(
        &self,
        scope: &Scope,
        thing: &str,
        principal: &str,
    ) -> Result<(), RegistryError> {
        self.change_principals(scope, thing, |set| {
            set.remove(principal);
        })
    }

    fn change_principals(
        &self,
        scope: &Scope,
        name: &str,
        change: impl FnOnce(&mut std::collections::BTreeSet<String>),
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let thing = things.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        let mut next = thing.clone();
        change(&mut next.principals);
        self.save(scope, &next)?;
        *thing = next;
        Ok(())
    }

    fn check_principal(&self, scope: &Scope, principal: &str) -> Result<(), RegistryError> {
        let known = self.certificates.read().iter().any(|((s, _), c)| s == scope && c.arn == principal);
        known
            .then_some(())
            .ok_or_else(|| RegistryError::NotFound(format!("Principal {principal} cannot be found.")))
    }

    /// ListThingPrincipals, one page.
    pub fn thing_principals(
        &self,
        scope: &Scope,
        name: &str,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let principals = self.describe_thing(scope, name)?.principals.into_iter().collect();
        paginate(principals, |p| p.as_str(), page)
    }

    /// ListPrincipalThings, one page.
    pub fn principal_things(
        &self,
        scope: &Scope,
        principal: &str,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.check_principal(scope, principal)?;
        let things = self
            .things
            .read()
            .iter()
            .filter(|((s, _), t)| s == scope && t.principals.contains(principal))
            .map(|(_, t)| t.name.clone())
            .collect();
        paginate(things, |t| t.as_str(), page)
    }

    /// Forgets everything (`POST /_iotemu/reset`).
    pub fn reset(&self) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let mut thing_groups = self.thing_groups.write();
        let mut group_memberships = self.group_memberships.write();
        let mut certificates = self.certificates.write();
        let mut thing_types = self.thing_types.write();
        let mut ca_certificates = self.ca_certificates.write();
        let mut registration_codes = self.registration_codes.write();
        let mut policies = self.policies.write();
        let mut policy_targets = self.policy_targets.write();
        self.store.clear()?;
        things.clear();
        thing_groups.clear();
        group_memberships.clear();
        certificates.clear();
        thing_types.clear();
        ca_certificates.clear();
        registration_codes.clear();
        policies.clear();
        policy_targets.clear();
        self.trust_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

pub(crate) fn load_kind<T: serde::de::DeserializeOwned>(
    store: &Store,
    kind: &str,
) -> Result<BTreeMap<(Scope, String), T>, RegistryError> {
    let mut out = BTreeMap::new();
    for doc in store.all(kind)? {
        let value = serde_json::from_value(doc.value).map_err(|e| RegistryError::Internal(e.to_string()))?;
        out.insert((doc.scope, doc.key), value);
    }
    Ok(out)
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn cert_not_found(id: &str) -> RegistryError {
    RegistryError::NotFound(format!("The certificate {id} cannot be found."))
}

fn not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Thing {name} cannot be found."))
}

fn check_version(thing: &Thing, expected: Option<i64>) -> Result<(), RegistryError> {
    match expected {
        Some(v) if v != thing.version => Err(RegistryError::VersionConflict(format!(
            "The version for thing {} does not match the expected version.",
            thing.name
        ))),
        _ => Ok(()),
    }
}

/// The registry as the broker's [`DeviceAuthenticator`] and [`DeviceTrust`], for the account and
/// region the MQTT listeners serve.
pub struct RegistryAuthenticator {
    registry: Arc<Registry>,
    scope: Scope,
    /// The last [`TrustedCas`], kept until the registry's trust generation moves on.
    trusted: parking_lot::Mutex<Option<TrustedCas>>,
}

impl RegistryAuthenticator {
    pub fn new(registry: Arc<Registry>, scope: Scope) -> Self {
        RegistryAuthenticator { registry, scope, trusted: Default::default() }
    }
}

impl DeviceAuthenticator for RegistryAuthenticator {
    fn authenticate(&self, certificate_id: &str, der: &[u8]) -> Result<(), AuthnFailure> {
        self.registry.authenticate_certificate(&self.scope, certificate_id, der)
    }
}

impl DeviceTrust for RegistryAuthenticator {
    fn trusted_cas(&self) -> TrustedCas {
        let generation = self.registry.trust_generation.load(std::sync::atomic::Ordering::SeqCst);
        let mut trusted = self.trusted.lock();
        match trusted.as_ref() {
            Some(cached) if cached.generation == generation => cached.clone(),
            _ => {
                let fresh = self.registry.trusted_cas(&self.scope);
                *trusted = Some(fresh.clone());
                fresh
            }
        }
    }

    fn is_registered(&self, certificate_id: &str) -> bool {
        self.registry.is_registered(&self.scope, certificate_id)
    }
}
