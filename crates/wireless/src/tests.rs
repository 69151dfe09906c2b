//! The LNS message handling through the network server: station messages in, answers and
//! entries and published uplinks out (a recording publisher stands in for the broker).

use crate::crypto::{parse_key, session_keys};
use crate::frames::{hex, DataFrame, JoinAccept, JoinRequest, MType};
use crate::lns::dashed;
use crate::lns::server::answer;
use crate::network::Gateway;
use crate::region::Region;
use crate::state::{ExpressionType, LoRaWanDevice, OtaaV10x};
use crate::{RolePolicy, Wireless};
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, OutboundMessage, PublishRefused, Publisher};
use iotemu_logs::{LevelFilter, LogPipeline, LogSink, PipelineHandle};
use iotemu_store::Store;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Value)>>);

impl Publisher for Recorder {
    fn check(&self, _: &OutboundMessage) -> Result<(), PublishRefused> {
        Ok(())
    }
    fn publish(&self, _: &Arc<ClientInfo>, m: OutboundMessage) -> Result<(), PublishRefused> {
        self.0.lock().push((m.topic.to_string(), serde_json::from_slice(&m.payload).unwrap_or_default()));
        Ok(())
    }
    fn deliver(&self, _: &Arc<ClientInfo>, _: OutboundMessage) -> Result<(), PublishRefused> {
        Ok(())
    }
    fn deliver_to_client(&self, _: &str, _: OutboundMessage) -> Result<bool, PublishRefused> {
        Ok(false)
    }
}

struct Lines(Arc<Mutex<Vec<Value>>>);

impl LogSink for Lines {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.0.lock().push(serde_json::from_slice(line).unwrap_or_default());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn name(&self) -> &'static str {
        "test"
    }
}

const APP_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const DEV_EUI: [u8; 8] = [0, 4, 0xa3, 0x0b, 0, 0x1c, 5, 0x30];
const APP_EUI: [u8; 8] = [0x70, 0xb3, 0xd5, 0x7e, 0xd0, 0, 0, 1];

struct Net {
    wireless: Wireless,
    published: Arc<Recorder>,
    lines: Arc<Mutex<Vec<Value>>>,
    pipeline: PipelineHandle,
    gateway: Gateway,
    device_id: String,
    diid: AtomicU64,
}

