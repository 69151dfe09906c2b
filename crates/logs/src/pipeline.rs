//! The log pipeline: producers never block; one writer thread filters nothing more, serializes
//! each record once and fans the line out to every sink (`docs/architecture.md`, "Log pipeline").
//!
//! Producers check [`EventSink::enabled`] before building an entry, so a DISABLED level costs
//! one atomic load per event. When the bounded queue is full the record is dropped and counted;
//! the writer reports the count as a WARN diagnostic (through `tracing`, never in the stream).

use crate::event_config::EventConfigurations;
use crate::policy::LevelPolicy;
use crate::wireless::WirelessRecord;
use crate::{LevelFilter, LogEntry, LogLevel, LogRecord, LogSink};
use iotemu_core::{Clock, SystemClock, TraceId};
use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

enum Msg {
    Record(Box<LogRecord>),
    /// A LoRaWAN entry (`/aws/iotwireless`), already filtered by the wireless log levels.
    Wireless(Box<WirelessRecord>),
    /// Flush every sink, answer, and (if `stop`) end the writer.
    Flush {
        ack: SyncSender<()>,
        stop: bool,
    },
}

struct Shared {
    tx: SyncSender<Msg>,
    policy: LevelPolicy,
    /// Dropped and not yet reported by the writer.
    dropped: AtomicU64,
    /// Dropped since start.
    dropped_total: AtomicU64,
    account_id: Arc<str>,
    clock: Arc<dyn Clock>,
}

/// The producers' handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EventSink {
    shared: Arc<Shared>,
}

