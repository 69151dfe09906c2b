//! [`Wireless`]: the iotwireless control plane (profiles, destinations, devices, gateways,
//! SendDataToWirelessDevice, the logging API), persisted in the store and served from memory.
//! The network server's data plane is in `network.rs`. Shapes and errors follow botocore's
//! `iotwireless/2020-11-22/service-2.json`.

use crate::state::{
    normalize_eui, Destination, DeviceProfile, ExpressionType, Level, LoRaWanDevice, LogLevels,
    QueuedDownlink, ServiceProfile, Session, WirelessDevice, WirelessGateway,
};
use crate::WirelessError;
use iotemu_core::Publisher;
use iotemu_core::Scope;
use iotemu_logs::EventSink;
use iotemu_store::Store;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) const SERVICE_PROFILE: &str = "wireless-service-profile";
pub(crate) const DEVICE_PROFILE: &str = "wireless-device-profile";
pub(crate) const DESTINATION: &str = "wireless-destination";
pub(crate) const DEVICE: &str = "wireless-device";
pub(crate) const GATEWAY: &str = "wireless-gateway";
pub(crate) const SESSION: &str = "wireless-session";
pub(crate) const LOG_LEVELS: &str = "wireless-log-levels";
pub(crate) const RESOURCE_LEVEL: &str = "wireless-resource-log-level";

type Key = (Scope, String);

/// Everything the service keeps, by account and region.
#[derive(Default)]
pub(crate) struct Resources {
    pub service_profiles: BTreeMap<Key, ServiceProfile>,
    pub device_profiles: BTreeMap<Key, DeviceProfile>,
    pub destinations: BTreeMap<Key, Destination>,
    pub devices: BTreeMap<Key, WirelessDevice>,
    pub gateways: BTreeMap<Key, WirelessGateway>,
    /// Device sessions, by WirelessDeviceId.
    pub sessions: BTreeMap<Key, Session>,
    pub log_levels: BTreeMap<Scope, LogLevels>,
    /// PutResourceLogLevel overrides, by `<ResourceType>/<id>`.
    pub resource_levels: BTreeMap<Key, Level>,
}

/// Which role ARNs a destination may use ("assumed" by the emulator): `*` allows every role.
#[derive(Debug, Clone)]
pub struct RolePolicy(pub Vec<String>);

impl RolePolicy {
    pub fn allows(&self, role_arn: &str) -> bool {
        self.0.iter().any(|r| r == "*" || r == role_arn)
    }
}

/// The AWS IoT Wireless service.
pub struct Wireless {
    pub(crate) store: Arc<Store>,
    pub(crate) state: Mutex<Resources>,
    pub(crate) logs: EventSink,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) roles: RolePolicy,
}

/// One page of a listing: items after `next_token`, at most `max_results` (botocore: 0-250;
/// iotemu's default 50).
pub(crate) fn page<T>(
    items: Vec<(String, T)>,
    max: Option<usize>,
    token: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let max = max.filter(|m| *m > 0).unwrap_or(50).min(250);
    let (out, next) = iotemu_api::paging::page(items, |(k, _)| k, token, max);
    (out.into_iter().map(|(_, v)| v).collect(), next)
}

