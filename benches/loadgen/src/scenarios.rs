//! The benchmark scenarios. Every loop here is bounded in time and count.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::Error as CodecError;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::mqtt::{self, Conn, MAX_PACKET};

/// AWS IoT allows at most 100 unacknowledged QoS 1 publishes per client.
pub const MAX_INFLIGHT: u64 = 100;
/// Most publishes encoded into one socket write.
const BATCH: u64 = 64;
/// Keepalive for every benchmark connection (AWS IoT's maximum); runs are far shorter.
const KEEP_ALIVE: u16 = 1200;
/// How long to wait for in-flight deliveries after publishers stop, at most.
const DRAIN_MAX: Duration = Duration::from_secs(20);
/// Drain gives up earlier when nothing arrives for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// Monotonic nanoseconds since the first call in this process (payload timestamps).
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Counters for one publisher ("flow").
#[derive(Default)]
struct Flow {
    /// Publishes written.
    sent: AtomicU64,
    /// PUBACKs received (QoS 1).
    acked: AtomicU64,
    /// Deliveries counted by subscribers (a fan-out publish counts once per subscriber).
    received: AtomicU64,
    /// Woken when `received` or `acked` moves.
    notify: Notify,
}

/// Waits for every publisher task (10 s each at most) and keeps their write halves; failures
/// go to `errors`.
async fn join_publishers<W>(tasks: Vec<JoinHandle<Result<W>>>, errors: &mut Vec<String>) -> Vec<W> {
    let mut writers = Vec::new();
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(10), t).await {
            Ok(Ok(Ok(w))) => writers.push(w),
            Ok(Ok(Err(e))) => errors.push(format!("publisher: {e:#}")),
            Ok(Err(e)) => errors.push(format!("publisher task: {e}")),
            Err(_) => errors.push("publisher did not stop within 10 s".into()),
        }
    }
    writers
}

fn total_received(flows: &[Flow]) -> u64 {
    flows.iter().map(|f| f.received.load(Ordering::Relaxed)).sum()
}

/// Connect `n` clients with at most `concurrency` handshakes in flight.
async fn connect_many(addr: SocketAddr, ids: Vec<String>, concurrency: usize) -> Result<Vec<Conn>> {
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1).min(ids.len().max(1)) {
        let ids = ids.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ids.len() {
                    break;
                }
                let c = mqtt::connect(addr, &ids[i], KEEP_ALIVE)
                    .await
                    .with_context(|| format!("client {}", ids[i]))?;
                mine.push((i, c));
            }
            anyhow::Ok(mine)
        }));
    }
    let mut all = Vec::with_capacity(ids.len());
    for w in workers {
        all.extend(w.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, c)| c).collect())
}

/// Sends DISCONNECT on each connection and closes it.
async fn disconnect_all(conns: Vec<Conn>) {
    let mut handles = Vec::new();
    let mut chunk = Vec::new();
    for c in conns {
        chunk.push(c);
        if chunk.len() == 500 {
            handles.push(tokio::spawn(close_chunk(std::mem::take(&mut chunk))));
        }
    }
    handles.push(tokio::spawn(close_chunk(chunk)));
    for h in handles {
        let _ = h.await;
    }
}

async fn close_chunk(conns: Vec<Conn>) {
    for mut c in conns {
        let _ = tokio::time::timeout(Duration::from_secs(1), c.wr.write_all(&[0xE0, 0x00])).await;
        let _ = c.wr.shutdown().await;
    }
}

async fn close_writers(writers: Vec<tokio::net::tcp::OwnedWriteHalf>) {
    for mut w in writers {
        let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(&[0xE0, 0x00])).await;
        let _ = w.shutdown().await;
    }
}

// ---------------------------------------------------------------- subscribers

struct LatencyCfg {
    /// Only messages sent at or after this instant (ns, see `now_ns`) are recorded.
    record_from_ns: u64,
}

