//! The network server: what a gateway's uplinks do. OTAA join (MIC under the AppKey, DevNonce
//! replay refused, a fresh DevAddr, session keys, the join-accept), data uplinks (MIC under
//! NwkSKey, frame counters, FRMPayload decrypted with AppSKey), delivery to the device's
//! destination, and the queued downlink for the receive window. LoRaWAN 1.0.x, class A.
//!
//! Each outcome writes its `/aws/iotwireless` entry when the wireless log levels allow it:
//! `Join` (documented ERROR "invalid MIC ..."; INFO "Join succeeded", as the guide's
//! "Rejoin succeeded"), `Uplink` (documented ERROR "Cannot assume role ..."; INFO "Message
//! delivery succeeded ..." as the guide's Uplink_Data/Downlink_Data examples), `Downlink`
//! (documented ERROR "... device session not found ..."; INFO when a downlink leaves for the
//! gateway). Messages AWS does not document (an unknown destination, a replayed DevNonce) are
//! iotemu's wording in the same style.

use crate::crypto::{parse_key, session_keys};
use crate::frames::{full_fcnt, hex, DataFrame, JoinAccept, JoinRequest, MType, FCTRL_ACK, FCTRL_ADR};
use crate::region::Region;
use crate::service::{Wireless, SESSION};
use crate::state::{Destination, ExpressionType, Level, Session, WirelessDevice, DEV_NONCES_KEPT};
use base64::Engine;
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, OutboundMessage, Protocol, ReservedTopic, TraceId};
use iotemu_logs::{
    DownlinkEntry, JoinEntry, UplinkEntry, WirelessEntry, WirelessLogLevel, WirelessRecord, WirelessResource,
};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The documented message of a join-request whose MIC does not verify.
pub const INVALID_MIC: &str = "invalid MIC. It's most likely caused by wrong root keys.";
/// JOIN_ACCEPT_DELAY1 (seconds), the regional default.
const JOIN_ACCEPT_DELAY: u8 = 5;
/// RECEIVE_DELAY1 (seconds): the join-accept's RxDelay and every data downlink's.
const RECEIVE_DELAY: u8 = 1;
/// The NetID iotemu's sessions belong to (a type 0 NetID; DevAddr's NwkID is its low 6 bits: 0).
const NET_ID: u32 = 0x000000;

/// The gateway an uplink came through.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub scope: Scope,
    pub id: String,
    /// 16 lower-case hex digits.
    pub eui: String,
    pub region: Region,
    pub peer: SocketAddr,
}

/// What the radio said about an uplink (the LNS protocol's `DR`, `Freq` and `upinfo`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Radio {
    pub dr: u8,
    pub freq: u32,
    pub xtime: Option<i64>,
    pub rctx: Option<i64>,
    pub rssi: f64,
    pub snr: f64,
}

/// A downlink for the gateway to send in the device's receive windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Downlink {
    /// 16 lower-case hex digits.
    pub dev_eui: String,
    pub pdu: Vec<u8>,
    pub rx_delay: u8,
    pub rx1_dr: u8,
    pub rx1_freq: u32,
    pub rx2_dr: u8,
    pub rx2_freq: u32,
    pub xtime: Option<i64>,
    pub rctx: Option<i64>,
}

impl Downlink {
    fn new(dev_eui: String, pdu: Vec<u8>, rx_delay: u8, region: Region, radio: &Radio) -> Self {
        let (rx1_freq, rx1_dr) = region.rx1(radio.freq, radio.dr);
        let (rx2_dr, rx2_freq) = region.rx2();
        Downlink {
            dev_eui,
            pdu,
            rx_delay,
            rx1_dr,
            rx1_freq,
            rx2_dr,
            rx2_freq,
            xtime: radio.xtime,
            rctx: radio.rctx,
        }
    }
}

