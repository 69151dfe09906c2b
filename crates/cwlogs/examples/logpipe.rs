//! The log pipeline's own rate, without a broker: producer threads emit Publish-In/Publish-Out
//! entries (50 clients, the shape the broker writes at DEBUG) as fast as they can into the real
//! pipeline; the file sink (and optionally the live tail and the log store) receives them.
//! Prints one JSON object: entries, seconds, entries/s written to the file, entries per CPU
//! second, dropped, and, with the store, what it stored and missed. Not a test; `scripts/bench-logpipe.sh` runs it.
//!
//! cargo run --release -p iotemu-cwlogs --example logpipe -- [--entries N] [--threads T]
//!     [--file PATH] [--tail] [--store DIR] [--store-wait] [--store-spool]

use iotemu_core::{ClientInfo, Protocol, Scope, SystemClock, TraceId};
use iotemu_cwlogs::{LogStore, StoreConfig, StoreSink};
use iotemu_logs::{live_tail, FileSink, LevelFilter, LogEntry, LogPipeline, PublishIn, PublishOut};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let entries: u64 = arg(&args, "--entries", 3_000_000);
    let threads: u64 = arg(&args, "--threads", 2).max(1);
    let file: String = arg(&args, "--file", "/tmp/iotemu-logpipe.jsonl".to_string());
    let store_dir: String = arg(&args, "--store", String::new());
    let _ = std::fs::remove_file(&file);
    let mut pipeline = LogPipeline::new("123456789012", LevelFilter::Debug)
        .sink(Box::new(FileSink::open(std::path::Path::new(&file)).expect("open the log file")));
    if args.iter().any(|a| a == "--tail") {
        let (tail, _) = live_tail(10_000);
        pipeline = pipeline.sink(Box::new(tail));
    }
    let mut store = None;
    if !store_dir.is_empty() {
        let _ = std::fs::remove_dir_all(&store_dir);
        let db = Arc::new(LogStore::open(&std::path::Path::new(&store_dir).join("logs.db")).expect("store"));
        let scope = Scope::new("123456789012", "us-east-1");
        let config = StoreConfig {
            scope,
            queue_capacity: 65_536,
            wait_when_full: args.iter().any(|a| a == "--store-wait"),
            spool: args
                .iter()
                .any(|a| a == "--store-spool")
                .then(|| (std::path::Path::new(&store_dir).join("logs.spool"), 8 << 30)),
            max_events: 100_000_000,
            retention_days: 7,
            clock: Arc::new(SystemClock),
            events: Arc::default(),
        };
        let sink = StoreSink::start(db.clone(), config).expect("store sink");
        store = Some((db, sink.missed(), sink.backlog()));
        pipeline = pipeline.sink(Box::new(sink));
    }
    let (sink, handle) = pipeline.start().expect("pipeline");
    let clients: Vec<Arc<ClientInfo>> = (0..50)
        .map(|i| {
            let peer = format!("127.0.0.1:{}", 40_000 + i).parse().expect("address");
            Arc::new(ClientInfo::new(Protocol::Mqtt, format!("bench-pub-{i}"), "anonymous", peer))
        })
        .collect();
    let topics: Vec<Arc<str>> = (0..50).map(|i| Arc::from(format!("bench/logpipe/pair/{i}"))).collect();
    let cpu_at_start = cpu_seconds();
    let started = Instant::now();
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            let (sink, clients, topics) = (sink.clone(), clients.clone(), topics.clone());
            let n = entries / threads + u64::from(t < entries % threads);
            std::thread::spawn(move || {
                for i in 0..n {
                    let k = (i as usize / 2 + t as usize) % clients.len();
                    let (client, topic_name) = (clients[k].clone(), topics[k].clone());
                    let entry = if i % 2 == 0 {
                        LogEntry::PublishIn(PublishIn { topic_name, client })
                    } else {
                        LogEntry::PublishOut(PublishOut { topic_name, client })
                    };
                    sink.success(TraceId::new(), entry);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let emitted = started.elapsed().as_secs_f64();
    assert!(handle.flush(Duration::from_secs(120)), "the pipeline flushed");
    let written_secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_at_start;
    let dropped = sink.dropped();
    let lines = std::fs::read(&file).map(|b| b.iter().filter(|c| **c == b'\n').count() as u64).unwrap_or(0);
    let mut out = serde_json::json!({
        "entries": entries,
        "threads": threads,
        "seconds_emitting": round(emitted),
        "seconds_written": round(written_secs),
        "file_entries_per_sec": (lines as f64 / written_secs).round(),
        "file_lines": lines,
        "dropped": dropped,
        // CPU time of the whole process (producers, writer, sinks) until the file was flushed:
        // on a machine shared with other work, entries per CPU second are the steadier figure.
        "cpu_seconds": round(cpu),
        "entries_per_cpu_sec": (entries as f64 / cpu.max(1e-9)).round(),
    });
    // The store writes what is queued and spooled; then shutting the pipeline down drops it.
    if let Some((_, _, backlog)) = &store {
        while backlog.entries() > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(handle.shutdown(Duration::from_secs(600)), "the pipeline stopped");
    if let Some((db, missed, _)) = store {
        let stored_secs = started.elapsed().as_secs_f64();
        let stored = db.count().expect("count");
        let missed = missed.load(Ordering::Relaxed);
        out["store_seconds"] = round(stored_secs).into();
        out["store_events"] = stored.into();
        out["store_missed"] = missed.into();
        out["store_missed_percent"] = round(100.0 * missed as f64 / entries.max(1) as f64).into();
        out["store_events_per_sec"] = (stored as f64 / stored_secs).round().into();
    }
    let _ = std::fs::remove_file(&file);
    println!("{out}");
}

/// User + system CPU seconds of this process so far (Linux, `/proc/self/stat`; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
