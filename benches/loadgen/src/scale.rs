//! Scale (scripts/bench-scale.sh): a connection storm, then the latency of fresh pairs before and
//! while a large number of idle connections is open, and the broker's RSS with them.
//!
//! More than ~28,000 connections from one address exhaust the loopback ephemeral ports
//! (32768-60999), so storm and idle clients bind to several source addresses 127.S.P.k
//! (S from this process's id, P the phase, k = 1..=sources); every address of 127.0.0.0/8
//! is loopback on Linux.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Packet};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::mqtt::{HANDSHAKE_TIMEOUT, MAX_PACKET};
use crate::scenarios::{self, LatencyOpts};

/// Keepalive of the idle clients (AWS IoT's maximum): they never need to ping during a run.
const IDLE_KEEP_ALIVE: u16 = 1200;

pub struct ScaleOpts {
    pub addr: SocketAddr,
    pub pid: u32,
    pub idle: usize,
    pub idle_concurrency: usize,
    pub sources: u8,
    pub storm: usize,
    pub storm_concurrency: usize,
    pub pairs: usize,
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub tag: String,
}

/// Source address k (1-based) of a phase.
fn source(phase: u8, k: u8) -> IpAddr {
    let s = 10 + (std::process::id() % 200) as u8;
    IpAddr::V4(Ipv4Addr::new(127, s, phase, k))
}

/// TCP connect from `src` + CONNECT/CONNACK (clean session, no read buffer kept): the socket.
async fn connect_from(addr: SocketAddr, src: IpAddr, client_id: &str) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src, 0)).with_context(|| format!("bind {src}"))?;
    let mut stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, socket.connect(addr))
        .await
        .context("TCP connect timed out")?
        .with_context(|| format!("TCP connect {src} -> {addr}"))?;
    stream.set_nodelay(true)?;
    let mut connect = Connect::new(client_id);
    connect.keep_alive = IDLE_KEEP_ALIVE;
    connect.clean_session = true;
    let mut out = BytesMut::with_capacity(64 + client_id.len());
    Packet::Connect(connect).write(&mut out, MAX_PACKET)?;
    stream.write_all(&out).await?;
    // CONNACK of MQTT 3.1.1: 0x20 0x02 flags code.
    let mut ack = [0u8; 4];
    tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut ack))
        .await
        .context("CONNACK timed out")?
        .context("reading CONNACK")?;
    if ack[0] != 0x20 || ack[1] != 0x02 {
        bail!("expected CONNACK, got {ack:02x?}");
    }
    if ack[3] != 0 {
        bail!("connect refused: return code {}", ack[3]);
    }
    Ok(stream)
}

