//! The rules-engine benchmark (iotemu only): messages/s through one topic rule with a WHERE
//! clause and a republish action, beside plain delivery of the same messages on the same broker
//! (the reference), measured alternately in one run.
//!
//! - plain: `publishers` clients each publish `messages` QoS 0 messages `{"temp": 42, "seq": n}`
//!   to `bench/<i>/data`; one subscriber on `bench/+/data` receives them.
//! - rule: the same publishes, with the rule `SELECT temp, seq FROM 'bench/+/data' WHERE
//!   temp > 30` republishing to `out/${topic(2)}` at QoS 0; the subscriber is on `out/+` only
//!   (nobody subscribes to `bench/+/data`). The rule is created (CreateTopicRule on the API
//!   port) before the measurement and deleted after it.
//!
//! Every publisher keeps at most `window` messages outstanding end to end (published, not yet
//! received by the subscriber), so the rules engine's queue (10,000 by default) cannot overflow
//! while `publishers * window` stays below it; `--window 0` publishes open loop instead. A
//! measurement ends when every message arrived, or when nothing arrived for `idle` seconds
//! (then the missing ones count as lost). msgs/s = received / (last receive - first send).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::mqtt::{self, MAX_PACKET};
use crate::scenarios::{log_entries_dropped, now_ns};

/// Most publishes encoded into one socket write.
const BATCH: u64 = 64;
const KEEP_ALIVE: u16 = 1200;
/// The rule's statement and its republish topic.
pub const SQL: &str = "SELECT temp, seq FROM 'bench/+/data' WHERE temp > 30";
const REPUBLISH_TOPIC: &str = "out/${topic(2)}";

pub struct RulesOpts {
    pub addr: SocketAddr,
    pub api: SocketAddr,
    pub publishers: usize,
    /// Messages per publisher per measurement.
    pub messages: u64,
    /// Messages per publisher outstanding end to end; 0: no limit (open loop).
    pub window: u64,
    /// Alternating (plain, rule) pairs; odd rounds run the rule first.
    pub rounds: usize,
    /// A measurement gives up when nothing arrived for this long.
    pub idle: Duration,
    /// A measurement gives up after this long in all.
    pub max: Duration,
    pub tag: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Rule,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Rule => "rule",
        }
    }
}

/// Counters of one publisher.
#[derive(Default)]
struct Flow {
    sent: AtomicU64,
    received: AtomicU64,
    notify: Notify,
}

