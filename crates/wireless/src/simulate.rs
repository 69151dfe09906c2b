//! `iotemu lora simulate`: a LoRa Basics Station gateway and a LoRaWAN 1.0.x device played
//! against a running emulator, narrating each step of the flow: the resources are created
//! through the `iotwireless` API, the station finds its socket through `/router-info`, the
//! device joins (OTAA), sends uplinks, and receives the downlink queued with
//! SendDataToWirelessDevice in the receive window after its first uplink.

use crate::crypto::{session_keys, Key};
use crate::frames::{hex, DataFrame, JoinAccept, JoinRequest, MType};
use crate::lns::{dashed, id6};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The emulator's API, `http://127.0.0.1:4580`.
    pub api: String,
    /// The LNS endpoint, `ws://127.0.0.1:3001`.
    pub lns: String,
    /// The AWS region of the API calls.
    pub aws_region: String,
    /// The gateway's and device's `RfRegion` (EU868, US915).
    pub rf_region: String,
    pub gateway_eui: [u8; 8],
    pub dev_eui: [u8; 8],
    pub app_key: Key,
    /// The MQTT topic the device's destination publishes uplinks to.
    pub topic: String,
    pub uplinks: u32,
    pub fport: u8,
    pub payload: Vec<u8>,
    /// Queued with SendDataToWirelessDevice before the first uplink.
    pub downlink: Option<Vec<u8>>,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long the device waits for a downlink after an uplink (the join-accept's RX1 is 5 s
/// later on the air; the emulator answers at once).
const WAIT: Duration = Duration::from_secs(5);

struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    fn new(base: &str, region: &str) -> Self {
        // The emulator reads the service from the SigV4 credential scope and checks no signature.
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=iotemu-simulate/20240101/{region}/iotwireless/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        Api { http: reqwest::Client::new(), base: base.trim_end_matches('/').to_string(), auth }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request =
            self.http.request(method, format!("{}{path}", self.base)).header("authorization", &self.auth);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response =
            request.send().await.map_err(|e| format!("cannot reach the API at {}: {e}", self.base))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, value) = self.call(method, path, body).await?;
        if status >= 300 {
            return Err(format!("{path}: HTTP {status} {value}"));
        }
        Ok(value)
    }
}

async fn next_text(socket: &mut Socket, wait: Duration) -> Result<Option<Value>, String> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err("the LNS closed the socket".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(Message::Text(text)))) => return Ok(serde_json::from_str(&text).ok()),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn send(socket: &mut Socket, value: Value) -> Result<(), String> {
    socket.send(Message::Text(value.to_string().into())).await.map_err(|e| e.to_string())
}

fn pdu(dnmsg: &Value) -> Option<Vec<u8>> {
    dnmsg.get("pdu").and_then(Value::as_str).and_then(crate::frames::hex_decode)
}