/// Reads deliveries until `stop` fires; counts them per flow, acknowledges QoS 1, optionally
/// records end-to-end latency in microseconds.
async fn run_subscriber(
    mut conn: Conn,
    flows: Arc<Vec<Flow>>,
    mut stop: watch::Receiver<bool>,
    lat: Option<LatencyCfg>,
) -> Result<Option<Histogram<u64>>> {
    let mut hist = match lat {
        Some(_) => Some(Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?),
        None => None,
    };
    let mut counts = vec![0u64; flows.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut acks = BytesMut::with_capacity(4096);
    let mut arrival_ns = now_ns();
    loop {
        loop {
            match Packet::read(&mut conn.buf, MAX_PACKET) {
                Ok(Packet::Publish(p)) => {
                    if p.qos as u8 > 0 {
                        mqtt::put_puback(&mut acks, p.pkid);
                    }
                    if let Some((flow, _seq, ts)) = mqtt::parse_payload(&p.payload) {
                        let f = flow as usize;
                        if f < counts.len() {
                            if counts[f] == 0 {
                                touched.push(f);
                            }
                            counts[f] += 1;
                        }
                        if let (Some(h), Some(l)) = (hist.as_mut(), lat.as_ref()) {
                            if ts >= l.record_from_ns {
                                let us = arrival_ns.saturating_sub(ts) / 1000;
                                h.saturating_record(us.max(1));
                            }
                        }
                    }
                }
                Ok(_) => {}
                Err(CodecError::InsufficientBytes(_)) => break,
                Err(e) => bail!("malformed packet from broker: {e}"),
            }
        }
        for &f in &touched {
            flows[f].received.fetch_add(counts[f], Ordering::Relaxed);
            counts[f] = 0;
            flows[f].notify.notify_one();
        }
        touched.clear();
        if !acks.is_empty() {
            conn.wr.write_all(&acks).await?;
            acks.clear();
        }
        if conn.buf.capacity() - conn.buf.len() < 16 * 1024 {
            conn.buf.reserve(64 * 1024);
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = conn.rd.read_buf(&mut conn.buf) => {
                if r? == 0 {
                    bail!("broker closed a subscriber connection");
                }
                arrival_ns = now_ns();
            }
        }
    }
    let _ = conn.wr.write_all(&[0xE0, 0x00]).await;
    Ok(hist)
}

/// Reads a publisher's socket: counts PUBACKs into its flow until `stop` fires.
async fn run_ack_reader(
    mut conn_rd: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    flows: Arc<Vec<Flow>>,
    flow: usize,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let mut acks = 0u64;
        loop {
            match Packet::read(&mut buf, MAX_PACKET) {
                Ok(Packet::PubAck(_)) => acks += 1,
                Ok(_) => {}
                Err(CodecError::InsufficientBytes(_)) => break,
                Err(e) => bail!("malformed packet from broker: {e}"),
            }
        }
        if acks > 0 {
            flows[flow].acked.fetch_add(acks, Ordering::Relaxed);
            flows[flow].notify.notify_one();
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            r = conn_rd.read_buf(&mut buf) => {
                if r? == 0 {
                    bail!("broker closed a publisher connection");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- throughput

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    /// N publishers -> 1 subscriber, one topic.
    Fanin,
    /// N independent publisher/subscriber pairs, one topic each.
    Pairs,
    /// 1 publisher -> N subscribers, one topic.
    Fanout,
}

pub struct TputOpts {
    pub addr: SocketAddr,
    pub pattern: Pattern,
    /// Publishers (fanin), pairs (pairs) or subscribers (fanout).
    pub n: usize,
    pub qos: u8,
    pub warmup: Duration,
    pub duration: Duration,
    /// Most publishes of one publisher not yet delivered to (all) its subscribers.
    pub window: u64,
    /// Unique per run; goes into client ids and topics.
    pub tag: String,
    /// Offered load in deliveries/s (summed over publishers): rate-limited publishing instead
    /// of closed-loop. The window and the QoS 1 in-flight limit still apply.
    pub rate: Option<f64>,
    /// iotemu's API port: its health's `logEntriesDropped` is read before and after the run.
    pub api_port: Option<u16>,
}

struct Topology {
    /// (flow id, topic) per publisher.
    publishers: Vec<(usize, String)>,
    /// Filter per subscriber.
    subscribers: Vec<String>,
    /// Deliveries per publish.
    factor: u64,
}

fn topology(pattern: Pattern, n: usize, tag: &str) -> Topology {
    match pattern {
        Pattern::Fanin => {
            let t = format!("bench/{tag}/fanin");
            Topology { publishers: (0..n).map(|i| (i, t.clone())).collect(), subscribers: vec![t], factor: 1 }
        }
        Pattern::Pairs => Topology {
            publishers: (0..n).map(|i| (i, format!("bench/{tag}/pair/{i}"))).collect(),
            subscribers: (0..n).map(|i| format!("bench/{tag}/pair/{i}")).collect(),
            factor: 1,
        },
        Pattern::Fanout => {
            let t = format!("bench/{tag}/fanout");
            Topology { publishers: vec![(0, t.clone())], subscribers: vec![t; n], factor: n as u64 }
        }
    }
}

/// Closed-loop publisher: keeps at most `window` publishes outstanding end to end (and at
/// most MAX_INFLIGHT unacknowledged at QoS 1) and otherwise publishes as fast as it can.
#[allow(clippy::too_many_arguments)]
async fn run_closed_publisher(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    flows: Arc<Vec<Flow>>,
    flow: usize,
    topic: String,
    qos: u8,
    factor: u64,
    window: u64,
    stop: Arc<AtomicBool>,
) -> Result<tokio::net::tcp::OwnedWriteHalf> {
    let f = &flows[flow];
    let mut payload = mqtt::new_payload();
    let mut out = BytesMut::with_capacity(BATCH as usize * 128);
    let mut pkid = 0u16;
    while !stop.load(Ordering::Relaxed) {
        let sent = f.sent.load(Ordering::Relaxed);
        let received = f.received.load(Ordering::Relaxed);
        let outstanding = (sent * factor).saturating_sub(received).div_ceil(factor);
        let mut allow = window.saturating_sub(outstanding).min(BATCH);
        if qos > 0 {
            let unacked = sent.saturating_sub(f.acked.load(Ordering::Relaxed));
            allow = allow.min(MAX_INFLIGHT.saturating_sub(unacked));
        }
        if allow == 0 {
            let _ = tokio::time::timeout(Duration::from_millis(20), f.notify.notified()).await;
            continue;
        }
        let ts = now_ns();
        for k in 0..allow {
            mqtt::fill_payload(&mut payload, flow as u32, sent + k, ts);
            mqtt::put_publish(&mut out, topic.as_bytes(), qos, mqtt::next_pkid(&mut pkid), &payload);
        }
        f.sent.store(sent + allow, Ordering::Relaxed);
        wr.write_all(&out).await?;
        out.clear();
    }
    Ok(wr)
}

/// Rate-limited publisher: a token bucket filled at `rate` publishes/s (at most 20 ms of
/// tokens kept), emptied in small batches every `period`; the window and, at QoS 1, the
/// in-flight limit still apply, so a broker that cannot keep up gets less than offered (tokens
/// that could not be sent within 20 ms are discarded, never sent in a burst later).
#[allow(clippy::too_many_arguments)]
async fn run_rate_publisher(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    flows: Arc<Vec<Flow>>,
    flow: usize,
    topic: String,
    qos: u8,
    factor: u64,
    window: u64,
    rate: f64,
    period: Duration,
    start: tokio::time::Instant,
    stop: Arc<AtomicBool>,
) -> Result<tokio::net::tcp::OwnedWriteHalf> {
    let f = &flows[flow];
    let mut payload = mqtt::new_payload();
    let mut out = BytesMut::with_capacity(BATCH as usize * 128);
    let mut pkid = 0u16;
    let cap = (rate * 0.02).max(1.0);
    let mut tokens = 0.0f64;
    tokio::time::sleep_until(start).await;
    let mut last = tokio::time::Instant::now();
    let mut next_tick = last;
    while !stop.load(Ordering::Relaxed) {
        let now = tokio::time::Instant::now();
        tokens = (tokens + (now - last).as_secs_f64() * rate).min(cap);
        last = now;
        let sent = f.sent.load(Ordering::Relaxed);
        let received = f.received.load(Ordering::Relaxed);
        let outstanding = (sent * factor).saturating_sub(received).div_ceil(factor);
        let mut allow = window.saturating_sub(outstanding);
        if qos > 0 {
            let unacked = sent.saturating_sub(f.acked.load(Ordering::Relaxed));
            allow = allow.min(MAX_INFLIGHT.saturating_sub(unacked));
        }
        let n = (tokens as u64).min(allow);
        if n > 0 {
            let ts = now_ns();
            for k in 0..n {
                mqtt::fill_payload(&mut payload, flow as u32, sent + k, ts);
                mqtt::put_publish(&mut out, topic.as_bytes(), qos, mqtt::next_pkid(&mut pkid), &payload);
            }
            tokens -= n as f64;
            f.sent.store(sent + n, Ordering::Relaxed);
            wr.write_all(&out).await?;
            out.clear();
        }
        if next_tick <= now {
            next_tick += period;
            if next_tick <= now {
                next_tick = now + period;
            }
        }
        if tokens >= 1.0 && n == allow {
            // Held back by the window: wake on progress, at the latest at the next tick.
            let _ = tokio::time::timeout_at(next_tick, f.notify.notified()).await;
        } else {
            tokio::time::sleep_until(next_tick).await;
        }
    }
    Ok(wr)
}

/// iotemu's cumulative count of dropped log entries (`logEntriesDropped` in
/// `GET /_iotemu/health` on its API port): a minimal HTTP/1.1 GET on 127.0.0.1.
pub async fn log_entries_dropped(addr: SocketAddr) -> Result<u64> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /_iotemu/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await?;
        let mut resp = Vec::new();
        s.take(1 << 20).read_to_end(&mut resp).await?;
        anyhow::Ok(resp)
    };
    let resp = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .with_context(|| format!("GET http://{addr}/_iotemu/health timed out"))?
        .with_context(|| format!("GET http://{addr}/_iotemu/health"))?;
    let text = String::from_utf8_lossy(&resp);
    let status = text.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        bail!("GET http://{addr}/_iotemu/health: {status:?}");
    }
    parse_dropped(&text).with_context(|| format!("no integer \"logEntriesDropped\" in the health of {addr}"))
}

fn parse_dropped(text: &str) -> Option<u64> {
    let key = "\"logEntriesDropped\"";
    let rest = text[text.find(key)? + key.len()..].trim_start().strip_prefix(':')?.trim_start();
    let digits: &str = &rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())];
    digits.parse().ok()
}