fn arn(scope: &Scope, kind: &str, id: &str) -> String {
    format!("arn:aws:iotwireless:{}:{}:{kind}/{id}", scope.region, scope.account)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_hex(text: Option<&str>, len: usize, member: &str) -> Result<String, WirelessError> {
    match text {
        Some(t) if is_hex(t, len) => Ok(t.to_ascii_lowercase()),
        Some(t) => Err(WirelessError::Validation(format!("{member} {t:?} must be {len} hex digits"))),
        None => Err(WirelessError::Validation(format!("{member} is required"))),
    }
}

pub(crate) fn not_found(kind: &str, id: &str) -> WirelessError {
    WirelessError::NotFound(format!("{kind} {id} does not exist"))
}

pub(crate) fn doc<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl Wireless {
    /// Loads every resource of every account from the store.
    pub fn load(
        store: Arc<Store>,
        logs: EventSink,
        publisher: Arc<dyn Publisher>,
        roles: RolePolicy,
    ) -> Result<Self, WirelessError> {
        let mut r = Resources::default();
        fn all<T: serde::de::DeserializeOwned>(
            store: &Store,
            kind: &str,
            into: &mut BTreeMap<Key, T>,
        ) -> Result<(), WirelessError> {
            for d in store.all(kind)? {
                let value = serde_json::from_value(d.value)
                    .map_err(|e| WirelessError::Internal(format!("stored {kind} {}: {e}", d.key)))?;
                into.insert((d.scope, d.key), value);
            }
            Ok(())
        }
        all(&store, SERVICE_PROFILE, &mut r.service_profiles)?;
        all(&store, DEVICE_PROFILE, &mut r.device_profiles)?;
        all(&store, DESTINATION, &mut r.destinations)?;
        all(&store, DEVICE, &mut r.devices)?;
        all(&store, GATEWAY, &mut r.gateways)?;
        all(&store, SESSION, &mut r.sessions)?;
        all(&store, RESOURCE_LEVEL, &mut r.resource_levels)?;
        let mut levels = BTreeMap::new();
        all(&store, LOG_LEVELS, &mut levels)?;
        r.log_levels = levels.into_iter().map(|((scope, _), v)| (scope, v)).collect();
        Ok(Wireless { store, state: Mutex::new(r), logs, publisher, roles })
    }

    /// Forgets every resource of every account (`POST /_iotemu/reset`).
    pub fn reset(&self) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let keys = |kind: &'static str, m: Vec<Key>| m.into_iter().map(move |k| (kind, k));
        let all: Vec<(&str, Key)> = keys(SERVICE_PROFILE, r.service_profiles.keys().cloned().collect())
            .chain(keys(DEVICE_PROFILE, r.device_profiles.keys().cloned().collect()))
            .chain(keys(DESTINATION, r.destinations.keys().cloned().collect()))
            .chain(keys(DEVICE, r.devices.keys().cloned().collect()))
            .chain(keys(GATEWAY, r.gateways.keys().cloned().collect()))
            .chain(keys(SESSION, r.sessions.keys().cloned().collect()))
            .chain(keys(RESOURCE_LEVEL, r.resource_levels.keys().cloned().collect()))
            .chain(keys(LOG_LEVELS, r.log_levels.keys().map(|s| (s.clone(), "levels".to_string())).collect()))
            .collect();
        for (kind, (scope, key)) in all {
            self.store.delete(kind, &scope, &key)?;
        }
        *r = Resources::default();
        Ok(())
    }

    // --- Service profiles -------------------------------------------------------------------

    /// CreateServiceProfile.
    pub fn create_service_profile(
        &self,
        scope: &Scope,
        name: Option<String>,
        lorawan: Option<Value>,
    ) -> Result<ServiceProfile, WirelessError> {
        let id = new_id();
        let profile =
            ServiceProfile { arn: arn(scope, "ServiceProfile", &id), id: id.clone(), name, lorawan };
        let mut r = self.state.lock();
        self.store.put(SERVICE_PROFILE, scope, &id, &doc(&profile))?;
        r.service_profiles.insert((scope.clone(), id), profile.clone());
        Ok(profile)
    }

    /// GetServiceProfile.
    pub fn get_service_profile(&self, scope: &Scope, id: &str) -> Result<ServiceProfile, WirelessError> {
        let r = self.state.lock();
        r.service_profiles
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| not_found("ServiceProfile", id))
    }

    /// ListServiceProfiles.
    pub fn list_service_profiles(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<ServiceProfile>, Option<String>) {
        let r = self.state.lock();
        let items = r
            .service_profiles
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|((_, k), v)| (k.clone(), v.clone()));
        page(items.collect(), max, token)
    }

    /// DeleteServiceProfile: refused while a device uses it (ConflictException).
    pub fn delete_service_profile(&self, scope: &Scope, id: &str) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), id.to_string());
        if !r.service_profiles.contains_key(&key) {
            return Err(not_found("ServiceProfile", id));
        }
        if r.devices
            .iter()
            .any(|((s, _), d)| s == scope && d.lorawan.service_profile_id.as_deref() == Some(id))
        {
            return Err(WirelessError::Conflict(format!("ServiceProfile {id} is used by a wireless device")));
        }
        self.store.delete(SERVICE_PROFILE, scope, id)?;
        r.service_profiles.remove(&key);
        Ok(())
    }

    // --- Device profiles --------------------------------------------------------------------

    /// CreateDeviceProfile.
    pub fn create_device_profile(
        &self,
        scope: &Scope,
        name: Option<String>,
        lorawan: Option<Value>,
    ) -> Result<DeviceProfile, WirelessError> {
        let id = new_id();
        let profile = DeviceProfile { arn: arn(scope, "DeviceProfile", &id), id: id.clone(), name, lorawan };
        let mut r = self.state.lock();
        self.store.put(DEVICE_PROFILE, scope, &id, &doc(&profile))?;
        r.device_profiles.insert((scope.clone(), id), profile.clone());
        Ok(profile)
    }

    /// GetDeviceProfile.
    pub fn get_device_profile(&self, scope: &Scope, id: &str) -> Result<DeviceProfile, WirelessError> {
        let r = self.state.lock();
        r.device_profiles
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| not_found("DeviceProfile", id))
    }

    /// ListDeviceProfiles.
    pub fn list_device_profiles(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<DeviceProfile>, Option<String>) {
        let r = self.state.lock();
        let items = r
            .device_profiles
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|((_, k), v)| (k.clone(), v.clone()));
        page(items.collect(), max, token)
    }

    /// DeleteDeviceProfile: refused while a device uses it (ConflictException).
    pub fn delete_device_profile(&self, scope: &Scope, id: &str) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), id.to_string());
        if !r.device_profiles.contains_key(&key) {
            return Err(not_found("DeviceProfile", id));
        }
        if r.devices
            .iter()
            .any(|((s, _), d)| s == scope && d.lorawan.device_profile_id.as_deref() == Some(id))
        {
            return Err(WirelessError::Conflict(format!("DeviceProfile {id} is used by a wireless device")));
        }
        self.store.delete(DEVICE_PROFILE, scope, id)?;
        r.device_profiles.remove(&key);
        Ok(())
    }

    // --- Destinations -----------------------------------------------------------------------

    /// CreateDestination: a name unique in the account and region (ConflictException).
    pub fn create_destination(
        &self,
        scope: &Scope,
        name: &str,
        expression_type: ExpressionType,
        expression: String,
        description: Option<String>,
        role_arn: String,
    ) -> Result<Destination, WirelessError> {
        check_destination_name(name)?;
        check_expression(expression_type, &expression, &role_arn)?;
        let destination = Destination {
            arn: arn(scope, "Destination", name),
            name: name.to_string(),
            expression_type,
            expression,
            description,
            role_arn,
        };
        let mut r = self.state.lock();
        let key = (scope.clone(), name.to_string());
        if r.destinations.contains_key(&key) {
            return Err(WirelessError::Conflict(format!("Destination {name} already exists")));
        }
        self.store.put(DESTINATION, scope, name, &doc(&destination))?;
        r.destinations.insert(key, destination.clone());
        Ok(destination)
    }

    /// GetDestination.
    pub fn get_destination(&self, scope: &Scope, name: &str) -> Result<Destination, WirelessError> {
        let r = self.state.lock();
        r.destinations
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| not_found("Destination", name))
    }

    /// ListDestinations.
    pub fn list_destinations(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<Destination>, Option<String>) {
        let r = self.state.lock();
        let items =
            r.destinations.iter().filter(|((s, _), _)| s == scope).map(|((_, k), v)| (k.clone(), v.clone()));
        page(items.collect(), max, token)
    }

    /// UpdateDestination: the given members replace the destination's.
    pub fn update_destination(
        &self,
        scope: &Scope,
        name: &str,
        expression_type: Option<ExpressionType>,
        expression: Option<String>,
        description: Option<String>,
        role_arn: Option<String>,
    ) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), name.to_string());
        let mut destination =
            r.destinations.get(&key).cloned().ok_or_else(|| not_found("Destination", name))?;
        destination.expression_type = expression_type.unwrap_or(destination.expression_type);
        destination.expression = expression.unwrap_or(destination.expression);
        destination.description = description.or(destination.description);
        destination.role_arn = role_arn.unwrap_or(destination.role_arn);
        check_expression(destination.expression_type, &destination.expression, &destination.role_arn)?;
        self.store.put(DESTINATION, scope, name, &doc(&destination))?;
        r.destinations.insert(key, destination);
        Ok(())
    }

    /// DeleteDestination: refused while a device uses it (ConflictException).
    pub fn delete_destination(&self, scope: &Scope, name: &str) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), name.to_string());
        if !r.destinations.contains_key(&key) {
            return Err(not_found("Destination", name));
        }
        if r.devices.iter().any(|((s, _), d)| s == scope && d.destination_name == name) {
            return Err(WirelessError::Conflict(format!("Destination {name} is used by a wireless device")));
        }
        self.store.delete(DESTINATION, scope, name)?;
        r.destinations.remove(&key);
        Ok(())
    }

    // --- Wireless devices -------------------------------------------------------------------

    /// CreateWirelessDevice: a LoRaWAN device with one activation (OTAA or ABP). An ABP device
    /// has its session at once; an OTAA device gets one when it joins.
    pub fn create_wireless_device(
        &self,
        scope: &Scope,
        device_type: &str,
        name: Option<String>,
        description: Option<String>,
        destination_name: String,
        lorawan: Option<LoRaWanDevice>,
    ) -> Result<WirelessDevice, WirelessError> {
        if device_type != "LoRaWAN" {
            return Err(WirelessError::Validation(format!(
                "Type {device_type:?} is not supported: iotemu serves LoRaWAN devices"
            )));
        }
        let mut lorawan = lorawan.ok_or_else(|| WirelessError::Validation("LoRaWAN is required".into()))?;
        let dev_eui = check_hex(lorawan.dev_eui.as_deref(), 16, "DevEui")?;
        lorawan.dev_eui = Some(dev_eui.clone());
        let session = check_activation(&lorawan)?;
        let mut r = self.state.lock();
        if !r.destinations.contains_key(&(scope.clone(), destination_name.clone())) {
            return Err(not_found("Destination", &destination_name));
        }
        if let Some(p) = &lorawan.device_profile_id {
            if !r.device_profiles.contains_key(&(scope.clone(), p.clone())) {
                return Err(not_found("DeviceProfile", p));
            }
        }
        if let Some(p) = &lorawan.service_profile_id {
            if !r.service_profiles.contains_key(&(scope.clone(), p.clone())) {
                return Err(not_found("ServiceProfile", p));
            }
        }
        if r.devices.iter().any(|((s, _), d)| s == scope && d.dev_eui() == dev_eui) {
            return Err(WirelessError::Conflict(format!(
                "a wireless device with DevEui {dev_eui} already exists"
            )));
        }
        let id = new_id();
        let device = WirelessDevice {
            arn: arn(scope, "WirelessDevice", &id),
            id: id.clone(),
            device_type: device_type.to_string(),
            name,
            description,
            destination_name,
            lorawan,
        };
        self.store.put(DEVICE, scope, &id, &doc(&device))?;
        if let Some(session) = session {
            self.store.put(SESSION, scope, &id, &doc(&session))?;
            r.sessions.insert((scope.clone(), id.clone()), session);
        }
        r.devices.insert((scope.clone(), id), device.clone());
        Ok(device)
    }

    /// GetWirelessDevice by WirelessDeviceId or DevEui (ThingName and SidewalkManufacturingSn
    /// find nothing: iotemu associates no things).
    pub fn get_wireless_device(
        &self,
        scope: &Scope,
        identifier: &str,
        identifier_type: &str,
    ) -> Result<WirelessDevice, WirelessError> {
        let r = self.state.lock();
        let found = match identifier_type {
            "WirelessDeviceId" => r.devices.get(&(scope.clone(), identifier.to_string())),
            "DevEui" => {
                let eui = identifier.to_ascii_lowercase();
                r.devices.iter().find(|((s, _), d)| s == scope && d.dev_eui() == eui).map(|(_, d)| d)
            }
            "ThingName" | "SidewalkManufacturingSn" => None,
            other => return Err(WirelessError::Validation(format!("invalid identifierType {other:?}"))),
        };
        found.cloned().ok_or_else(|| not_found("WirelessDevice", identifier))
    }

    /// ListWirelessDevices, filtered by destination or profile; with each device's
    /// LastUplinkReceivedAt.
    pub fn list_wireless_devices(
        &self,
        scope: &Scope,
        filter: &DeviceFilter,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<(WirelessDevice, Option<String>)>, Option<String>) {
        let r = self.state.lock();
        let items =
            r.devices.iter().filter(|((s, _), d)| s == scope && filter.matches(d)).map(|((s, k), d)| {
                let last = r.sessions.get(&(s.clone(), k.clone())).and_then(|x| x.last_uplink_at.clone());
                (k.clone(), (d.clone(), last))
            });
        page(items.collect(), max, token)
    }

    /// DeleteWirelessDevice: its session and queued downlinks go with it.
    pub fn delete_wireless_device(&self, scope: &Scope, id: &str) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), id.to_string());
        if !r.devices.contains_key(&key) {
            return Err(not_found("WirelessDevice", id));
        }
        self.store.delete(DEVICE, scope, id)?;
        self.store.delete(SESSION, scope, id)?;
        r.devices.remove(&key);
        r.sessions.remove(&key);
        Ok(())
    }

    // --- Wireless gateways ------------------------------------------------------------------

    /// CreateWirelessGateway: one gateway per GatewayEui in the account and region.
    pub fn create_wireless_gateway(
        &self,
        scope: &Scope,
        name: Option<String>,
        description: Option<String>,
        mut lorawan: Value,
    ) -> Result<WirelessGateway, WirelessError> {
        let eui = lorawan
            .get("GatewayEui")
            .and_then(Value::as_str)
            .ok_or_else(|| WirelessError::Validation("LoRaWAN.GatewayEui is required".into()))?;
        let eui = normalize_eui(eui)
            .ok_or_else(|| WirelessError::Validation(format!("GatewayEui {eui:?} is not an EUI-64")))?;
        lorawan["GatewayEui"] = Value::String(eui.clone());
        let mut r = self.state.lock();
        if r.gateways.iter().any(|((s, _), g)| s == scope && g.eui() == eui) {
            return Err(WirelessError::Conflict(format!(
                "a wireless gateway with GatewayEui {eui} already exists"
            )));
        }
        let id = new_id();
        let gateway = WirelessGateway {
            arn: arn(scope, "WirelessGateway", &id),
            id: id.clone(),
            name,
            description,
            lorawan,
        };
        self.store.put(GATEWAY, scope, &id, &doc(&gateway))?;
        r.gateways.insert((scope.clone(), id), gateway.clone());
        Ok(gateway)
    }

    /// GetWirelessGateway by GatewayEui or WirelessGatewayId (ThingName finds nothing).
    pub fn get_wireless_gateway(
        &self,
        scope: &Scope,
        identifier: &str,
        identifier_type: &str,
    ) -> Result<WirelessGateway, WirelessError> {
        let r = self.state.lock();
        let found = match identifier_type {
            "WirelessGatewayId" => r.gateways.get(&(scope.clone(), identifier.to_string())),
            "GatewayEui" => {
                let eui = normalize_eui(identifier).unwrap_or_default();
                r.gateways.iter().find(|((s, _), g)| s == scope && g.eui() == eui).map(|(_, g)| g)
            }
            "ThingName" => None,
            other => return Err(WirelessError::Validation(format!("invalid identifierType {other:?}"))),
        };
        found.cloned().ok_or_else(|| not_found("WirelessGateway", identifier))
    }

    /// ListWirelessGateways.
    pub fn list_wireless_gateways(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<WirelessGateway>, Option<String>) {
        let r = self.state.lock();
        let items =
            r.gateways.iter().filter(|((s, _), _)| s == scope).map(|((_, k), v)| (k.clone(), v.clone()));
        page(items.collect(), max, token)
    }

    /// DeleteWirelessGateway.
    pub fn delete_wireless_gateway(&self, scope: &Scope, id: &str) -> Result<(), WirelessError> {
        let mut r = self.state.lock();
        let key = (scope.clone(), id.to_string());
        if r.gateways.remove(&key).is_none() {
            return Err(not_found("WirelessGateway", id));
        }
        self.store.delete(GATEWAY, scope, id)?;
        Ok(())
    }

    /// The registered gateway with `eui` in any account and region (the LNS endpoint is shared
    /// by all of them; the first match wins).
    pub fn gateway_by_eui(&self, eui: &str) -> Option<(Scope, WirelessGateway)> {
        let r = self.state.lock();
        r.gateways.iter().find(|(_, g)| g.eui() == eui).map(|((s, _), g)| (s.clone(), g.clone()))
    }

    // --- SendDataToWirelessDevice -----------------------------------------------------------

    /// SendDataToWirelessDevice: queues the payload for the device's next receive window and
    /// answers its MessageId. A device without a session cannot get it: the downlink is
    /// dropped with the documented Downlink error entry (the call itself succeeds, as on AWS,
    /// where delivery happens after the answer).
    pub fn send_data_to_wireless_device(
        &self,
        scope: &Scope,
        id: &str,
        payload: Vec<u8>,
        fport: u8,
        confirmed: bool,
    ) -> Result<String, WirelessError> {
        if !(1..=223).contains(&fport) {
            return Err(WirelessError::Validation(format!("FPort {fport} must be between 1 and 223")));
        }
        if payload.len() > 242 {
            return Err(WirelessError::Validation("the payload is over 242 bytes".into()));
        }
        let message_id = new_id();
        let mut r = self.state.lock();
        let key = (scope.clone(), id.to_string());
        let device = r.devices.get(&key).cloned().ok_or_else(|| not_found("WirelessDevice", id))?;
        match r.sessions.get_mut(&key) {
            Some(session) => {
                session.downlinks.push_back(QueuedDownlink {
                    message_id: message_id.clone(),
                    fport,
                    payload,
                    confirmed,
                });
                let saved = doc(&*session);
                self.store.put(SESSION, scope, id, &saved)?;
            }
            None => {
                let levels = r.log_levels.get(scope).cloned().unwrap_or_default();
                let level = self.device_level(&r, scope, &device, &levels, "Downlink");
                drop(r);
                self.no_session_downlink(level, &device, &message_id);
            }
        }
        Ok(message_id)
    }
}