fn random_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Wireless {
    /// Writes an entry for a device's `event` if `level` lets it through.
    pub(crate) fn write(&self, level: Level, log_level: WirelessLogLevel, entry: WirelessEntry) {
        if level.allows(log_level) {
            let record = WirelessRecord { timestamp_nanos: self.logs.now_nanos(), log_level, entry };
            self.logs.emit_wireless(record);
        }
    }

    /// The documented Downlink error: a downlink for a device that has no session.
    pub(crate) fn no_session_downlink(&self, level: Level, device: &WirelessDevice, message_id: &str) {
        let id = &device.id;
        let message = format!(
            "Downlink returns an error when delivering application message. MessageId: {message_id}. \
             WirelessDeviceId: {id}. Context: LorawanDataPlaneDownlink.  reason: \
             {{\"Message\":\"device session not found. deviceId={id}\"}}"
        );
        let entry =
            DownlinkEntry { resource: WirelessResource::WirelessGateway, resource_id: id.clone(), message };
        self.write(level, WirelessLogLevel::Error, WirelessEntry::Downlink(entry));
    }

    fn join_entry(
        &self,
        level: Level,
        log_level: WirelessLogLevel,
        device: &WirelessDevice,
        message: String,
    ) {
        let entry = JoinEntry { resource_id: device.id.clone(), dev_eui: device.dev_eui(), message };
        self.write(level, log_level, WirelessEntry::Join(entry));
    }

    fn levels_for(&self, scope: &Scope, device: &WirelessDevice, event: &str) -> Level {
        let r = self.state.lock();
        let levels = r.log_levels.get(scope).cloned().unwrap_or_default();
        self.device_level(&r, scope, device, &levels, event)
    }

    /// A join-request through `gateway`: the join-accept to send, or `None` (unknown device,
    /// MIC failure, replay: the reason is in the Join entry or a diagnostic).
    pub fn join_request(&self, gateway: &Gateway, request: &JoinRequest, radio: &Radio) -> Option<Downlink> {
        let dev_eui = hex(&request.dev_eui);
        let scope = &gateway.scope;
        let mut r = self.state.lock();
        let Some(device) =
            r.devices.iter().find(|((s, _), d)| s == scope && d.dev_eui() == dev_eui).map(|(_, d)| d.clone())
        else {
            tracing::debug!(%dev_eui, "join-request of an unknown device");
            return None;
        };
        let levels = r.log_levels.get(scope).cloned().unwrap_or_default();
        let level = self.device_level(&r, scope, &device, &levels, "Join");
        let Some(otaa) = &device.lorawan.otaa_v1_0_x else {
            tracing::debug!(%dev_eui, "join-request of a device without OtaaV1_0_x");
            return None;
        };
        let app_key = otaa.app_key.as_deref().and_then(parse_key).unwrap_or_default();
        if !request.verify(&app_key) {
            drop(r);
            self.join_entry(level, WirelessLogLevel::Error, &device, INVALID_MIC.into());
            return None;
        }
        let expected =
            otaa.app_eui.as_deref().or(otaa.join_eui.as_deref()).unwrap_or_default().to_ascii_lowercase();
        let join_eui = hex(&request.join_eui);
        if join_eui != expected {
            drop(r);
            let message = format!("JoinEui {join_eui} does not match the device's AppEui {expected}.");
            self.join_entry(level, WirelessLogLevel::Error, &device, message);
            return None;
        }
        let key = (scope.clone(), device.id.clone());
        let old = r.sessions.get(&key).cloned();
        let mut dev_nonces = old.as_ref().map(|s| s.dev_nonces.clone()).unwrap_or_default();
        if dev_nonces.contains(&request.dev_nonce) {
            drop(r);
            let message =
                format!("DevNonce {} has been used before: the join-request is a replay.", request.dev_nonce);
            self.join_entry(level, WirelessLogLevel::Error, &device, message);
            return None;
        }
        dev_nonces.push(request.dev_nonce);
        if dev_nonces.len() > DEV_NONCES_KEPT {
            dev_nonces.remove(0);
        }
        let random = random_bytes();
        let app_nonce = u32::from_le_bytes([random[0], random[1], random[2], 0]);
        let dev_addr = loop {
            let b = random_bytes();
            let candidate = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x01ff_ffff;
            if !r.sessions.values().any(|s| s.dev_addr == candidate) {
                break candidate;
            }
        };
        let (nwk_s_key, app_s_key) = session_keys(&app_key, app_nonce, NET_ID, request.dev_nonce);
        let session = Session {
            dev_addr,
            nwk_s_key,
            app_s_key,
            fcnt_up: None,
            fcnt_down: 0,
            downlinks: old.map(|s| s.downlinks).unwrap_or_default(),
            dev_nonces,
            last_uplink_at: None,
        };
        if let Err(e) =
            self.store.put(SESSION, scope, &device.id, &serde_json::to_value(&session).unwrap_or_default())
        {
            tracing::warn!(error = %e, "could not store a session; the join is refused");
            return None;
        }
        r.sessions.insert(key, session);
        drop(r);
        self.join_entry(level, WirelessLogLevel::Info, &device, "Join succeeded".into());
        let accept = JoinAccept {
            app_nonce,
            net_id: NET_ID,
            dev_addr,
            dl_settings: gateway.region.dl_settings(),
            rx_delay: RECEIVE_DELAY,
            cf_list: None,
        };
        Some(Downlink::new(dev_eui, accept.seal(&app_key), JOIN_ACCEPT_DELAY, gateway.region, radio))
    }

    /// A data uplink through `gateway`: delivered to the device's destination; the downlink
    /// for its receive window, if one is queued (or an ACK is due).
    pub fn uplink(&self, gateway: &Gateway, frame: &DataFrame, radio: &Radio) -> Option<Downlink> {
        let scope = &gateway.scope;
        let mut r = self.state.lock();
        // The session whose NwkSKey verifies the MIC at the next counter (DevAddrs may repeat).
        let found = r.sessions.iter().find_map(|((s, id), session)| {
            if s != scope || session.dev_addr != frame.dev_addr {
                return None;
            }
            let fcnt = match session.fcnt_up {
                None => u32::from(frame.fcnt),
                Some(last) => full_fcnt(last, frame.fcnt),
            };
            (session.fcnt_up != Some(fcnt) && frame.verify(&session.nwk_s_key, fcnt))
                .then(|| (id.clone(), fcnt))
        });
        let Some((device_id, fcnt)) = found else {
            tracing::debug!(
                dev_addr = format!("{:08x}", frame.dev_addr),
                "uplink of no session (or replayed)"
            );
            return None;
        };
        let key = (scope.clone(), device_id);
        let device = r.devices.get(&key).cloned()?;
        let session = r.sessions.get_mut(&key)?;
        let payload = frame.decrypt(&session.nwk_s_key, &session.app_s_key, fcnt);
        session.fcnt_up = Some(fcnt);
        session.last_uplink_at = Some(now_rfc3339());
        let confirmed = frame.mtype == MType::ConfirmedDataUp;
        let queued = session.downlinks.pop_front();
        let downlink = (queued.is_some() || confirmed).then(|| {
            let fctrl = if confirmed { FCTRL_ACK } else { 0 };
            let (mtype, fport, data) = match &queued {
                Some(q) if q.confirmed => (MType::ConfirmedDataDown, Some(q.fport), q.payload.as_slice()),
                Some(q) => (MType::UnconfirmedDataDown, Some(q.fport), q.payload.as_slice()),
                None => (MType::UnconfirmedDataDown, None, &[][..]),
            };
            let fcnt_down = session.fcnt_down;
            session.fcnt_down = session.fcnt_down.wrapping_add(1);
            let sealed = DataFrame::seal(
                mtype,
                session.dev_addr,
                fctrl,
                fcnt_down,
                fport,
                data,
                &session.nwk_s_key,
                &session.app_s_key,
            );
            Downlink::new(device.dev_eui(), sealed.to_bytes(), RECEIVE_DELAY, gateway.region, radio)
        });
        let stored = serde_json::to_value(&*session).unwrap_or_default();
        if let Err(e) = self.store.put(SESSION, scope, &device.id, &stored) {
            tracing::warn!(error = %e, "could not store a session's counters");
        }
        let destination = r.destinations.get(&(scope.clone(), device.destination_name.clone())).cloned();
        let add_gateways = device
            .lorawan
            .service_profile_id
            .as_ref()
            .and_then(|p| r.service_profiles.get(&(scope.clone(), p.clone())))
            .is_none_or(|p| p.add_gw_metadata());
        drop(r);
        // FPort 0 carries MAC commands for the network, not data for the application.
        if frame.fport != Some(0) {
            let message = uplink_message(&device, frame, fcnt, &payload, radio, gateway, add_gateways);
            self.deliver_uplink(gateway, &device, destination, message);
        }
        if let (Some(d), Some(q)) = (&downlink, &queued) {
            let level = self.levels_for(scope, &device, "Downlink");
            let message = format!(
                "Downlink sent to the gateway. MessageId: {}. WirelessDeviceId: {}. Context: LorawanDataPlaneDownlink. \
                 GatewayEui: {}.",
                q.message_id, device.id, gateway.eui
            );
            let entry = DownlinkEntry {
                resource: WirelessResource::WirelessGateway,
                resource_id: gateway.id.clone(),
                message,
            };
            self.write(level, WirelessLogLevel::Info, WirelessEntry::Downlink(entry));
            tracing::debug!(dev_eui = %d.dev_eui, "downlink for the receive window");
        }
        downlink
    }

    /// Sends an uplink message to the device's destination, as the destination's role, and
    /// writes its Uplink entry.
    fn deliver_uplink(
        &self,
        gateway: &Gateway,
        device: &WirelessDevice,
        destination: Option<Destination>,
        payload: Vec<u8>,
    ) {
        let level = self.levels_for(&gateway.scope, device, "Uplink");
        let message_id = uuid::Uuid::new_v4().to_string();
        let id = &device.id;
        let error = |message: String| {
            let entry = UplinkEntry { resource_id: id.clone(), message };
            self.write(level, WirelessLogLevel::Error, WirelessEntry::Uplink(entry));
        };
        let Some(destination) = destination else {
            return error(format!(
                "Destination {} not found. MessageId: {message_id}. WirelessDeviceId: {id}. Context: LorawanDataPlaneUplink.",
                device.destination_name
            ));
        };
        if !self.roles.allows(&destination.role_arn) {
            let session = hex(&random_bytes());
            let request_id = uuid::Uuid::new_v4();
            return error(format!(
                "Cannot assume role MessageId: {message_id}. WirelessDeviceId: {id}. Context: LorawanDataPlaneUplink. \
                 reason: AccessDenied: User: arn:aws:sts::{}:assumed-role/DataRoutingServiceRole/{session} is not \
                 authorized to perform: sts:AssumeRole on resource: {}\tstatus code: 403, request id: {request_id}",
                gateway.scope.account, destination.role_arn
            ));
        }
        let topic = match destination.expression_type {
            ExpressionType::RuleName => ReservedTopic::basic_ingest_topic(&destination.expression, ""),
            ExpressionType::MqttTopic => destination.expression.clone(),
        };
        let trace_id = TraceId::new();
        let source = Arc::new(ClientInfo::new(Protocol::Mqtt, id.as_str(), "iotwireless", gateway.peer));
        match self.publisher.publish(&source, OutboundMessage::new(topic, payload, trace_id)) {
            Ok(()) => {
                let message = format!(
                    "Message delivery succeeded. MessageId: {message_id}. WirelessDeviceId: {id}. \
                     AWS IoT Core: {{\"message\":\"OK\",\"traceId\":\"{trace_id}\"}}"
                );
                let entry = UplinkEntry { resource_id: id.clone(), message };
                self.write(level, WirelessLogLevel::Info, WirelessEntry::Uplink(entry));
            }
            Err(e) => error(format!(
                "Message delivery failed. MessageId: {message_id}. WirelessDeviceId: {id}. Context: LorawanDataPlaneUplink. \
                 reason: {e}"
            )),
        }
    }
}