pub async fn throughput(o: &TputOpts) -> Result<Value> {
    let topo = topology(o.pattern, o.n, &o.tag);
    let nflows = topo.publishers.len();
    let flows: Arc<Vec<Flow>> = Arc::new((0..nflows).map(|_| Flow::default()).collect());
    let api = o.api_port.map(|p| SocketAddr::new(o.addr.ip(), p));
    let dropped_before = match api {
        Some(a) => Some(log_entries_dropped(a).await?),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let qos = mqtt::qos_of(o.qos);

    // Subscribers first, each confirmed by SUBACK.
    let sub_ids = (0..topo.subscribers.len()).map(|i| format!("lg-{}-s{i}", o.tag)).collect();
    let subs = connect_many(o.addr, sub_ids, 50).await?;
    let mut sub_tasks: Vec<JoinHandle<Result<Option<Histogram<u64>>>>> = Vec::new();
    for (mut c, filter) in subs.into_iter().zip(topo.subscribers.iter()) {
        c.subscribe(filter, qos, 1).await?;
        sub_tasks.push(tokio::spawn(run_subscriber(c, flows.clone(), stop_rx.clone(), None)));
    }
    let pub_ids = (0..nflows).map(|i| format!("lg-{}-p{i}", o.tag)).collect();
    let pubs = connect_many(o.addr, pub_ids, 50).await?;
    // Let the broker settle the subscriptions.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut pub_tasks = Vec::new();
    let mut ack_tasks = Vec::new();
    // Rate-limited: publishes/s per publisher, and the batch period (about one BATCH per
    // period, between 1 and 10 ms); publishers' ticks are spread over one period.
    let per_pub = o.rate.map(|r| (r / topo.factor as f64 / nflows as f64).max(1.0));
    let period = per_pub.map(|r| Duration::from_secs_f64((BATCH as f64 / r).clamp(0.001, 0.010)));
    let t0 = tokio::time::Instant::now();
    for (c, (flow, topic)) in pubs.into_iter().zip(topo.publishers.iter()) {
        ack_tasks.push(tokio::spawn(run_ack_reader(c.rd, c.buf, flows.clone(), *flow, stop_rx.clone())));
        pub_tasks.push(match (per_pub, period) {
            (Some(rate), Some(period)) => tokio::spawn(run_rate_publisher(
                c.wr,
                flows.clone(),
                *flow,
                topic.clone(),
                o.qos,
                topo.factor,
                o.window.max(1),
                rate,
                period,
                t0 + period.mul_f64(*flow as f64 / nflows as f64),
                stop.clone(),
            )),
            _ => tokio::spawn(run_closed_publisher(
                c.wr,
                flows.clone(),
                *flow,
                topic.clone(),
                o.qos,
                topo.factor,
                o.window.max(1),
                stop.clone(),
            )),
        });
    }

    tokio::time::sleep(o.warmup).await;
    let (r1, t1) = (total_received(&flows), Instant::now());
    let s1: u64 = flows.iter().map(|f| f.sent.load(Ordering::Relaxed)).sum();
    tokio::time::sleep(o.duration).await;
    let (r2, t2) = (total_received(&flows), Instant::now());
    let s2: u64 = flows.iter().map(|f| f.sent.load(Ordering::Relaxed)).sum();
    stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    // Publishers' write halves stay open until the end: closing them early ends the sessions.
    let writers = join_publishers(pub_tasks, &mut errors).await;
    let sent: u64 = flows.iter().map(|f| f.sent.load(Ordering::Relaxed)).sum();
    let expected = sent * topo.factor;
    let drained = drain(&flows, expected, |fl| {
        if o.qos > 0 {
            fl.iter().map(|f| f.acked.load(Ordering::Relaxed)).sum::<u64>() >= sent
        } else {
            true
        }
    })
    .await;
    let received = total_received(&flows);
    let acked: u64 = flows.iter().map(|f| f.acked.load(Ordering::Relaxed)).sum();
    let _ = stop_tx.send(true);
    for t in sub_tasks {
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), t).await {
            errors.push(format!("subscriber: {e:#}"));
        }
    }
    for t in ack_tasks {
        if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(5), t).await {
            errors.push(format!("ack reader: {e:#}"));
        }
    }
    close_writers(writers).await;
    let log_dropped = match api {
        Some(a) => {
            // Entries are queued (or dropped) when the broker handles a message, so after the
            // drain every delivery's entry has been counted; a short grace covers the last ones.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = log_entries_dropped(a).await?;
            Some(after.saturating_sub(dropped_before.unwrap_or(0)))
        }
        None => None,
    };
    let secs = (t2 - t1).as_secs_f64();
    Ok(json!({
        "deliveries_per_s": (r2 - r1) as f64 / secs,
        "publishes_per_s": (s2 - s1) as f64 / secs,
        "offered_per_s": o.rate,
        "log_dropped": log_dropped,
        // One Publish-In entry per publish, one Publish-Out per delivery (whole run).
        "log_entries_est": sent + received,
        "sent": sent,
        "expected": expected,
        "received": received,
        "lost": expected.saturating_sub(received),
        "duplicates": received.saturating_sub(expected),
        "acked": acked,
        "drain_ms": drained.as_millis() as u64,
        "window": o.window,
        "errors": errors,
    }))
}