impl EventSink {
    /// Whether an entry at `level` would be written; check before building one.
    #[inline]
    /// (True when the default or any target level lets `level` through; the exact, per-client
    /// decision is made when the entry is emitted.)
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.shared.policy.might_allow(level)
    }

    /// The default level filter.
    pub fn filter(&self) -> LevelFilter {
        self.shared.policy.default_level()
    }

    /// Changes the default level filter (configuration, SetV2LoggingOptions).
    pub fn set_filter(&self, filter: LevelFilter) {
        self.shared.policy.set_default(filter);
    }

    /// The level rules: per-target levels and `disableAllLogs`.
    pub fn policy(&self) -> &LevelPolicy {
        &self.shared.policy
    }

    /// The account every entry of this emulator carries.
    pub fn account_id(&self) -> &Arc<str> {
        &self.shared.account_id
    }

    /// Now, in epoch milliseconds, by the pipeline's clock.
    pub fn now_millis(&self) -> u64 {
        self.shared.clock.now_millis()
    }

    /// Writes a Success entry at its documented level, if that level is enabled.
    pub fn success(&self, trace_id: TraceId, entry: LogEntry) {
        if self.enabled(entry.success_level()) {
            let record =
                LogRecord::success(self.now_millis(), self.shared.account_id.clone(), trace_id, entry);
            self.emit(record);
        }
    }

    /// Writes a Failure entry (ERROR, with `reason` and `details`), if ERROR is enabled.
    pub fn failure(
        &self,
        trace_id: TraceId,
        entry: LogEntry,
        reason: impl Into<Cow<'static, str>>,
        details: impl Into<Cow<'static, str>>,
    ) {
        if self.enabled(LogLevel::Error) {
            let record = LogRecord::failure(
                self.now_millis(),
                self.shared.account_id.clone(),
                trace_id,
                entry,
                reason,
                details,
            );
            self.emit(record);
        }
    }

    /// Queues a built record without blocking; counts it as dropped when the queue is full.
    pub fn emit(&self, record: LogRecord) {
        if !self.shared.policy.allows(record.log_level, record.entry.client(), record.entry.event_type()) {
            return;
        }
        match self.shared.tx.try_send(Msg::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Now, in epoch nanoseconds, by the pipeline's clock (LoRaWAN entries' timestamps).
    pub fn now_nanos(&self) -> u128 {
        self.shared.clock.now_nanos()
    }

    /// Queues a LoRaWAN entry without blocking. The `iot` log levels do not apply: the wireless
    /// service decides with its own levels (AWS IoT Wireless logging is configured apart).
    pub fn emit_wireless(&self, record: WirelessRecord) {
        match self.shared.tx.try_send(Msg::Wireless(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.dropped_total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many records were dropped since start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }
}

/// Owns the writer thread; [`PipelineHandle::shutdown`] flushes and stops it.
pub struct PipelineHandle {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl PipelineHandle {
    /// Blocks until every record queued so far has reached the sinks and they are flushed.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.request_flush(false, timeout)
    }

    /// Flushes, then ends the writer thread.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        let done = self.request_flush(true, timeout);
        if done {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        done
    }

    fn request_flush(&self, stop: bool, timeout: Duration) -> bool {
        let (ack, done) = sync_channel(1);
        // A blocking send: the queue may be full, and the caller wants everything written.
        if self.tx.send(Msg::Flush { ack, stop }).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }
}

/// Builder for the pipeline.
pub struct LogPipeline {
    sinks: Vec<Box<dyn LogSink>>,
    filter: LevelFilter,
    account_id: Arc<str>,
    capacity: usize,
    clock: Arc<dyn Clock>,
    events: Arc<EventConfigurations>,
}

impl LogPipeline {
    /// A pipeline for `account_id` writing entries that pass `filter`.
    pub fn new(account_id: impl Into<Arc<str>>, filter: LevelFilter) -> Self {
        LogPipeline {
            sinks: Vec::new(),
            filter,
            account_id: account_id.into(),
            capacity: 65_536,
            clock: Arc::new(SystemClock),
            events: Arc::default(),
        }
    }

    /// Adds a sink.
    pub fn sink(mut self, sink: Box<dyn LogSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The queue's capacity in records (default 65,536).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Replaces the clock that stamps entries.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Shares the `eventConfigurations` (SetV2LoggingOptions) with a sink that routes by them.
    pub fn event_configurations(mut self, events: Arc<EventConfigurations>) -> Self {
        self.events = events;
        self
    }

    /// Starts the writer thread.
    pub fn start(self) -> std::io::Result<(EventSink, PipelineHandle)> {
        let (tx, rx) = sync_channel(self.capacity);
        let shared = Arc::new(Shared {
            tx: tx.clone(),
            policy: LevelPolicy::with_events(self.filter, self.events),
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            account_id: self.account_id,
            clock: self.clock,
        });
        let writer_shared = shared.clone();
        let sinks = self.sinks;
        let thread = std::thread::Builder::new()
            .name("iotemu-log-writer".into())
            .spawn(move || run_writer(rx, sinks, &writer_shared))?;
        Ok((EventSink { shared }, PipelineHandle { tx, thread: Some(thread) }))
    }
}

fn run_writer(rx: Receiver<Msg>, mut sinks: Vec<Box<dyn LogSink>>, shared: &Shared) {
    let dropped = &shared.dropped;
    let mut line = Vec::with_capacity(512);
    let mut dirty = false;
    let mut failed = vec![false; sinks.len()];
    loop {
        let msg = if dirty {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => {
                    flush_all(&mut sinks, &mut failed);
                    count_lost(&mut sinks, shared);
                    dirty = false;
                    report_dropped(dropped);
                    continue;
                }
            }
        } else {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    report_dropped(dropped);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match msg {
            Msg::Record(_) | Msg::Wireless(_) => {
                line.clear();
                let written = match &msg {
                    Msg::Record(record) => serde_json::to_writer(&mut line, &**record),
                    Msg::Wireless(record) => serde_json::to_writer(&mut line, &**record),
                    Msg::Flush { .. } => Ok(()),
                };
                if written.is_err() {
                    continue;
                }
                line.push(b'\n');
                for (sink, failed) in sinks.iter_mut().zip(failed.iter_mut()) {
                    if let Err(e) = sink.write_line(&line) {
                        warn_once(failed, sink.name(), &e);
                    }
                }
                dirty = true;
            }
            Msg::Flush { ack, stop } => {
                flush_all(&mut sinks, &mut failed);
                count_lost(&mut sinks, shared);
                dirty = false;
                report_dropped(dropped);
                let _ = ack.send(());
                if stop {
                    return;
                }
            }
        }
    }
}

fn flush_all(sinks: &mut [Box<dyn LogSink>], failed: &mut [bool]) {
    for (sink, failed) in sinks.iter_mut().zip(failed.iter_mut()) {
        if let Err(e) = sink.flush() {
            warn_once(failed, sink.name(), &e);
        }
    }
}

/// Adds the entries sinks could not write (a full disk) to the dropped count.
fn count_lost(sinks: &mut [Box<dyn LogSink>], shared: &Shared) {
    let lost: u64 = sinks.iter_mut().map(|s| s.take_lost()).sum();
    if lost > 0 {
        shared.dropped.fetch_add(lost, Ordering::Relaxed);
        shared.dropped_total.fetch_add(lost, Ordering::Relaxed);
    }
}

fn warn_once(failed: &mut bool, sink: &str, e: &std::io::Error) {
    if !*failed {
        *failed = true;
        tracing::warn!(sink, error = %e, "log sink failed; further errors of this sink are not reported");
    }
}

fn report_dropped(dropped: &AtomicU64) {
    let n = dropped.swap(0, Ordering::Relaxed);
    if n > 0 {
        tracing::warn!(dropped = n, "log pipeline queue was full; entries were dropped");
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connect, FileSink};
    use iotemu_core::{ClientInfo, Protocol};

    fn connect_entry() -> LogEntry {
        let client = ClientInfo::new(Protocol::Mqtt, "c1", "anonymous", "127.0.0.1:5000".parse().unwrap());
        LogEntry::Connect(Connect { client: Arc::new(client) })
    }

    #[test]
    fn writes_enabled_entries_to_file_and_filters_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (sink, handle) = LogPipeline::new("123456789012", LevelFilter::Error)
            .sink(Box::new(FileSink::open(&path).unwrap()))
            .start()
            .unwrap();
        sink.success(TraceId::new(), connect_entry()); // INFO: filtered out
        sink.failure(TraceId::new(), connect_entry(), "AUTHORIZATION_FAILURE", "Authorization Failure");
        sink.set_filter(LevelFilter::Info);
        sink.success(TraceId::new(), connect_entry());
        assert!(handle.shutdown(Duration::from_secs(5)));
        let text = std::fs::read_to_string(&path).unwrap();
        let levels: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["logLevel"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(levels, ["ERROR", "INFO"]);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        struct Slow;
        impl LogSink for Slow {
            fn write_line(&mut self, _: &[u8]) -> std::io::Result<()> {
                std::thread::sleep(Duration::from_millis(20));
                Ok(())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
            fn name(&self) -> &'static str {
                "slow"
            }
        }
        let (sink, _handle) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(Slow))
            .capacity(4)
            .start()
            .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..100 {
            sink.success(TraceId::new(), connect_entry());
        }
        assert!(started.elapsed() < Duration::from_secs(1), "producers must not block");
        assert!(sink.dropped() > 0);
    }

    #[test]
    fn entries_a_full_disk_refuses_count_as_dropped() {
        let (sink, handle) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(FileSink::open(std::path::Path::new("/dev/full")).unwrap()))
            .start()
            .unwrap();
        for _ in 0..5 {
            sink.success(TraceId::new(), connect_entry());
        }
        assert!(handle.flush(Duration::from_secs(5)));
        assert_eq!(sink.dropped(), 5, "every entry /dev/full refused is counted");
    }
}