/// Runs every round, printing one JSON line per measurement, then the table (on stdout).
pub async fn run(o: &RulesOpts) -> Result<()> {
    let region = health(o.api).await?["region"].as_str().unwrap_or("us-east-1").to_string();
    let mut plain = Vec::new();
    let mut rule = Vec::new();
    let mut lines = Vec::new();
    for round in 0..o.rounds {
        let order = if round % 2 == 0 { [Mode::Plain, Mode::Rule] } else { [Mode::Rule, Mode::Plain] };
        for mode in order {
            let v = match mode {
                Mode::Plain => measure(o, mode, round).await?,
                Mode::Rule => {
                    let name = format!("loadgen_{}_{round}", o.tag);
                    create_rule(o.api, &region, &name).await?;
                    let r = measure(o, mode, round).await;
                    let deleted = delete_rule(o.api, &region, &name).await;
                    let mut v = r?;
                    deleted?;
                    if v["lost"].as_u64().unwrap_or(0) > 0 {
                        v["rule_queue_full_seen"] =
                            rule_queue_full_seen(o.api).await.map_or(Value::Null, Value::from);
                    }
                    v
                }
            };
            println!("{v}");
            let rate = v["msgs_per_s"].as_f64().unwrap_or(0.0);
            match mode {
                Mode::Plain => plain.push(rate),
                Mode::Rule => rule.push(rate),
            }
            lines.push(v);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let (p, r) = (median(&plain), median(&rule));
    let lost = |m: &str| -> u64 {
        lines.iter().filter(|v| v["mode"] == m).map(|v| v["lost"].as_u64().unwrap_or(0)).sum()
    };
    let dropped: u64 = lines.iter().map(|v| v["log_entries_dropped"].as_u64().unwrap_or(0)).sum();
    let ratio = if p > 0.0 { r / p } else { 0.0 };
    println!(
        "{}",
        json!({
            "summary": "rules", "publishers": o.publishers, "messages_per_publisher": o.messages,
            "window": o.window, "rounds": o.rounds, "plain_median_msgs_per_s": p.round(),
            "rule_median_msgs_per_s": r.round(), "ratio_rule_over_plain": (ratio * 1000.0).round() / 1000.0,
            "plain_lost": lost("plain"), "rule_lost": lost("rule"), "log_entries_dropped": dropped,
        })
    );
    println!();
    println!("{:<44} {:>12} {:>10} {:>28}", "messages/s (median of rounds)", "msgs/s", "lost", "per round");
    let runs = |xs: &[f64]| xs.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(" ");
    println!(
        "{:<44} {:>12.0} {:>10} {:>28}",
        "plain delivery (bench/+/data)",
        p,
        lost("plain"),
        runs(&plain)
    );
    println!(
        "{:<44} {:>12.0} {:>10} {:>28}",
        "through one rule (WHERE + republish, out/+)",
        r,
        lost("rule"),
        runs(&rule)
    );
    println!("{:<44} {:>12.2}", "ratio rule / plain", ratio);
    println!("log entries dropped by iotemu during the measurements: {dropped}");
    Ok(())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One measurement: connect, publish everything, wait for it, disconnect.
async fn measure(o: &RulesOpts, mode: Mode, round: usize) -> Result<Value> {
    let dropped_before = log_entries_dropped(o.api).await?;
    let flows: Arc<Vec<Flow>> = Arc::new((0..o.publishers).map(|_| Flow::default()).collect());
    let filter = match mode {
        Mode::Plain => "bench/+/data",
        Mode::Rule => "out/+",
    };
    let id = format!("lg-{}-{round}{}", o.tag, &mode.name()[..1]);
    let mut sub = mqtt::connect(o.addr, &format!("{id}-sub"), KEEP_ALIVE).await.context("subscriber")?;
    sub.subscribe(filter, QoS::AtMostOnce, 1).await?;
    let mut pubs = Vec::new();
    for i in 0..o.publishers {
        pubs.push(mqtt::connect(o.addr, &format!("{id}-p{i}"), KEEP_ALIVE).await.context("publisher")?);
    }
    let last_rx = Arc::new(AtomicU64::new(0));
    let stray = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reader = {
        let (flows, last_rx, stray) = (flows.clone(), last_rx.clone(), stray.clone());
        let (rd, buf) = (sub.rd, sub.buf);
        tokio::spawn(read_deliveries(rd, buf, flows, last_rx, stray, stop_rx))
    };
    let first_tx = now_ns();
    let mut tasks = Vec::new();
    for (i, c) in pubs.into_iter().enumerate() {
        let (flows, window, messages) = (flows.clone(), o.window, o.messages);
        let (idle, mut stop) = (o.idle, stop_tx.subscribe());
        tasks.push(tokio::spawn(async move {
            let mut wr = c.wr;
            let topic = format!("bench/{i}/data");
            let f = &flows[i];
            let mut out = BytesMut::with_capacity(8192);
            let mut n = 0u64;
            while n < messages && !*stop.borrow() {
                let allow = if window == 0 {
                    messages
                } else {
                    (f.received.load(Ordering::Acquire) + window).min(messages)
                };
                if n >= allow {
                    // Held back by the window: wait for progress; nothing for `idle`: give up.
                    let notified = f.notify.notified();
                    if f.received.load(Ordering::Acquire) + window > n {
                        continue;
                    }
                    tokio::select! {
                        r = tokio::time::timeout(idle, notified) => if r.is_err() { break },
                        _ = stop.changed() => break,
                    }
                    continue;
                }
                let k = (allow - n).min(BATCH);
                for s in n..n + k {
                    let payload = format!(r#"{{"temp": 42, "seq": {s}}}"#);
                    mqtt::put_publish(&mut out, topic.as_bytes(), 0, 0, payload.as_bytes());
                }
                wr.write_all(&out).await?;
                out.clear();
                n += k;
                f.sent.store(n, Ordering::Release);
                if window == 0 {
                    tokio::task::yield_now().await;
                }
            }
            anyhow::Ok(wr)
        }));
    }
    let deadline = tokio::time::Instant::now() + o.max;
    let mut writers = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(Ok(w))) => writers.push(w),
            Ok(Ok(Err(e))) => errors.push(format!("publisher: {e:#}")),
            Ok(Err(e)) => errors.push(format!("publisher task: {e}")),
            Err(_) => errors.push("publisher did not finish in time".into()),
        }
    }
    // Wait for the rest: everything sent arrived, nothing arrived for `idle`, or the deadline.
    let sent = || flows.iter().map(|f| f.sent.load(Ordering::Acquire)).sum::<u64>();
    let received = || flows.iter().map(|f| f.received.load(Ordering::Acquire)).sum::<u64>();
    let mut last = received();
    let mut last_move = tokio::time::Instant::now();
    let timed_out = loop {
        let r = received();
        if r >= sent() {
            break false;
        }
        let now = tokio::time::Instant::now();
        if r != last {
            (last, last_move) = (r, now);
        } else if now - last_move > o.idle || now > deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = stop_tx.send(true);
    let (sent, received) = (sent(), received());
    for mut w in writers {
        let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(&[0xE0, 0x00])).await;
        let _ = w.shutdown().await;
    }
    if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), reader).await {
        errors.push(format!("subscriber: {e:#}"));
    }
    let dropped_after = log_entries_dropped(o.api).await?;
    let expected = o.messages * o.publishers as u64;
    let elapsed_s = last_rx.load(Ordering::Acquire).saturating_sub(first_tx) as f64 / 1e9;
    let rate = if elapsed_s > 0.0 { received as f64 / elapsed_s } else { 0.0 };
    Ok(json!({
        "scenario": "rules", "mode": mode.name(), "round": round + 1,
        "publishers": o.publishers, "window": o.window, "filter": filter,
        "expected": expected, "sent": sent, "received": received,
        "lost": expected.saturating_sub(received), "timed_out": timed_out,
        "stray": stray.load(Ordering::Relaxed),
        "elapsed_s": (elapsed_s * 1000.0).round() / 1000.0, "msgs_per_s": rate.round(),
        "log_entries_dropped": dropped_after.saturating_sub(dropped_before), "errors": errors,
    }))
}

