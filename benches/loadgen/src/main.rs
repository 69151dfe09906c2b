//! loadgen: MQTT load generator for comparing iotemu with mosquitto (see benches/README.md).
//!
//! Subcommands run one scenario each against a broker on 127.0.0.1 and print one JSON object;
//! `suite` runs them all and prints JSON lines; `report` turns those lines into the table.

mod mqtt;
mod report;
mod rules;
mod scale;
mod scenarios;
mod shadow;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use scenarios::Pattern;

#[derive(Parser)]
#[command(name = "loadgen", about = "MQTT load generator for the iotemu benchmarks")]
struct Cli {
    /// Tokio worker threads.
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Target {
    /// Broker address (loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Broker MQTT port.
    #[arg(long)]
    port: u16,
}

impl Target {
    fn addr(&self) -> Result<SocketAddr> {
        if !self.host.is_loopback() {
            bail!("loadgen only targets loopback addresses, not {}", self.host);
        }
        Ok(SocketAddr::new(self.host, self.port))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Closed-loop peak throughput for one pattern (one JSON object); with --rate, a
    /// rate-limited run instead; with --api-port, iotemu's dropped log entries count as loss
    /// and a closed-loop run that lost anything is followed by a rate search.
    Throughput {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum)]
        pattern: Pattern,
        /// Publishers (fanin), pairs (pairs) or subscribers (fanout).
        #[arg(long)]
        n: Option<usize>,
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
        qos: u8,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Publishes per publisher allowed in flight end to end.
        #[arg(long, default_value_t = 100)]
        window: u64,
        /// Offered deliveries/s (summed over publishers) instead of closed-loop publishing.
        #[arg(long)]
        rate: Option<f64>,
        /// iotemu's API port: read `logEntriesDropped` from /_iotemu/health around the run.
        #[arg(long)]
        api_port: Option<u16>,
        /// With --api-port: do not search a clean rate when the closed-loop run was not clean.
        #[arg(long)]
        no_search: bool,
        /// Measured seconds of each rate-search step.
        #[arg(long, default_value_t = 3.0)]
        search_duration: f64,
    },
    /// End-to-end latency at a fixed offered load (pairs, one JSON object).
    Latency {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Publishes per second per pair.
        #[arg(long, default_value_t = 400.0)]
        rate: f64,
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
        qos: u8,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Device Shadow update -> /update/accepted latency over MQTT at a fixed rate (iotemu only).
    Shadow {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 100)]
        things: usize,
        /// Updates per second per thing.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Device Shadow UpdateThingShadow requests per second over HTTP (iotemu only).
    ShadowHttp {
        /// iotemu's API port on 127.0.0.1.
        #[arg(long)]
        api_port: u16,
        #[arg(long, default_value_t = 100)]
        things: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Messages/s through one topic rule (WHERE + republish) beside plain delivery of the same
    /// messages, alternating for several rounds (iotemu only): JSON lines, then a table.
    Rules {
        #[command(flatten)]
        target: Target,
        /// iotemu's API port on the same host (CreateTopicRule, DeleteTopicRule, health).
        #[arg(long)]
        api_port: u16,
        #[arg(long, default_value_t = 10)]
        publishers: usize,
        /// QoS 0 messages per publisher per measurement.
        #[arg(long, default_value_t = 50_000)]
        messages: u64,
        /// Messages per publisher outstanding end to end (0: open loop, no limit).
        #[arg(long, default_value_t = 100)]
        window: u64,
        /// Alternating (plain, rule) pairs.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// A measurement gives up when nothing arrived for this many seconds.
        #[arg(long, default_value_t = 3.0)]
        idle: f64,
        /// A measurement gives up after this many seconds.
        #[arg(long, default_value_t = 60.0)]
        max: f64,
    },
    /// CONNECT/CONNACK rate (one JSON object).
    Connects {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Scale: a connection storm, then fresh pairs' latency before and while many idle
    /// connections (from several loopback source addresses) are open, and the broker's RSS
    /// with them (one JSON object; scripts/bench-scale.sh).
    Scale {
        #[command(flatten)]
        target: Target,
        /// Broker process id (its /proc/PID/status is read).
        #[arg(long)]
        pid: u32,
        /// Idle connections (keepalive 1200 s).
        #[arg(long, default_value_t = 100_000)]
        idle: usize,
        /// Handshakes in flight while opening the idle connections.
        #[arg(long, default_value_t = 200)]
        idle_concurrency: usize,
        /// Loopback source addresses the clients are spread over (~28,000 ports each).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=250))]
        sources: u8,
        /// Clients of the connection storm (0: none).
        #[arg(long, default_value_t = 10_000)]
        storm: usize,
        /// Handshakes in flight during the storm.
        #[arg(long, default_value_t = 100)]
        storm_concurrency: usize,
        /// Fresh publisher/subscriber pairs whose latency is measured.
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Publishes per second per pair (QoS 0).
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Broker RSS growth per idle connection (one JSON object).
    Idle {
        #[command(flatten)]
        target: Target,
        /// Broker process id (its /proc/PID/status is read).
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
    },
    /// Every scenario against one broker; prints JSON lines for `report`.
    Suite {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        pid: u32,
        /// Broker label, e.g. mosquitto, iotemu-disabled, iotemu-debug.
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 1)]
        run: u32,
        /// Shorter durations and fewer clients (smoke test).
        #[arg(long)]
        quick: bool,
        /// Only these scenarios (comma-separated: idle,connects,latency,throughput).
        #[arg(long, default_value = "idle,connects,latency,throughput")]
        only: String,
        /// iotemu's API port: throughput runs count dropped log entries as loss, and a row whose
        /// closed-loop peak was not clean reports the highest clean offered rate instead.
        #[arg(long)]
        api_port: Option<u16>,
    },
    /// Prints the comparison table from `suite` JSON lines.
    Report {
        /// Files with JSON lines.
        files: Vec<String>,
        /// Label every ratio is taken against.
        #[arg(long, default_value = "mosquitto")]
        baseline: String,
    },
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Cmd::Report { files, baseline } = &cli.cmd {
        return report::print(files, baseline);
    }
    if let Cmd::FreePort = &cli.cmd {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        println!("{}", l.local_addr()?.port());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run(cli.cmd))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn default_n(p: Pattern) -> usize {
    match p {
        Pattern::Fanin => 10,
        Pattern::Pairs | Pattern::Fanout => 50,
    }
}

/// Rate-search bounds: `duration` s per step, at most 8 steps and `budget` s.
fn search_cfg(warmup: f64, duration: f64, budget: f64) -> scenarios::SearchCfg {
    scenarios::SearchCfg {
        warmup: secs(warmup),
        duration: secs(duration),
        max_steps: 8,
        budget: secs(budget),
        pause: Duration::from_millis(500),
    }
}

fn tag() -> String {
    format!("{}", std::process::id())
}

async fn run(cmd: Cmd) -> Result<()> {
    scenarios::now_ns();
    let v = match cmd {
        Cmd::Throughput {
            target,
            pattern,
            n,
            qos,
            warmup,
            duration,
            window,
            rate,
            api_port,
            no_search,
            search_duration,
        } => {
            let o = scenarios::TputOpts {
                addr: target.addr()?,
                pattern,
                n: n.unwrap_or(default_n(pattern)),
                qos,
                warmup: secs(warmup),
                duration: secs(duration),
                window,
                tag: format!("{}t", tag()),
                rate,
                api_port,
            };
            let v = scenarios::throughput(&o).await?;
            if api_port.is_some() && rate.is_none() && !no_search && !scenarios::clean(&v) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let cfg = search_cfg(warmup, search_duration, 30.0);
                let peak = v["deliveries_per_s"].as_f64().unwrap_or(0.0);
                let mut s = scenarios::rate_search(&o, peak, &cfg).await?;
                s["closed_loop"] = v;
                s
            } else {
                v
            }
        }
        Cmd::Latency { target, pairs, rate, qos, warmup, duration } => {
            let o = scenarios::LatencyOpts {
                addr: target.addr()?,
                pairs,
                rate,
                qos,
                warmup: secs(warmup),
                duration: secs(duration),
                tag: format!("{}l", tag()),
            };
            scenarios::latency(&o).await?
        }
        Cmd::Shadow { target, things, rate, warmup, duration } => {
            let o = shadow::ShadowOpts {
                addr: target.addr()?,
                things,
                rate,
                warmup: secs(warmup),
                duration: secs(duration),
                tag: format!("{}s", tag()),
            };
            shadow::mqtt_updates(&o).await?
        }
        Cmd::ShadowHttp { api_port, things, concurrency, duration } => {
            let api = SocketAddr::from(([127, 0, 0, 1], api_port));
            shadow::http_updates(api, things, concurrency, secs(duration)).await?
        }
        Cmd::Rules { target, api_port, publishers, messages, window, rounds, idle, max } => {
            let addr = target.addr()?;
            let o = rules::RulesOpts {
                addr,
                api: SocketAddr::new(addr.ip(), api_port),
                publishers: publishers.max(1),
                messages,
                window,
                rounds: rounds.max(1),
                idle: secs(idle),
                max: secs(max),
                tag: tag(),
            };
            return rules::run(&o).await;
        }
        Cmd::Connects { target, clients, concurrency, rounds } => {
            scenarios::connects(target.addr()?, clients, concurrency, rounds, &format!("{}c", tag())).await?
        }
        Cmd::Scale {
            target,
            pid,
            idle,
            idle_concurrency,
            sources,
            storm,
            storm_concurrency,
            pairs,
            rate,
            warmup,
            duration,
        } => {
            let o = scale::ScaleOpts {
                addr: target.addr()?,
                pid,
                idle,
                idle_concurrency,
                sources,
                storm,
                storm_concurrency,
                pairs: pairs.max(1),
                rate,
                warmup: secs(warmup),
                duration: secs(duration),
                tag: format!("{}x", tag()),
            };
            scale::run(&o).await?
        }
        Cmd::Idle { target, pid, conns, concurrency } => {
            scenarios::idle(target.addr()?, pid, conns, concurrency, &format!("{}i", tag())).await?
        }
        Cmd::Suite { target, pid, label, run, quick, only, api_port } => {
            return suite(target.addr()?, pid, &label, run, quick, &only, api_port).await;
        }
        Cmd::Report { .. } | Cmd::FreePort => unreachable!(),
    };
    println!("{v}");
    Ok(())
}

/// One result line for `report`. Throughput lines read with --api-port also carry
/// `log_dropped` (entries iotemu dropped during the reported measurement); `peak_log_dropped`,
/// `peak_log_entries_est` and `peak_deliveries_per_s` (for the closed-loop peak run: entries
/// dropped, about how many it produced, its rate); and `rate_searched` (the value comes from a
/// rate search, not from the peak run).
fn emit(label: &str, run: u32, scenario: &str, metric: &str, value: Option<f64>, detail: &Value) {
    let lost = detail.get("lost").and_then(Value::as_u64).unwrap_or(0);
    let mut line = json!({
        "label": label, "run": run, "scenario": scenario, "metric": metric,
        "value": value, "lost": lost, "detail": detail,
    });
    if let Some(d) = detail.get("log_dropped").and_then(Value::as_u64) {
        line["log_dropped"] = d.into();
        let peak = detail.get("closed_loop").unwrap_or(detail);
        line["peak_log_dropped"] = peak["log_dropped"].clone();
        line["peak_log_entries_est"] = peak["log_entries_est"].clone();
        line["peak_deliveries_per_s"] = peak["deliveries_per_s"].clone();
        line["rate_searched"] = detail.get("rate_search").is_some().into();
    }
    println!("{line}");
}

fn emit_error(label: &str, run: u32, scenario: &str, metrics: &[&str], e: &anyhow::Error) {
    eprintln!("loadgen: {label} run {run} {scenario}: ERROR {e:#}");
    let d = json!({ "error": format!("{e:#}") });
    for m in metrics {
        emit(label, run, scenario, m, None, &d);
    }
}

async fn pause() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn suite(
    addr: SocketAddr,
    pid: u32,
    label: &str,
    run: u32,
    quick: bool,
    only: &str,
    api_port: Option<u16>,
) -> Result<()> {
    let want = |s: &str| only.split(',').any(|x| x.trim() == s);
    let (warmup, duration) = if quick { (0.5, 2.0) } else { (1.0, 5.0) };
    let (idle_conns, connect_rounds) = if quick { (2_000, 2) } else { (10_000, 5) };
    let base = format!("{}r{run}", std::process::id());
    let note = |s: &str, v: &Value| eprintln!("loadgen: {label} run {run} {s}: {v}");

    if want("idle") {
        match scenarios::idle(addr, pid, idle_conns, 100, &format!("{base}i")).await {
            Ok(v) => {
                note("idle", &v);
                emit(label, run, "idle_rss", "bytes_per_conn", v["rss_bytes_per_conn"].as_f64(), &v);
            }
            Err(e) => emit_error(label, run, "idle_rss", &["bytes_per_conn"], &e),
        }
        pause().await;
    }
    if want("connects") {
        match scenarios::connects(addr, 1_000, 50, connect_rounds, &format!("{base}c")).await {
            Ok(v) => {
                note("connects", &v);
                emit(label, run, "connects", "connects_per_s", v["connects_per_s"].as_f64(), &v);
            }
            Err(e) => emit_error(label, run, "connects", &["connects_per_s"], &e),
        }
        pause().await;
    }
    if want("latency") {
        let o = scenarios::LatencyOpts {
            addr,
            pairs: 50,
            rate: 400.0,
            qos: 0,
            warmup: secs(warmup),
            duration: secs(duration),
            tag: format!("{base}l"),
        };
        match scenarios::latency(&o).await {
            Ok(v) => {
                note("latency", &v);
                emit(label, run, "latency_q0_20k", "p50_us", v["p50_us"].as_f64(), &v);
                emit(label, run, "latency_q0_20k", "p99_us", v["p99_us"].as_f64(), &v);
            }
            Err(e) => emit_error(label, run, "latency_q0_20k", &["p50_us", "p99_us"], &e),
        }
        pause().await;
    }
    if want("throughput") {
        for (pattern, pname) in
            [(Pattern::Fanin, "fanin"), (Pattern::Pairs, "pairs"), (Pattern::Fanout, "fanout")]
        {
            for qos in [0u8, 1] {
                let scenario = format!("tput_{pname}_q{qos}");
                let mut window = 100u64;
                let mut last: Option<Result<Value>> = None;
                // Loss-free means every publish arrived: on loss, retry with a smaller window.
                for attempt in 0..3 {
                    let o = scenarios::TputOpts {
                        addr,
                        pattern,
                        n: default_n(pattern),
                        qos,
                        warmup: secs(warmup),
                        duration: secs(duration),
                        window,
                        tag: format!("{base}{pname}{qos}a{attempt}"),
                        rate: None,
                        api_port,
                    };
                    let r = scenarios::throughput(&o).await;
                    pause().await;
                    // (Dropped log entries are not helped by a smaller window: see below.)
                    let clean = matches!(&r, Ok(v) if v["lost"].as_u64() == Some(0)
                        && v["errors"].as_array().is_some_and(|a| a.is_empty()));
                    if let Ok(v) = &r {
                        note(&format!("{scenario} window={window}"), v);
                    }
                    last = Some(r);
                    if clean {
                        break;
                    }
                    window = (window / 4).max(1);
                }
                let mut last = last.expect("at least one attempt");
                // With iotemu's API port: a peak that lost messages or dropped log entries is
                // replaced by the highest offered rate at which nothing was lost or dropped.
                if let (Some(_), Ok(v)) = (api_port, &last) {
                    if !scenarios::clean(v) {
                        let o = scenarios::TputOpts {
                            addr,
                            pattern,
                            n: default_n(pattern),
                            qos,
                            warmup: secs(warmup),
                            duration: secs(duration),
                            window: v["window"].as_u64().unwrap_or(100),
                            tag: format!("{base}{pname}{qos}r"),
                            rate: None,
                            api_port,
                        };
                        let cfg = if quick { search_cfg(0.5, 2.0, 15.0) } else { search_cfg(1.0, 3.0, 30.0) };
                        let peak = v["deliveries_per_s"].as_f64().unwrap_or(0.0);
                        last = match scenarios::rate_search(&o, peak, &cfg).await {
                            Ok(mut s) => {
                                note(&format!("{scenario} rate search"), &s["rate_search"]);
                                s["closed_loop"] = v.clone();
                                Ok(s)
                            }
                            Err(e) => Err(e),
                        };
                        pause().await;
                    }
                }
                match last {
                    Ok(v) => {
                        emit(label, run, &scenario, "deliveries_per_s", v["deliveries_per_s"].as_f64(), &v)
                    }
                    Err(e) => emit_error(label, run, &scenario, &["deliveries_per_s"], &e),
                }
            }
        }
    }
    Ok(())
}