/// AWS's LoRaWAN uplink message (connect-iot-lorawan-uplink-metadata-format.md):
/// `WirelessDeviceId`, `PayloadData` (base64) and `WirelessMetadata.LoRaWAN`. An uplink without
/// FPort gets FPort 225, as AWS documents.
fn uplink_message(
    device: &WirelessDevice,
    frame: &DataFrame,
    fcnt: u32,
    payload: &[u8],
    radio: &Radio,
    gateway: &Gateway,
    add_gateways: bool,
) -> Vec<u8> {
    let (sf, bw) = gateway.region.data_rate(radio.dr).unwrap_or((0, 125));
    let mut lorawan = json!({
        "ADR": frame.fctrl & FCTRL_ADR != 0,
        "Bandwidth": bw,
        "ClassB": false,
        "CodeRate": "4/5",
        "DataRate": radio.dr.to_string(),
        "DevAddr": format!("{:08x}", frame.dev_addr),
        "DevEui": device.dev_eui(),
        "FCnt": fcnt,
        "FOptLen": frame.fopts.len(),
        "FPort": frame.fport.unwrap_or(225),
        "Frequency": radio.freq.to_string(),
        "MIC": hex(&frame.mic),
        "MType": frame.mtype.name(),
        "Major": "LoRaWANR1",
        "Modulation": "LORA",
        "PolarizationInversion": false,
        "SpreadingFactor": sf,
        "Timestamp": now_rfc3339(),
    });
    if add_gateways {
        lorawan["Gateways"] = json!([{ "GatewayEui": gateway.eui, "Rssi": radio.rssi, "Snr": radio.snr }]);
    }
    let message = json!({
        "WirelessDeviceId": device.id,
        "PayloadData": base64::engine::general_purpose::STANDARD.encode(payload),
        "WirelessMetadata": { "LoRaWAN": lorawan },
    });
    message.to_string().into_bytes()
}