/// Counts deliveries per publisher (the index is the topic's second level) until `stop`.
async fn read_deliveries(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    flows: Arc<Vec<Flow>>,
    last_rx: Arc<AtomicU64>,
    stray: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let mut got = false;
        loop {
            match Packet::read(&mut buf, MAX_PACKET) {
                Ok(Packet::Publish(p)) => {
                    let i = p.topic.split('/').nth(1).and_then(|s| s.parse::<usize>().ok());
                    match i.and_then(|i| flows.get(i)) {
                        Some(f) if p.payload.starts_with(b"{") => {
                            f.received.fetch_add(1, Ordering::AcqRel);
                            f.notify.notify_one();
                            got = true;
                        }
                        _ => {
                            stray.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(_) => {}
                Err(CodecError::InsufficientBytes(_)) => break,
                Err(e) => bail!("malformed packet from broker: {e}"),
            }
        }
        if got {
            last_rx.store(now_ns(), Ordering::Release);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            r = rd.read_buf(&mut buf) => if r? == 0 { return Ok(()) },
            _ = stop.changed() => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------- the API port

/// `Authorization` with a SigV4 credential scope for `service` (iotemu reads the scope only).
fn auth(region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20250101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
async fn http(api: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Result<(u16, String)> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(api).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut resp = Vec::new();
        s.take(16 << 20).read_to_end(&mut resp).await?;
        anyhow::Ok(resp)
    };
    let resp = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .with_context(|| format!("{method} http://{api}{path} timed out"))?
        .with_context(|| format!("{method} http://{api}{path}"))?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
    Ok((status, body.to_string()))
}

async fn health(api: SocketAddr) -> Result<Value> {
    let (status, body) = http(api, "GET", "/_iotemu/health", "", "").await?;
    if status != 200 {
        bail!("GET /_iotemu/health: {status} {body}");
    }
    serde_json::from_str(&body).context("health is not JSON")
}

/// CreateTopicRule (`iot`): the benchmark's rule.
async fn create_rule(api: SocketAddr, region: &str, name: &str) -> Result<()> {
    let body = json!({
        "sql": SQL,
        "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {
            "topic": REPUBLISH_TOPIC, "roleArn": "arn:aws:iam::123456789012:role/r", "qos": 0,
        }}],
    })
    .to_string();
    let headers = format!("Authorization: {}\r\nContent-Type: application/json\r\n", auth(region, "iot"));
    let (status, resp) = http(api, "POST", &format!("/rules/{name}"), &headers, &body).await?;
    if status != 200 {
        bail!("CreateTopicRule {name}: {status} {resp}");
    }
    Ok(())
}

async fn delete_rule(api: SocketAddr, region: &str, name: &str) -> Result<()> {
    let headers = format!("Authorization: {}\r\n", auth(region, "iot"));
    let (status, resp) = http(api, "DELETE", &format!("/rules/{name}"), &headers, "").await?;
    if status != 200 {
        bail!("DeleteTopicRule {name}: {status} {resp}");
    }
    Ok(())
}

/// RuleExecution Failure entries with reason RuleQueueFull among the live tail's recent entries
/// (a lower bound: the tail keeps only the newest entries).
async fn rule_queue_full_seen(api: SocketAddr) -> Result<u64> {
    let path = "/_iotemu/logs?eventType=RuleExecution&status=Failure";
    let (status, body) = http(api, "GET", path, "", "").await?;
    if status != 200 {
        bail!("GET {path}: {status} {body}");
    }
    Ok(body.lines().filter(|l| l.contains("RuleQueueFull")).count() as u64)
}