/// True if a throughput result lost nothing: every publish reached every subscriber, no client
/// failed, and (when it was read) iotemu dropped no log entry.
pub fn clean(v: &Value) -> bool {
    v["lost"].as_u64() == Some(0)
        && v["errors"].as_array().is_some_and(|a| a.is_empty())
        && v["log_dropped"].as_u64().unwrap_or(0) == 0
}

/// Bounds of a rate search.
pub struct SearchCfg {
    pub warmup: Duration,
    /// Measured window of each step.
    pub duration: Duration,
    /// Most measurements.
    pub max_steps: usize,
    /// No step starts unless it is expected to end within this time from the search's start.
    pub budget: Duration,
    /// Pause after each step (lets the broker's log writer catch up).
    pub pause: Duration,
}

/// Geometric step down while the offered rate is not clean.
const SEARCH_DOWN: f64 = 0.7;
/// Bisection steps after the first clean rate.
const SEARCH_BISECT: usize = 2;

/// The highest offered rate (deliveries/s) below `peak`, the rate of a closed-loop run that was
/// not clean, at which a rate-limited run of `template` is clean: from `peak` down by
/// SEARCH_DOWN until clean, then SEARCH_BISECT bisections (geometric means) between the
/// highest clean and the lowest unclean rate. Bounded by `cfg` (steps and time). Returns the
/// chosen step's result (the clean step with the most deliveries/s, or, if none was clean, the
/// lowest rate tried) with a `rate_search` object describing every step.
pub async fn rate_search(template: &TputOpts, peak: f64, cfg: &SearchCfg) -> Result<Value> {
    let t0 = Instant::now();
    let mut steps = Vec::new();
    let mut best: Option<Value> = None;
    let mut lowest: Option<Value> = None;
    let mut lo: Option<f64> = None;
    let mut hi = peak;
    let mut rate = peak * SEARCH_DOWN;
    let mut bisections = 0;
    let mut last_cost = Duration::ZERO;
    let mut last_err = None;
    for step in 0..cfg.max_steps {
        if rate < 1.0 || t0.elapsed() + last_cost > cfg.budget {
            break;
        }
        let ts = Instant::now();
        let o = TputOpts {
            addr: template.addr,
            pattern: template.pattern,
            n: template.n,
            qos: template.qos,
            warmup: cfg.warmup,
            duration: cfg.duration,
            window: template.window,
            tag: format!("{}s{step}", template.tag),
            rate: Some(rate),
            api_port: template.api_port,
        };
        let r = throughput(&o).await;
        tokio::time::sleep(cfg.pause).await;
        last_cost = ts.elapsed();
        let ok = match r {
            Ok(v) => {
                let ok = clean(&v);
                steps.push(json!({
                    "offered_per_s": rate,
                    "deliveries_per_s": v["deliveries_per_s"],
                    "lost": v["lost"],
                    "log_dropped": v["log_dropped"],
                    "errors": v["errors"].as_array().map_or(0, |a| a.len()),
                    "clean": ok,
                }));
                eprintln!(
                    "loadgen: {:?} QoS{} rate search step {step}: offered {rate:.0}/s -> {:.0} deliveries/s, lost {}, log dropped {} ({})",
                    o.pattern,
                    o.qos,
                    v["deliveries_per_s"].as_f64().unwrap_or(0.0),
                    v["lost"],
                    v["log_dropped"],
                    if ok { "clean" } else { "not clean" }
                );
                if ok {
                    let better = best.as_ref().is_none_or(|b| {
                        b["deliveries_per_s"].as_f64().unwrap_or(0.0)
                            < v["deliveries_per_s"].as_f64().unwrap_or(0.0)
                    });
                    if better {
                        best = Some(v);
                    }
                } else if lo.is_none() {
                    lowest = Some(v);
                }
                ok
            }
            Err(e) => {
                steps.push(json!({ "offered_per_s": rate, "error": format!("{e:#}"), "clean": false }));
                eprintln!(
                    "loadgen: {:?} QoS{} rate search step {step}: offered {rate:.0}/s: {e:#}",
                    o.pattern, o.qos
                );
                last_err = Some(e);
                false
            }
        };
        if ok {
            lo = Some(rate);
        } else {
            hi = rate;
        }
        match lo {
            None => rate *= SEARCH_DOWN,
            Some(l) => {
                if bisections >= SEARCH_BISECT || hi / l < 1.03 {
                    break;
                }
                bisections += 1;
                rate = (l * hi).sqrt();
            }
        }
    }
    let found = best.is_some();
    let Some(mut v) = best.or(lowest) else {
        return Err(last_err.unwrap_or_else(|| anyhow::anyhow!("rate search ran no step")));
    };
    v["rate_search"] = json!({
        "closed_loop_deliveries_per_s": peak,
        "found": found,
        "offered_per_s": if found { lo } else { None },
        "steps": steps,
        "seconds": t0.elapsed().as_secs_f64(),
    });
    Ok(v)
}

