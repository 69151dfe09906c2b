//! The registry: every area's documents of every account and region, cached in memory and
//! written through to the store (the operations are in each area's `service.rs`), and what the
//! broker asks about devices ([`RegistryAuthenticator`]).

use crate::ca::CertAuthority;
use crate::certificates::service::CERTIFICATE;
use crate::certificates::state::Certificate;
use crate::certificates::{CaCertificate, CA_CERTIFICATE, REGISTRATION_CODE};
use crate::policies;
use crate::thing_groups::{self, Groups, Memberships};
use crate::things::service::{THING, THING_TYPE};
use crate::things::state::{Thing, ThingType};
use crate::RegistryError;
use iotemu_core::Scope;
use iotemu_core::{AuthnFailure, Clock, DeviceAuthenticator, DeviceTrust, SystemClock, TrustedCas};
use iotemu_store::Store;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Called with a certificate id and AWS's AuthN reason code when it stops being ACTIVE.
type DeactivationHook = Box<dyn Fn(&str, &'static str) + Send + Sync>;

/// The registry of every account and region.
pub struct Registry {
    pub(crate) store: Arc<Store>,
    /// Creation and modification dates.
    clock: Arc<dyn Clock>,
    pub(crate) ca: Arc<CertAuthority>,
    /// The emulator CA's certificate (DER), which the MQTTS listener always trusts.
    pub(crate) emulator_ca_der: Vec<u8>,
    /// Told when a certificate stops being ACTIVE (the broker disconnects its clients).
    pub(crate) on_deactivate: std::sync::OnceLock<DeactivationHook>,
    /// Where registry events go (`events.rs`), once wired.
    pub(crate) events: std::sync::OnceLock<Arc<dyn iotemu_core::ResourceEvents>>,
    /// The fleet index, told of thing changes (`thing_groups/dynamic.rs`), once wired.
    pub(crate) index: std::sync::OnceLock<Arc<dyn iotemu_core::IndexFeed>>,
    // Lock order: things, thing_groups, group_memberships, certificates, thing_types,
    // ca_certificates, registration_codes, policies, policy_targets, billing_groups; a method taking two locks
    // takes them in this order.
    /// Loaded on a thread of its own at start (the largest cache); see [`crate::lazy`].
    pub(crate) things: crate::lazy::Lazy<BTreeMap<(Scope, String), Thing>>,
    pub(crate) thing_groups: RwLock<Groups>,
    pub(crate) group_memberships: RwLock<Memberships>,
    pub(crate) certificates: RwLock<BTreeMap<(Scope, String), Certificate>>,
    pub(crate) thing_types: RwLock<BTreeMap<(Scope, String), ThingType>>,
    pub(crate) ca_certificates: RwLock<BTreeMap<(Scope, String), CaCertificate>>,
    /// GetRegistrationCode's code, per scope (key `code`).
    pub(crate) registration_codes: RwLock<BTreeMap<(Scope, String), String>>,
    /// Goes up whenever the ACTIVE CAs may have changed, under the CA cache's write lock.
    pub(crate) trust_generation: std::sync::atomic::AtomicU64,
    pub(crate) policies: RwLock<policies::PolicyCache>,
    /// Target (certificate ARN, thing group ARN, identity) -> names of its policies.
    pub(crate) policy_targets: RwLock<policies::TargetCache>,
    pub(crate) billing_groups: RwLock<BTreeMap<(Scope, String), crate::BillingGroup>>,
    /// Serialises the read-modify-write of a resource's tags (`tags.rs`).
    pub(crate) tag_lock: parking_lot::Mutex<()>,
}

impl Registry {
    /// Loads the registry from `store`; `ca` issues CreateKeysAndCertificate's certificates.
    pub fn load(store: Arc<Store>, ca: Arc<CertAuthority>) -> Result<Self, RegistryError> {
        // The things load beside the rest of the start on a second connection; in memory
        // (`--ephemeral`: empty at start) there is no second connection and they load here.
        let things = match store.reader()? {
            Some(reader) => crate::lazy::Lazy::spawn("things", move || {
                load_kind(&reader, THING).map_err(|e| e.to_string())
            })
            .map_err(|e| RegistryError::Internal(e.to_string()))?,
            None => crate::lazy::Lazy::new(load_kind(&store, THING)?),
        };
        let certificates = load_kind(&store, CERTIFICATE)?;
        let thing_types = load_kind(&store, THING_TYPE)?;
        let (thing_groups, group_memberships) = thing_groups::load(&store)?;
        let (policies, policy_targets) = policies::load(&store)?;
        let ca_certificates = load_kind(&store, CA_CERTIFICATE)?;
        let registration_codes = load_kind(&store, REGISTRATION_CODE)?;
        let billing_groups = load_kind(&store, crate::billing_groups::BILLING_GROUP)?;
        let emulator_ca_der = ca.cert_der().map_err(|e| RegistryError::Internal(e.to_string()))?.to_vec();
        Ok(Registry {
            store,
            clock: Arc::new(SystemClock),
            ca,
            emulator_ca_der,
            on_deactivate: std::sync::OnceLock::new(),
            events: std::sync::OnceLock::new(),
            index: std::sync::OnceLock::new(),
            things,
            certificates: RwLock::new(certificates),
            thing_types: RwLock::new(thing_types),
            thing_groups: RwLock::new(thing_groups),
            group_memberships: RwLock::new(group_memberships),
            policies: RwLock::new(policies),
            policy_targets: RwLock::new(policy_targets),
            ca_certificates: RwLock::new(ca_certificates),
            registration_codes: RwLock::new(registration_codes),
            billing_groups: RwLock::new(billing_groups),
            tag_lock: Default::default(),
            trust_generation: Default::default(),
        })
    }

    /// The registry with `clock` for its dates (the registry of `load` keeps the system's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in epoch seconds (creation and modification dates).
    pub(crate) fn now_secs(&self) -> i64 {
        self.clock.now_secs() as i64
    }

    /// Now, in epoch milliseconds.
    pub(crate) fn now_millis(&self) -> i64 {
        self.clock.now_millis() as i64
    }

    /// Sets what happens when a certificate becomes INACTIVE or REVOKED: `f(certificate_id,
    /// reason)`, with AWS's AuthN reason code.
    pub fn on_deactivate(&self, f: impl Fn(&str, &'static str) + Send + Sync + 'static) {
        let _ = self.on_deactivate.set(Box::new(f));
    }

    /// Whether the certificate `id` (let in by TLS, see [`Registry::trusted_cas`]) may connect in
    /// `scope`: a certificate the registry does not know yet is registered ACTIVE on first use
    /// only when `iotemu certs create-device` made it for this account and region (it also gets
    /// the `iotemu-allow-all` policy unless made with `--no-policy`, so that a device works
    /// before anyone calls the API), or an ACTIVE registered CA signed it
    /// (`register_on_first_use`). Any other unknown certificate, a deleted one or one made in
    /// another account or region included, is DEVICE_CERTIFICATE_NOT_REGISTERED; INACTIVE and
    /// REVOKED ones are refused.
    pub fn authenticate_certificate(&self, scope: &Scope, id: &str, der: &[u8]) -> Result<(), AuthnFailure> {
        let known = self.certificates.read().get(&(scope.clone(), id.to_string())).map(|c| c.status.clone());
        let status = match known {
            Some(status) => status,
            None => self.register_on_first_use(scope, id, der)?.status,
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
        let mut billing_groups = self.billing_groups.write();
        let _tags = self.tag_lock.lock();
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
        billing_groups.clear();
        self.trust_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

pub(crate) fn load_kind<T: serde::de::DeserializeOwned>(
    store: &Store,
    kind: &str,
) -> Result<BTreeMap<(Scope, String), T>, RegistryError> {
    // In primary-key order already, so the map is built in bulk.
    let docs = store.all_as::<T>(kind)?;
    Ok(docs.into_iter().map(|(scope, key, value)| ((scope, key), value)).collect())
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