/// Connects `n` clients spread over `sources` source addresses of `phase`, at most
/// `concurrency` handshakes in flight. Returns the sockets and the seconds from the first
/// connect to the last CONNACK.
async fn connect_spread(
    addr: SocketAddr,
    n: usize,
    sources: u8,
    phase: u8,
    concurrency: usize,
    id_prefix: &str,
) -> Result<(Vec<TcpStream>, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let prefix: Arc<str> = id_prefix.into();
    let sources = sources.max(1);
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1).min(n.max(1)) {
        let next = next.clone();
        let prefix = prefix.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let src = source(phase, 1 + (i % sources as usize) as u8);
                let s = connect_from(addr, src, &format!("{prefix}{i}"))
                    .await
                    .with_context(|| format!("client {i} of {n}"))?;
                mine.push(s);
            }
            anyhow::Ok(mine)
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut first_err = None;
    for w in workers {
        match w.await? {
            Ok(v) => all.extend(v),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = first_err {
        let opened = all.len();
        close_all(all).await;
        return Err(e.context(format!("{opened} of {n} connected")));
    }
    Ok((all, secs))
}

/// DISCONNECT and close, 1,000 at a time.
async fn close_all(socks: Vec<TcpStream>) {
    let mut handles = Vec::new();
    let mut it = socks.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<TcpStream> = it.by_ref().take(1000).collect();
        handles.push(tokio::spawn(async move {
            for mut s in chunk {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(&[0xE0, 0x00])).await;
                let _ = s.shutdown().await;
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

/// Waits (at most `max`) until the RSS moves by less than 0.5% between 500 ms samples.
async fn settled_rss(pid: u32, max: Duration) -> Result<u64> {
    let start = Instant::now();
    let mut prev = scenarios::rss_bytes(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cur = scenarios::rss_bytes(pid)?;
        if (cur.abs_diff(prev) as f64) < 0.005 * prev.max(1) as f64 || start.elapsed() > max {
            return Ok(cur);
        }
        prev = cur;
    }
}

/// CPU time (user + system, clock ticks) of a process so far.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = s.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state field here.
    Ok(f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0))
}

/// Waits (at most `max`) until the broker uses under 5% of a core over 500 ms: the work the
/// idle clients' connects caused (their log entries, lifecycle events) is over, so they are
/// idle indeed. Returns the seconds waited.
async fn quiet(pid: u32, max: Duration) -> f64 {
    let start = Instant::now();
    let Ok(mut prev) = cpu_ticks(pid) else { return 0.0 };
    while start.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(cur) = cpu_ticks(pid) else { break };
        // 100 ticks per second: 5% of 500 ms is 2.5 ticks.
        if cur.saturating_sub(prev) <= 2 {
            break;
        }
        prev = cur;
    }
    start.elapsed().as_secs_f64()
}

async fn latency(o: &ScaleOpts, tag: &str) -> Result<Value> {
    scenarios::latency(&LatencyOpts {
        addr: o.addr,
        pairs: o.pairs,
        rate: o.rate,
        qos: 0,
        warmup: o.warmup,
        duration: o.duration,
        tag: tag.to_string(),
    })
    .await
}

/// The whole scale scenario; one JSON object.
pub async fn run(o: &ScaleOpts) -> Result<Value> {
    let mut v = json!({ "idle_connections": o.idle, "sources": o.sources, "storm_clients": o.storm,
        "storm_concurrency": o.storm_concurrency, "latency_pairs": o.pairs,
        "latency_rate_per_pair": o.rate });
    let rss_start = scenarios::rss_bytes(o.pid)?;
    v["rss_start"] = rss_start.into();

    // 1. The storm, on a broker with nothing else connected.
    if o.storm > 0 {
        let (socks, secs) =
            connect_spread(o.addr, o.storm, o.sources, 1, o.storm_concurrency, &format!("lg-{}-st", o.tag))
                .await
                .context("storm")?;
        v["storm_seconds"] = secs.into();
        v["storm_connects_per_s"] = (o.storm as f64 / secs).into();
        close_all(socks).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("loadgen: scale: storm of {} at {:.0} connects/s", o.storm, o.storm as f64 / secs);
    }

    // 2. Fresh pairs with nothing idle.
    v["quiet_before_idle_free_s"] = quiet(o.pid, Duration::from_secs(30)).await.into();
    let base = latency(o, &format!("{}-l0", o.tag)).await.context("idle-free latency")?;
    eprintln!("loadgen: scale: idle-free latency p99 {} us", base["p99_us"]);
    v["latency_idle_free"] = base;

    // 3. The idle connections and the RSS they cost.
    if o.idle > 0 {
        let before = settled_rss(o.pid, Duration::from_secs(5)).await?;
        let (idle, secs) =
            connect_spread(o.addr, o.idle, o.sources, 2, o.idle_concurrency, &format!("lg-{}-i", o.tag))
                .await
                .context("idle connections")?;
        let after = settled_rss(o.pid, Duration::from_secs(15)).await?;
        eprintln!(
            "loadgen: scale: {} idle open in {secs:.1} s; RSS {} MB -> {} MB",
            o.idle,
            before >> 20,
            after >> 20
        );
        v["idle_connect_seconds"] = secs.into();
        v["rss_before_idle"] = before.into();
        v["rss_with_idle"] = after.into();
        v["rss_bytes_per_idle_conn"] = ((after as f64 - before as f64) / o.idle as f64).into();

        // 4. Fresh pairs beside them, once the broker is done with their connects.
        v["quiet_with_idle_s"] = quiet(o.pid, Duration::from_secs(60)).await.into();
        let with = latency(o, &format!("{}-l1", o.tag)).await;
        match with {
            Ok(w) => {
                eprintln!("loadgen: scale: latency p99 with {} idle: {} us", o.idle, w["p99_us"]);
                v["latency_with_idle"] = w;
            }
            Err(e) => v["latency_with_idle"] = json!({ "error": format!("{e:#}") }),
        }
        v["rss_after_latency"] = scenarios::rss_bytes(o.pid).unwrap_or(0).into();
        let t = Instant::now();
        close_all(idle).await;
        v["idle_close_seconds"] = t.elapsed().as_secs_f64().into();
        tokio::time::sleep(Duration::from_secs(2)).await;
        v["rss_after_close"] = scenarios::rss_bytes(o.pid).unwrap_or(0).into();
    }
    Ok(v)
}