/// Waits until `expected` deliveries arrived (and `extra` holds), nothing moved for
/// DRAIN_IDLE, or DRAIN_MAX passed. Returns the time spent.
async fn drain(flows: &[Flow], expected: u64, extra: impl Fn(&[Flow]) -> bool) -> Duration {
    let start = Instant::now();
    let mut last = total_received(flows);
    let mut last_move = Instant::now();
    while start.elapsed() < DRAIN_MAX {
        let r = total_received(flows);
        if r >= expected && extra(flows) {
            break;
        }
        if r != last {
            last = r;
            last_move = Instant::now();
        } else if last_move.elapsed() > DRAIN_IDLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

// ---------------------------------------------------------------- latency

pub struct LatencyOpts {
    pub addr: SocketAddr,
    pub pairs: usize,
    /// Publishes per second per pair.
    pub rate: f64,
    pub qos: u8,
    pub warmup: Duration,
    pub duration: Duration,
    pub tag: String,
}

/// Open-loop publisher: `rate` publishes/s, each stamped with its send time, until `end`.
#[allow(clippy::too_many_arguments)]
async fn run_paced_publisher(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    flows: Arc<Vec<Flow>>,
    flow: usize,
    topic: String,
    qos: u8,
    rate: f64,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
) -> Result<tokio::net::tcp::OwnedWriteHalf> {
    let f = &flows[flow];
    let mut payload = mqtt::new_payload();
    let mut out = BytesMut::with_capacity(16 * 128);
    let mut pkid = 0u16;
    let mut sent = 0u64;
    tokio::time::sleep_until(start).await;
    loop {
        let now = tokio::time::Instant::now();
        if now >= end {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate) as u64 + 1;
        // At most one second of backlog is sent in one go.
        let n = due.saturating_sub(sent).min(rate.ceil() as u64 + 1);
        if n > 0 {
            let ts = now_ns();
            for k in 0..n {
                mqtt::fill_payload(&mut payload, flow as u32, sent + k, ts);
                mqtt::put_publish(&mut out, topic.as_bytes(), qos, mqtt::next_pkid(&mut pkid), &payload);
            }
            sent += n;
            f.sent.store(sent, Ordering::Relaxed);
            wr.write_all(&out).await?;
            out.clear();
        }
        let next = start + Duration::from_secs_f64(sent as f64 / rate);
        tokio::time::sleep_until(next.min(end)).await;
    }
    Ok(wr)
}

pub async fn latency(o: &LatencyOpts) -> Result<Value> {
    let topo = topology(Pattern::Pairs, o.pairs, &o.tag);
    let flows: Arc<Vec<Flow>> = Arc::new((0..o.pairs).map(|_| Flow::default()).collect());
    let (stop_tx, stop_rx) = watch::channel(false);
    let qos = mqtt::qos_of(o.qos);

    let sub_ids = (0..o.pairs).map(|i| format!("lg-{}-s{i}", o.tag)).collect();
    let subs = connect_many(o.addr, sub_ids, 50).await?;
    let pub_ids = (0..o.pairs).map(|i| format!("lg-{}-p{i}", o.tag)).collect();
    let pubs = connect_many(o.addr, pub_ids, 50).await?;

    let base = tokio::time::Instant::now() + Duration::from_millis(300);
    let record_from = base + o.warmup;
    let end = record_from + o.duration;
    let record_from_ns = now_ns() + (record_from - tokio::time::Instant::now()).as_nanos() as u64;

    let mut sub_tasks = Vec::new();
    for (mut c, filter) in subs.into_iter().zip(topo.subscribers.iter()) {
        c.subscribe(filter, qos, 1).await?;
        sub_tasks.push(tokio::spawn(run_subscriber(
            c,
            flows.clone(),
            stop_rx.clone(),
            Some(LatencyCfg { record_from_ns }),
        )));
    }
    let mut pub_tasks = Vec::new();
    let mut ack_tasks = Vec::new();
    let period = Duration::from_secs_f64(1.0 / o.rate);
    for (c, (flow, topic)) in pubs.into_iter().zip(topo.publishers.iter()) {
        ack_tasks.push(tokio::spawn(run_ack_reader(c.rd, c.buf, flows.clone(), *flow, stop_rx.clone())));
        // Spread the pairs' send instants evenly over one period.
        let start = base + period.mul_f64(*flow as f64 / o.pairs as f64);
        pub_tasks.push(tokio::spawn(run_paced_publisher(
            c.wr,
            flows.clone(),
            *flow,
            topic.clone(),
            o.qos,
            o.rate,
            start,
            end,
        )));
    }
    tokio::time::sleep_until(record_from).await;
    let r1 = total_received(&flows);
    tokio::time::sleep_until(end).await;
    let r2 = total_received(&flows);
    let mut errors = Vec::new();
    // Publishers' write halves stay open until the end: closing them early ends the sessions.
    let writers = join_publishers(pub_tasks, &mut errors).await;
    let sent: u64 = flows.iter().map(|f| f.sent.load(Ordering::Relaxed)).sum();
    drain(&flows, sent, |_| true).await;
    let received = total_received(&flows);
    let _ = stop_tx.send(true);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for t in sub_tasks {
        match tokio::time::timeout(Duration::from_secs(5), t).await {
            Ok(Ok(Ok(Some(h)))) => hist.add(&h)?,
            Ok(Ok(Err(e))) => errors.push(format!("subscriber: {e:#}")),
            _ => {}
        }
    }
    for t in ack_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    close_writers(writers).await;
    Ok(json!({
        "p50_us": hist.value_at_quantile(0.50),
        "p90_us": hist.value_at_quantile(0.90),
        "p99_us": hist.value_at_quantile(0.99),
        "p999_us": hist.value_at_quantile(0.999),
        "max_us": hist.max(),
        "samples": hist.len(),
        "offered_per_s": o.rate * o.pairs as f64,
        "deliveries_per_s": (r2 - r1) as f64 / o.duration.as_secs_f64(),
        "sent": sent,
        "received": received,
        "lost": sent.saturating_sub(received),
        "errors": errors,
    }))
}

// ---------------------------------------------------------------- connections

/// `rounds` rounds of `clients` fresh clients each connecting (CONNECT/CONNACK) with at most
/// `concurrency` handshakes in flight; between rounds all are disconnected. Only the time
/// from the first connect to the last CONNACK of each round counts.
pub async fn connects(
    addr: SocketAddr,
    clients: usize,
    concurrency: usize,
    rounds: usize,
    tag: &str,
) -> Result<Value> {
    let mut total = 0.0;
    let mut per_round = Vec::new();
    for r in 0..rounds.max(1) {
        let ids = (0..clients).map(|i| format!("lg-{tag}-r{r}c{i}")).collect();
        let t0 = Instant::now();
        let conns = connect_many(addr, ids, concurrency).await?;
        let secs = t0.elapsed().as_secs_f64();
        total += secs;
        per_round.push(clients as f64 / secs);
        disconnect_all(conns).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(json!({
        "connects_per_s": (clients * rounds.max(1)) as f64 / total,
        "clients": clients,
        "rounds": rounds.max(1),
        "per_round": per_round,
        "concurrency": concurrency,
        "seconds": total,
    }))
}

/// VmRSS of a process in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse()?;
            return Ok(kb * 1024);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// Waits (at most `max`) until the RSS stops moving by more than 0.5% between 250 ms samples.
async fn settled_rss(pid: u32, max: Duration) -> Result<u64> {
    let start = Instant::now();
    let mut prev = rss_bytes(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let cur = rss_bytes(pid)?;
        let moved = cur.abs_diff(prev) as f64 / prev.max(1) as f64;
        if moved < 0.005 || start.elapsed() > max {
            return Ok(cur);
        }
        prev = cur;
    }
}

pub async fn idle(addr: SocketAddr, pid: u32, conns: usize, concurrency: usize, tag: &str) -> Result<Value> {
    let before = settled_rss(pid, Duration::from_secs(3)).await?;
    let ids = (0..conns).map(|i| format!("lg-{tag}-i{i}")).collect();
    let t0 = Instant::now();
    let open = connect_many(addr, ids, concurrency).await?;
    let connect_secs = t0.elapsed().as_secs_f64();
    let after = settled_rss(pid, Duration::from_secs(5)).await?;
    disconnect_all(open).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let released = rss_bytes(pid).unwrap_or(0);
    Ok(json!({
        "rss_bytes_per_conn": (after as f64 - before as f64) / conns as f64,
        "rss_before": before,
        "rss_after": after,
        "rss_after_close": released,
        "connections": conns,
        "connect_seconds": connect_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dropped_from_health() {
        let r = "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{\"connections\":0,\"logEntriesDropped\": 1234,\"x\":1}";
        assert_eq!(parse_dropped(r), Some(1234));
        assert_eq!(parse_dropped("{\"logEntriesDropped\":0}"), Some(0));
        assert_eq!(parse_dropped("{\"logEntriesDropped\":null}"), None);
        assert_eq!(parse_dropped("{}"), None);
    }
}