impl Net {
    fn new(roles: &[&str]) -> Net {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (logs, pipeline) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(Lines(lines.clone())))
            .start()
            .unwrap();
        let published = Arc::new(Recorder::default());
        let roles = RolePolicy(roles.iter().map(|r| r.to_string()).collect());
        let wireless =
            Wireless::load(Arc::new(Store::in_memory().unwrap()), logs, published.clone(), roles).unwrap();
        let scope = Scope::new("123456789012", "us-east-1");
        let role = "arn:aws:iam::123456789012:role/Destination".to_string();
        wireless
            .create_destination(&scope, "d", ExpressionType::RuleName, "lora_rule".into(), None, role)
            .unwrap();
        let g = wireless
            .create_wireless_gateway(&scope, None, None, json!({"GatewayEui": "a84041ffff1e7de6"}))
            .unwrap();
        let lorawan = LoRaWanDevice {
            dev_eui: Some(hex(&DEV_EUI)),
            otaa_v1_0_x: Some(OtaaV10x {
                app_key: Some(APP_KEY.into()),
                app_eui: Some(hex(&APP_EUI)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let device = wireless
            .create_wireless_device(&scope, "LoRaWAN", None, None, "d".into(), Some(lorawan))
            .unwrap();
        let gateway = Gateway {
            scope,
            eui: g.eui(),
            id: g.id,
            region: Region::Eu868,
            peer: "127.0.0.1:5000".parse().unwrap(),
        };
        Net { wireless, published, lines, pipeline, gateway, device_id: device.id, diid: AtomicU64::new(1) }
    }

    fn send(&self, message: Value) -> Vec<Value> {
        answer(&self.wireless, &self.gateway, &self.diid, &message.to_string())
    }

    fn entries(&self) -> Vec<Value> {
        assert!(self.pipeline.flush(Duration::from_secs(5)));
        self.lines.lock().clone()
    }

    fn join(&self, key: &str, nonce: u16) -> Vec<Value> {
        let request = JoinRequest::sign(APP_EUI, DEV_EUI, nonce, &parse_key(key).unwrap());
        self.send(
            json!({"msgtype": "jreq", "MHdr": 0, "JoinEui": dashed(&APP_EUI), "DevEui": dashed(&DEV_EUI),
            "DevNonce": nonce, "MIC": i32::from_le_bytes(request.mic), "DR": 5, "Freq": 868_100_000,
            "upinfo": {"xtime": 7, "rctx": 1, "rssi": -40, "snr": 7.0}}),
        )
    }

    fn uplink(&self, frame: &DataFrame) -> Vec<Value> {
        self.send(json!({"msgtype": "updf", "MHdr": frame.mtype.mhdr(), "DevAddr": frame.dev_addr as i32,
            "FCtrl": frame.fctrl, "FCnt": frame.fcnt, "FOpts": "", "FPort": frame.fport.map_or(-1, i32::from),
            "FRMPayload": hex(&frame.frm_payload), "MIC": i32::from_le_bytes(frame.mic), "DR": 5, "Freq": 868_300_000,
            "upinfo": {"xtime": 8, "rctx": 1, "rssi": -41, "snr": 6.5}}))
    }
}

fn pdu(dnmsg: &Value) -> Vec<u8> {
    crate::frames::hex_decode(dnmsg["pdu"].as_str().unwrap()).unwrap()
}

#[test]
fn version_gets_the_router_config_and_timesync_the_gps_time() {
    let net = Net::new(&["*"]);
    let answers = net.send(json!({"msgtype": "version", "station": "2.0.6", "protocol": 2}));
    assert_eq!(answers[0]["msgtype"], "router_config");
    assert_eq!(answers[0]["region"], "EU863");
    let answers = net.send(json!({"msgtype": "timesync", "txtime": 12.5}));
    assert_eq!(
        (answers[0]["msgtype"].as_str(), answers[0]["txtime"].as_f64()),
        (Some("timesync"), Some(12.5))
    );
    assert!(answers[0]["gpstime"].as_i64().unwrap() > 1_000_000_000_000_000);
    assert!(net.send(json!({"msgtype": "propdf", "FRMPayload": "00"})).is_empty());
    assert!(net.send(json!("not a message")).is_empty());
}

#[test]
fn a_join_then_uplinks_reach_the_rule_and_a_queued_downlink_rides_the_next_window() {
    let net = Net::new(&["*"]);
    let key = parse_key(APP_KEY).unwrap();
    let answers = net.join(APP_KEY, 1);
    let dn = &answers[0];
    assert_eq!(
        (dn["msgtype"].as_str(), dn["RxDelay"].as_u64(), dn["xtime"].as_i64()),
        (Some("dnmsg"), Some(5), Some(7))
    );
    assert_eq!(dn["DevEui"], dashed(&DEV_EUI));
    let accept = JoinAccept::open(&pdu(dn), &key).unwrap();
    let (nwk, app) = session_keys(&key, accept.app_nonce, accept.net_id, 1);
    assert_eq!(accept.dev_addr >> 25, 0, "NwkID 0");

    let up = |fcnt: u32, data: &[u8]| {
        DataFrame::seal(MType::UnconfirmedDataUp, accept.dev_addr, 0, fcnt, Some(2), data, &nwk, &app)
    };
    assert!(net.uplink(&up(0, b"hi")).is_empty(), "nothing queued");
    let scope = net.gateway.scope.clone();
    let message_id =
        net.wireless.send_data_to_wireless_device(&scope, &net.device_id, b"down".to_vec(), 9, true).unwrap();
    let answers = net.uplink(&up(1, b"again"));
    let down = DataFrame::parse(&pdu(&answers[0])).unwrap();
    assert_eq!((down.mtype, down.fport, down.fcnt), (MType::ConfirmedDataDown, Some(9), 0));
    assert!(down.verify(&nwk, 0));
    assert_eq!(down.decrypt(&nwk, &app, 0), b"down");
    assert_eq!(answers[0]["RxDelay"], 1);
    assert!(net.uplink(&up(1, b"again")).is_empty(), "a replayed counter is dropped");
    assert!(net.uplink(&up(0x1_0002, b"wrapped")).is_empty(), "FCnt high half unknown: MIC fails");

    let published = net.published.0.lock().clone();
    assert_eq!(published.len(), 2);
    assert!(published.iter().all(|(topic, _)| topic == "$aws/rules/lora_rule"));
    let lorawan = &published[1].1["WirelessMetadata"]["LoRaWAN"];
    assert_eq!(published[1].1["PayloadData"], "YWdhaW4=");
    assert_eq!((lorawan["FCnt"].as_u64(), lorawan["FPort"].as_u64()), (Some(1), Some(2)));
    assert_eq!(lorawan["DevAddr"], format!("{:08x}", accept.dev_addr));
    assert_eq!(lorawan["Gateways"][0]["GatewayEui"], "a84041ffff1e7de6");
    // At the default ERROR level a good flow writes nothing.
    assert!(net.entries().is_empty(), "{:?}", net.entries());
    let _ = message_id;
}

#[test]
fn a_wrong_key_a_replayed_nonce_and_a_refused_role_write_their_entries() {
    let net = Net::new(&["arn:aws:iam::123456789012:role/Other"]);
    assert!(net.join("000102030405060708090a0b0c0d0e0f", 5).is_empty());
    let key = parse_key(APP_KEY).unwrap();
    let accept = JoinAccept::open(&pdu(&net.join(APP_KEY, 6)[0]), &key).unwrap();
    assert!(net.join(APP_KEY, 6).is_empty(), "DevNonce 6 again");
    let (nwk, app) = session_keys(&key, accept.app_nonce, accept.net_id, 6);
    let frame = DataFrame::seal(MType::ConfirmedDataUp, accept.dev_addr, 0, 0, Some(1), b"x", &nwk, &app);
    let answers = net.uplink(&frame);
    let ack = DataFrame::parse(&pdu(&answers[0])).unwrap();
    assert_eq!(
        (ack.fctrl & crate::frames::FCTRL_ACK, ack.fport),
        (crate::frames::FCTRL_ACK, None),
        "a confirmed uplink is acknowledged"
    );
    assert!(net.published.0.lock().is_empty());

    let entries = net.entries();
    let messages: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["event"].as_str().unwrap(), e["message"].as_str().unwrap())).collect();
    assert_eq!(messages[0], ("Join", crate::INVALID_MIC));
    assert_eq!(messages[1], ("Join", "DevNonce 6 has been used before: the join-request is a replay."));
    assert_eq!(messages[2].0, "Uplink");
    assert!(messages[2].1.starts_with("Cannot assume role MessageId: "), "{}", messages[2].1);
    assert!(messages[2]
        .1
        .contains("on resource: arn:aws:iam::123456789012:role/Destination\tstatus code: 403"));
    assert_eq!(entries[0]["resourceId"], net.device_id.as_str());
    assert_eq!(entries[0]["devEui"], hex(&DEV_EUI));
    assert!(entries.iter().all(|e| e["logLevel"] == "ERROR"));
}

#[test]
fn sessions_and_levels_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iotemu.db");
    let scope = Scope::new("123456789012", "us-east-1");
    let (logs, _pipeline) = LogPipeline::new("123456789012", LevelFilter::Debug).start().unwrap();
    let open = || {
        Wireless::load(
            Arc::new(Store::open(&path).unwrap()),
            logs.clone(),
            Arc::new(Recorder::default()),
            RolePolicy(vec!["*".into()]),
        )
        .unwrap()
    };
    let first = open();
    first
        .create_destination(
            &scope,
            "d",
            ExpressionType::MqttTopic,
            "t".into(),
            None,
            "arn:aws:iam::1:role/abcdefgh".into(),
        )
        .unwrap();
    let abp =
        serde_json::from_value(json!({"DevEui": "0102030405060708", "AbpV1_0_x": {"DevAddr": "26011bda",
        "SessionKeys": {"NwkSKey": APP_KEY, "AppSKey": APP_KEY}, "FCntStart": 5}}))
        .unwrap();
    let device = first.create_wireless_device(&scope, "LoRaWAN", None, None, "d".into(), Some(abp)).unwrap();
    first.put_resource_log_level(&scope, &device.id, "WirelessDevice", crate::state::Level::Info).unwrap();
    drop(first);
    let second = open();
    assert_eq!(
        second.get_resource_log_level(&scope, &device.id, "WirelessDevice").unwrap(),
        Some(crate::state::Level::Info)
    );
    let session = second.state.lock().sessions.get(&(scope.clone(), device.id.clone())).cloned().unwrap();
    assert_eq!((session.dev_addr, session.fcnt_up), (0x2601_1bda, Some(4)));
    second.reset().unwrap();
    drop(second);
    assert!(open().list_destinations(&scope, None, None).0.is_empty(), "reset empties the store too");
}