/// Runs the simulation, printing each step through `say`.
pub async fn run(sim: &Simulation, mut say: impl FnMut(String)) -> Result<(), String> {
    let api = Api::new(&sim.api, &sim.aws_region);
    let (gw_eui, dev_eui) = (hex(&sim.gateway_eui), hex(&sim.dev_eui));

    // 1. The resources, through the iotwireless API.
    let destination = "iotemu-simulate";
    let (status, _) = api.call(reqwest::Method::GET, &format!("/destinations/{destination}"), None).await?;
    if status == 404 {
        let body = json!({"Name": destination, "ExpressionType": "MqttTopic", "Expression": sim.topic,
            "RoleArn": "arn:aws:iam::123456789012:role/iotemu-simulate"});
        api.expect(reqwest::Method::POST, "/destinations", Some(body)).await?;
    }
    say(format!("destination {destination}: uplinks go to MQTT topic {}", sim.topic));
    let (status, _) = api
        .call(reqwest::Method::GET, &format!("/wireless-gateways/{gw_eui}?identifierType=GatewayEui"), None)
        .await?;
    if status == 404 {
        let body = json!({"Name": "iotemu-simulated-gateway", "LoRaWAN": {"GatewayEui": gw_eui, "RfRegion": sim.rf_region}});
        api.expect(reqwest::Method::POST, "/wireless-gateways", Some(body)).await?;
    }
    say(format!("wireless gateway {gw_eui} ({})", sim.rf_region));
    let profile = api
        .expect(
            reqwest::Method::POST,
            "/device-profiles",
            Some(json!({"LoRaWAN": {"MacVersion": "1.0.3",
            "RfRegion": sim.rf_region, "SupportsJoin": true}})),
        )
        .await?;
    let app_eui = "0000000000000001";
    let device = api
        .expect(
            reqwest::Method::POST,
            "/wireless-devices",
            Some(
                json!({"Type": "LoRaWAN", "Name": "iotemu-simulated-device", "DestinationName": destination,
                "LoRaWAN": {"DevEui": dev_eui, "DeviceProfileId": profile["Id"],
                    "OtaaV1_0_x": {"AppKey": hex(&sim.app_key), "AppEui": app_eui}}}),
            ),
        )
        .await?;
    let device_id = device["Id"].as_str().unwrap_or_default().to_string();
    say(format!("wireless device {device_id}: DevEui {dev_eui}, OTAA 1.0.x, AppKey {}", hex(&sim.app_key)));

    // 2. The station: discovery, then its traffic socket.
    let lns = sim.lns.trim_end_matches('/');
    let (mut discovery, _) = tokio_tungstenite::connect_async(format!("{lns}/router-info"))
        .await
        .map_err(|e| format!("cannot reach the LNS at {lns}: {e}"))?;
    send(&mut discovery, json!({"router": id6(&sim.gateway_eui)})).await?;
    let info = next_text(&mut discovery, WAIT).await?.ok_or("no answer from /router-info")?;
    let uri = info["uri"].as_str().ok_or_else(|| format!("/router-info answered {info}"))?.to_string();
    say(format!("station: /router-info sent it to {uri}"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&uri).await.map_err(|e| e.to_string())?;
    send(&mut socket, json!({"msgtype": "version", "station": "iotemu-simulate", "protocol": 2})).await?;
    let config = next_text(&mut socket, WAIT).await?.ok_or("no router_config")?;
    say(format!("station: router_config for region {}", config["region"].as_str().unwrap_or("?")));

    // 3. The join.
    let region = crate::region::Region::of(&sim.rf_region);
    let freq = if region == crate::region::Region::Us915 { 903_900_000 } else { 868_100_000 };
    let random = uuid::Uuid::new_v4();
    let dev_nonce = u16::from_le_bytes([random.as_bytes()[0], random.as_bytes()[1]]);
    let mut join_eui = [0u8; 8];
    join_eui[7] = 1;
    let request = JoinRequest::sign(join_eui, sim.dev_eui, dev_nonce, &sim.app_key);
    let upinfo = json!({"rctx": 0, "xtime": 1, "gpstime": 0, "rssi": -60, "snr": 9.0});
    send(&mut socket, json!({"msgtype": "jreq", "MHdr": 0, "JoinEui": dashed(&join_eui), "DevEui": dashed(&sim.dev_eui),
        "DevNonce": dev_nonce, "MIC": i32::from_le_bytes(request.mic), "DR": 0, "Freq": freq, "upinfo": upinfo}))
    .await?;
    say(format!("device: join-request, DevNonce {dev_nonce}"));
    let accept = next_text(&mut socket, WAIT)
        .await?
        .ok_or("no join-accept: see the Join entry in /aws/iotwireless")?;
    let accept =
        JoinAccept::open(&pdu(&accept).unwrap_or_default(), &sim.app_key).map_err(|e| e.to_string())?;
    let (nwk, app) = session_keys(&sim.app_key, accept.app_nonce, accept.net_id, dev_nonce);
    say(format!(
        "device: joined, DevAddr {:08x}, NwkSKey {}, AppSKey {}",
        accept.dev_addr,
        hex(&nwk),
        hex(&app)
    ));

    // 4. A downlink waiting for the first receive window.
    if let Some(data) = &sim.downlink {
        let body = json!({"TransmitMode": 0, "PayloadData": base64::engine::general_purpose::STANDARD.encode(data),
            "WirelessMetadata": {"LoRaWAN": {"FPort": sim.fport}}});
        let sent = api
            .expect(reqwest::Method::POST, &format!("/wireless-devices/{device_id}/data"), Some(body))
            .await?;
        say(format!("SendDataToWirelessDevice: MessageId {}", sent["MessageId"].as_str().unwrap_or("?")));
    }

    // 5. Uplinks, each followed by its receive window.
    for fcnt in 0..sim.uplinks {
        let frame = DataFrame::seal(
            MType::UnconfirmedDataUp,
            accept.dev_addr,
            0,
            fcnt,
            Some(sim.fport),
            &sim.payload,
            &nwk,
            &app,
        );
        send(&mut socket, json!({"msgtype": "updf", "MHdr": frame.mtype.mhdr(), "DevAddr": frame.dev_addr as i32,
            "FCtrl": frame.fctrl, "FCnt": frame.fcnt, "FOpts": "", "FPort": sim.fport,
            "FRMPayload": hex(&frame.frm_payload), "MIC": i32::from_le_bytes(frame.mic), "DR": 5, "Freq": freq,
            "upinfo": {"rctx": 0, "xtime": 2 + i64::from(fcnt), "gpstime": 0, "rssi": -61, "snr": 8.5}}))
        .await?;
        say(format!("device: uplink FCnt {fcnt}, FPort {}, payload {}", sim.fport, hex(&sim.payload)));
        let wait = if sim.downlink.is_some() && fcnt == 0 { WAIT } else { Duration::from_millis(300) };
        if let Some(message) = next_text(&mut socket, wait).await? {
            let down = DataFrame::parse(&pdu(&message).unwrap_or_default()).map_err(|e| e.to_string())?;
            if !down.verify(&nwk, u32::from(down.fcnt)) {
                return Err("the downlink's MIC does not verify".into());
            }
            let data = down.decrypt(&nwk, &app, u32::from(down.fcnt));
            say(format!(
                "device: downlink in RX1 (RxDelay {}), FPort {:?}, payload {}",
                message["RxDelay"],
                down.fport,
                hex(&data)
            ));
            send(
                &mut socket,
                json!({"msgtype": "dntxed", "diid": message["diid"], "DevEui": message["DevEui"],
                "rctx": 0, "xtime": message["xtime"], "txtime": 0.0, "gpstime": 0}),
            )
            .await?;
        }
    }
    let _ = socket.close(None).await;
    say(format!(
        "done: read the entries with `aws --endpoint-url {} logs filter-log-events --log-group-name /aws/iotwireless`",
        sim.api
    ));
    Ok(())
}