/// ListWirelessDevices' filters.
#[derive(Debug, Default, Clone)]
pub struct DeviceFilter {
    pub destination_name: Option<String>,
    pub device_profile_id: Option<String>,
    pub service_profile_id: Option<String>,
}

impl DeviceFilter {
    fn matches(&self, d: &WirelessDevice) -> bool {
        self.destination_name.as_ref().is_none_or(|n| *n == d.destination_name)
            && self.device_profile_id.as_ref().is_none_or(|p| d.lorawan.device_profile_id.as_ref() == Some(p))
            && self
                .service_profile_id
                .as_ref()
                .is_none_or(|p| d.lorawan.service_profile_id.as_ref() == Some(p))
    }
}

/// botocore: `[a-zA-Z0-9-_]+`, at most 128 characters.
fn check_destination_name(name: &str) -> Result<(), WirelessError> {
    if name.is_empty()
        || name.len() > 128
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(WirelessError::Validation(format!(
            "Name {name:?} must be 1 to 128 letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

/// An expression (a rule name or a topic) and a role ARN of botocore's lengths.
fn check_expression(kind: ExpressionType, expression: &str, role_arn: &str) -> Result<(), WirelessError> {
    if expression.is_empty() || expression.len() > 2048 {
        return Err(WirelessError::Validation("Expression must be 1 to 2048 characters".into()));
    }
    if kind == ExpressionType::MqttTopic
        && (expression.contains(['+', '#']) || expression.starts_with("$aws/rules/"))
    {
        return Err(WirelessError::Validation(format!(
            "Expression {expression:?} is not a topic to publish to"
        )));
    }
    if role_arn.len() < 20 || role_arn.len() > 2048 {
        return Err(WirelessError::Validation("RoleArn must be 20 to 2048 characters".into()));
    }
    Ok(())
}

/// Checks the device's activation and returns the session an ABP device starts with.
fn check_activation(lorawan: &LoRaWanDevice) -> Result<Option<Session>, WirelessError> {
    let given = [
        lorawan.otaa_v1_0_x.is_some(),
        lorawan.otaa_v1_1.is_some(),
        lorawan.abp_v1_0_x.is_some(),
        lorawan.abp_v1_1.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(WirelessError::Validation(
            "give exactly one of OtaaV1_0_x, OtaaV1_1, AbpV1_0_x and AbpV1_1".into(),
        ));
    }
    if let Some(otaa) = &lorawan.otaa_v1_0_x {
        check_hex(otaa.app_key.as_deref(), 32, "AppKey")?;
        check_hex(otaa.app_eui.as_deref().or(otaa.join_eui.as_deref()), 16, "AppEui")?;
    }
    if let Some(abp) = &lorawan.abp_v1_0_x {
        let dev_addr = check_hex(abp.dev_addr.as_deref(), 8, "DevAddr")?;
        let keys = abp.session_keys.clone().unwrap_or_default();
        let nwk = check_hex(keys.nwk_s_key.as_deref(), 32, "NwkSKey")?;
        let app = check_hex(keys.app_s_key.as_deref(), 32, "AppSKey")?;
        let start = abp.fcnt_start.unwrap_or(0);
        return Ok(Some(Session {
            dev_addr: u32::from_str_radix(&dev_addr, 16).unwrap_or(0),
            nwk_s_key: crate::crypto::parse_key(&nwk).unwrap_or_default(),
            app_s_key: crate::crypto::parse_key(&app).unwrap_or_default(),
            fcnt_up: start.checked_sub(1),
            fcnt_down: 0,
            downlinks: Default::default(),
            dev_nonces: Vec::new(),
            last_uplink_at: None,
        }));
    }
    Ok(None)
}
