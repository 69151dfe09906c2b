//! Device Shadow scenarios (iotemu only: mosquitto has no shadows, so the reference is a plain
//! MQTT round trip on the same broker at the same rate, the `latency` scenario).
//!
//! - [`mqtt_updates`]: `things` clients, one per thing, each publishing shadow updates at `rate`
//!   per second (QoS 0) to `$aws/things/{thing}/shadow/update`; the send time travels in the
//!   `clientToken`, which `/update/accepted` echoes, so latency is update -> accepted.
//! - [`http_updates`]: `concurrency` keep-alive HTTP/1.1 connections sending UpdateThingShadow
//!   back to back for `duration`; requests per second and their latency.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use hdrhistogram::Histogram;
use rumqttc::mqttbytes::v4::Packet;
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mqtt::{self, MAX_PACKET};
use crate::scenarios::now_ns;

pub struct ShadowOpts {
    pub addr: SocketAddr,
    pub things: usize,
    /// Updates per second per thing.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub tag: String,
}

/// Update -> `/update/accepted` latency at a fixed offered rate.
pub async fn mqtt_updates(o: &ShadowOpts) -> Result<Value> {
    let sent = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let base = tokio::time::Instant::now() + Duration::from_millis(500);
    let record_from = base + o.warmup;
    let end = record_from + o.duration;
    let record_from_ns = now_ns() + (record_from - tokio::time::Instant::now()).as_nanos() as u64;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..o.things {
        let thing = format!("lg-{}-t{i}", o.tag);
        let mut conn = mqtt::connect(o.addr, &thing, 60).await.with_context(|| format!("client {thing}"))?;
        conn.subscribe(&format!("$aws/things/{thing}/shadow/update/accepted"), QoS::AtMostOnce, 1).await?;
        conn.subscribe(&format!("$aws/things/{thing}/shadow/update/rejected"), QoS::AtMostOnce, 2).await?;
        let (rd, buf, mut wr) = (conn.rd, conn.buf, conn.wr);
        let (accepted, rejected) = (accepted.clone(), rejected.clone());
        readers.push(tokio::spawn(async move {
            read_answers(rd, buf, end + Duration::from_secs(2), record_from_ns, &accepted, &rejected).await
        }));
        let sent = sent.clone();
        let start = base + Duration::from_secs_f64(i as f64 / o.things as f64 / o.rate);
        let rate = o.rate;
        writers.push(tokio::spawn(async move {
            let topic = format!("$aws/things/{thing}/shadow/update");
            let mut out = BytesMut::with_capacity(256);
            let mut n = 0u64;
            tokio::time::sleep_until(start).await;
            while tokio::time::Instant::now() < end {
                let payload =
                    format!(r#"{{"state":{{"reported":{{"n":{n}}}}},"clientToken":"{}"}}"#, now_ns());
                mqtt::put_publish(&mut out, topic.as_bytes(), 0, 0, payload.as_bytes());
                wr.write_all(&out).await?;
                out.clear();
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
            }
            anyhow::Ok(wr)
        }));
    }
    let mut writers_kept = Vec::new();
    for w in writers {
        writers_kept.push(w.await??);
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for r in readers {
        hist.add(&r.await??)?;
    }
    drop(writers_kept);
    Ok(json!({
        "scenario": "shadow-mqtt",
        "things": o.things,
        "offered_per_s": o.rate * o.things as f64,
        "p50_us": hist.value_at_quantile(0.50),
        "p90_us": hist.value_at_quantile(0.90),
        "p99_us": hist.value_at_quantile(0.99),
        "max_us": hist.max(),
        "samples": hist.len(),
        "sent": sent.load(Ordering::Relaxed),
        "accepted": accepted.load(Ordering::Relaxed),
        "rejected": rejected.load(Ordering::Relaxed),
    }))
}

/// Reads `/accepted` and `/rejected` answers until `until`, recording the latency of those sent
/// after `record_from_ns`.
async fn read_answers(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    until: tokio::time::Instant,
    record_from_ns: u64,
    accepted: &AtomicU64,
    rejected: &AtomicU64,
) -> Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    loop {
        loop {
            match Packet::read(&mut buf, MAX_PACKET) {
                Ok(Packet::Publish(p)) => {
                    let now = now_ns();
                    if p.topic.ends_with("/rejected") {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let token = serde_json::from_slice::<Value>(&p.payload)
                        .ok()
                        .and_then(|v| v["clientToken"].as_str().and_then(|t| t.parse::<u64>().ok()));
                    if let Some(sent_ns) = token.filter(|t| *t >= record_from_ns) {
                        hist.record(((now.saturating_sub(sent_ns)) / 1000).max(1))?;
                    }
                }
                Ok(_) => {}
                Err(CodecError::InsufficientBytes(_)) => break,
                Err(e) => bail!("malformed packet from broker: {e}"),
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        match tokio::time::timeout_at(until, rd.read_buf(&mut buf)).await {
            Err(_) => return Ok(hist),
            Ok(Ok(0)) => return Ok(hist),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}

/// UpdateThingShadow over HTTP, back to back on `concurrency` keep-alive connections.
pub async fn http_updates(
    api: SocketAddr,
    things: usize,
    concurrency: usize,
    duration: Duration,
) -> Result<Value> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = tokio::time::Instant::now() + duration;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (done, failed) = (done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(api).await?;
            stream.set_nodelay(true)?;
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
            let mut buf = BytesMut::with_capacity(8192);
            let mut n = c as u64;
            while tokio::time::Instant::now() < end {
                let thing = format!("http-t{}", n % things as u64);
                let body = format!(r#"{{"state":{{"reported":{{"n":{n}}}}}}}"#);
                let request = format!(
                    "POST /things/{thing}/shadow HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
                     Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iotdata/aws4_request, \
                     SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let t = now_ns();
                stream.write_all(request.as_bytes()).await?;
                let status = read_response(&mut stream, &mut buf).await?;
                hist.record(((now_ns() - t) / 1000).max(1))?;
                if status == 200 {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                n += concurrency as u64;
            }
            anyhow::Ok(hist)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for t in tasks {
        hist.add(&t.await??)?;
    }
    let ok = done.load(Ordering::Relaxed);
    Ok(json!({
        "scenario": "shadow-http",
        "concurrency": concurrency,
        "requests_per_s": ok as f64 / duration.as_secs_f64(),
        "p50_us": hist.value_at_quantile(0.50),
        "p99_us": hist.value_at_quantile(0.99),
        "ok": ok,
        "failed": failed.load(Ordering::Relaxed),
    }))
}

/// Reads one HTTP/1.1 response with a Content-Length body; its status.
async fn read_response(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).context("response head")?.to_string();
            let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("status line")?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok()).flatten()
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                if stream.read_buf(buf).await? == 0 {
                    bail!("connection closed mid-response");
                }
            }
            let _ = buf.split_to(end + 4 + length);
            return Ok(status);
        }
        if stream.read_buf(buf).await? == 0 {
            bail!("connection closed");
        }
    }
}
