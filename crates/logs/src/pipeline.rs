//! The log pipeline: producers serialize their own entries, straight into a reused per-thread
//! buffer, and append the line to one shared batch; one writer thread takes the whole batch at
//! once (swapping it for an empty one) and hands it to every sink (`docs/architecture.md`,
//! "Log pipeline").
//!
//! Producers check [`EventSink::enabled`] before building an entry, so a DISABLED level costs
//! one atomic load per event. Serializing on the producers' threads spreads the work over every
//! core, and the writer only copies whole batches (one `write` per 256 KB for the file), so the
//! writer is never the bottleneck. The batch is bounded (`capacity` entries): when it is full a
//! producer waits for the writer to take it (back-pressure; nothing is lost). Only if the writer
//! takes nothing for `max_wait` (a sink stuck: a pipe nobody reads) does a producer drop the
//! entry and count it, and then the pipeline drops without waiting until the writer moves again;
//! the writer reports the count as a WARN diagnostic (through `tracing`, never in the stream).
//!
//! Order: entries enter the batch in the order their producers took the lock, so one
//! connection's entries keep the order it wrote them in.

use crate::event_config::EventConfigurations;
use crate::policy::LevelPolicy;
use crate::wireless::WirelessRecord;
use crate::{LevelFilter, LogEntry, LogLevel, LogRecord, LogSink};
use iotemu_core::{Clock, SystemClock, TraceId};
use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The entries waiting for the writer: whole lines, one after the other.
struct Batch {
    bytes: Vec<u8>,
    lines: u64,
    /// The writer sleeps until a producer wakes it.
    writer_waiting: bool,
    /// Producers waiting for room.
    producers_waiting: usize,
    /// A producer waited `max_wait` in vain: drop (and count) until the writer takes a batch.
    stalled: bool,
    /// Flush requests: answered once everything before them has reached the sinks.
    flushes: Vec<SyncSender<()>>,
    stop: bool,
    /// The writer has ended: nothing more can be written.
    writer_gone: bool,
}

struct Shared {
    batch: Mutex<Batch>,
    /// Wakes the writer.
    to_writer: Condvar,
    /// Wakes producers waiting for room.
    to_producers: Condvar,
    /// Entries the batch holds at most.
    capacity: u64,
    /// How long a producer waits for room before it drops its entry.
    max_wait: Duration,
    policy: LevelPolicy,
    /// Dropped and not yet reported by the writer.
    dropped: AtomicU64,
    /// Dropped since start.
    dropped_total: AtomicU64,
    /// Times a producer woke the writer (see `NAP`).
    wakeups: AtomicU64,
    account_id: Arc<str>,
    clock: Arc<dyn Clock>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // The batch stays consistent whatever panicked: lines are appended whole.
        self.batch.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.dropped_total.fetch_add(n, Ordering::Relaxed);
    }

    /// Appends one serialized line (ending with `\n`), waiting for room if the batch is full.
    fn append(&self, line: &[u8]) {
        let mut batch = self.lock();
        if batch.lines >= self.capacity && !batch.stalled && !batch.writer_gone {
            let deadline = Instant::now() + self.max_wait;
            batch.producers_waiting += 1;
            while batch.lines >= self.capacity && !batch.stalled && !batch.writer_gone {
                let now = Instant::now();
                if now >= deadline {
                    batch.stalled = true;
                    break;
                }
                batch = self
                    .to_producers
                    .wait_timeout(batch, deadline - now)
                    .map(|(b, _)| b)
                    .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            }
            batch.producers_waiting -= 1;
        }
        if batch.lines >= self.capacity || batch.writer_gone {
            drop(batch);
            self.count_dropped(1);
            return;
        }
        batch.bytes.extend_from_slice(line);
        batch.lines += 1;
        if batch.writer_waiting {
            batch.writer_waiting = false;
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            self.to_writer.notify_one();
        }
    }
}

thread_local! {
    /// Each producer thread's reused serialization buffer.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Serializes on the calling thread into its reused buffer, then appends the line.
fn serialize_and_append<T: serde::Serialize + ?Sized>(shared: &Shared, value: &T) {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            if serde_json::to_writer(&mut *line, value).is_ok() {
                line.push(b'\n');
                shared.append(&line);
            }
            if line.capacity() > 64 * 1024 {
                *line = Vec::with_capacity(1024);
            }
        }
        // Only if serializing an entry emitted another one.
        Err(_) => {
            if let Ok(mut line) = serde_json::to_vec(value) {
                line.push(b'\n');
                shared.append(&line);
            }
        }
    });
}

/// The producers' handle: cheap to clone.
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

    /// Serializes a built record on this thread and queues the line; waits only while the
    /// batch is full (at most `max_wait`, then the entry is dropped and counted).
    pub fn emit(&self, record: LogRecord) {
        if !self.shared.policy.allows(record.log_level, record.entry.client(), record.entry.event_type()) {
            return;
        }
        serialize_and_append(&self.shared, &record);
    }

    /// Now, in epoch nanoseconds, by the pipeline's clock (LoRaWAN entries' timestamps).
    pub fn now_nanos(&self) -> u128 {
        self.shared.clock.now_nanos()
    }

    /// Queues a LoRaWAN entry like [`EventSink::emit`]. The `iot` log levels do not apply: the
    /// wireless service decides with its own levels (AWS IoT Wireless logging is configured apart).
    pub fn emit_wireless(&self, record: WirelessRecord) {
        serialize_and_append(&self.shared, &record);
    }

    /// How many records were dropped since start (the writer took nothing for `max_wait`, or a
    /// sink could not write them).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }
}

/// Owns the writer thread; [`PipelineHandle::shutdown`] flushes and stops it.
pub struct PipelineHandle {
    shared: Arc<Shared>,
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
        {
            let mut batch = self.shared.lock();
            if batch.writer_gone {
                return false;
            }
            batch.flushes.push(ack);
            batch.stop |= stop;
            batch.writer_waiting = false;
            self.shared.to_writer.notify_one();
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
    max_wait: Duration,
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
            max_wait: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
            events: Arc::default(),
        }
    }

    /// Adds a sink.
    pub fn sink(mut self, sink: Box<dyn LogSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The entries a batch holds before producers wait for the writer (default 65,536).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How long a producer waits for room before it drops its entry (default 2 s): only a
    /// stuck sink makes it wait that long.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
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
        let shared = Arc::new(Shared {
            batch: Mutex::new(Batch {
                bytes: Vec::with_capacity(256 * 1024),
                lines: 0,
                writer_waiting: false,
                producers_waiting: 0,
                stalled: false,
                flushes: Vec::new(),
                stop: false,
                writer_gone: false,
            }),
            to_writer: Condvar::new(),
            to_producers: Condvar::new(),
            capacity: self.capacity as u64,
            max_wait: self.max_wait,
            policy: LevelPolicy::with_events(self.filter, self.events),
            dropped: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            account_id: self.account_id,
            clock: self.clock,
        });
        let writer_shared = shared.clone();
        let sinks = self.sinks;
        let thread = std::thread::Builder::new()
            .name("iotemu-log-writer".into())
            .spawn(move || run_writer(sinks, &writer_shared))?;
        Ok((EventSink { shared: shared.clone() }, PipelineHandle { shared, thread: Some(thread) }))
    }
}

/// While entries keep coming, the writer naps this long between batches instead of asking the
/// producers to wake it: a wake-up per entry (a futex call on the producer's thread and two
/// thread switches, with the store's thread woken behind it) cost more than the entry itself at
/// a few thousand entries per second, e.g. in a connection storm. Entries reach the sinks at most
/// this much later; flushes and a full batch are answered as before.
const NAP: Duration = Duration::from_millis(1);
/// Naps after the last entry (about 20 ms) before the writer sleeps until a producer wakes it.
const NAPS: u32 = 20;

fn run_writer(mut sinks: Vec<Box<dyn LogSink>>, shared: &Shared) {
    // The batch being written; swapped with the producers' one each round, so both keep their
    // allocation.
    let mut taken: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut dirty = false;
    let mut failed = vec![false; sinks.len()];
    // Naps left before the writer sleeps until woken (see `NAP`).
    let mut naps = 0;
    loop {
        let (lines, flushes, stop) = {
            let mut batch = shared.lock();
            while batch.lines == 0 && batch.flushes.is_empty() && !batch.stop && !dirty {
                if naps > 0 {
                    naps -= 1;
                    drop(batch);
                    std::thread::sleep(NAP);
                    batch = shared.lock();
                    continue;
                }
                batch.writer_waiting = true;
                let (b, timeout) = shared
                    .to_writer
                    .wait_timeout(batch, Duration::from_secs(1))
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                batch = b;
                batch.writer_waiting = false;
                if timeout.timed_out() {
                    report_dropped(&shared.dropped);
                }
            }
            std::mem::swap(&mut batch.bytes, &mut taken);
            let lines = std::mem::take(&mut batch.lines);
            batch.stalled = false;
            if batch.producers_waiting > 0 {
                shared.to_producers.notify_all();
            }
            (lines, std::mem::take(&mut batch.flushes), batch.stop)
        };
        if lines > 0 {
            naps = NAPS;
            for (sink, failed) in sinks.iter_mut().zip(failed.iter_mut()) {
                if let Err(e) = sink.write_lines(&taken, lines as usize) {
                    warn_once(failed, sink.name(), &e);
                }
            }
            taken.clear();
            if taken.capacity() > 64 * 1024 * 1024 {
                taken = Vec::with_capacity(256 * 1024);
            }
            dirty = true;
        }
        // Flush when the batch ran empty (or when asked): the sinks' buffers reach their files.
        if lines == 0 || !flushes.is_empty() || stop {
            flush_all(&mut sinks, &mut failed);
            count_lost(&mut sinks, shared);
            dirty = false;
            report_dropped(&shared.dropped);
            for ack in flushes {
                let _ = ack.send(());
            }
            if stop {
                let mut batch = shared.lock();
                batch.writer_gone = true;
                shared.to_producers.notify_all();
                return;
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
        shared.count_dropped(lost);
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
        tracing::warn!(dropped = n, "log pipeline: a sink took nothing for too long; entries were dropped");
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

    /// Counts lines, sleeping `delay` per batch.
    struct Counting {
        lines: Arc<AtomicU64>,
        delay: Duration,
    }

    impl LogSink for Counting {
        fn write_line(&mut self, _: &[u8]) -> std::io::Result<()> {
            self.lines.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn write_lines(&mut self, lines: &[u8], count: usize) -> std::io::Result<()> {
            std::thread::sleep(self.delay);
            assert_eq!(lines.iter().filter(|b| **b == b'\n').count(), count);
            self.lines.fetch_add(count as u64, Ordering::Relaxed);
            Ok(())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn name(&self) -> &'static str {
            "counting"
        }
    }

    #[test]
    fn while_entries_keep_coming_the_writer_naps_instead_of_being_woken() {
        let lines = Arc::new(AtomicU64::new(0));
        let counting = Counting { lines: lines.clone(), delay: Duration::ZERO };
        let (sink, handle) =
            LogPipeline::new("123456789012", LevelFilter::Debug).sink(Box::new(counting)).start().unwrap();
        // 20 entries 2 ms apart: the writer, idle between them, would need a wake-up for each;
        // napping (1 ms, for 20 ms after the last entry) it needs one for the first only.
        // A gap the host stretched past the naps' 20 ms may need a wake-up of its own.
        let mut last = std::time::Instant::now();
        let mut long_gaps = 0;
        for n in 1..=20 {
            sink.success(TraceId::new(), connect_entry());
            long_gaps += usize::from(n > 1 && last.elapsed() > Duration::from_millis(15));
            while lines.load(Ordering::Relaxed) < n {
                std::thread::sleep(Duration::from_micros(100));
            }
            // From here to the next entry the writer naps (if it does).
            last = std::time::Instant::now();
            std::thread::sleep(Duration::from_millis(2));
        }
        let wakeups = sink.shared.wakeups.load(Ordering::Relaxed);
        assert!(
            wakeups as usize <= 5 + long_gaps,
            "{wakeups} wake-ups for 20 entries ({long_gaps} long gaps)"
        );
        assert!(handle.shutdown(Duration::from_secs(5)));
        assert_eq!(lines.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn a_full_batch_makes_producers_wait_and_loses_nothing() {
        let lines = Arc::new(AtomicU64::new(0));
        let slow = Counting { lines: lines.clone(), delay: Duration::from_millis(5) };
        let (sink, handle) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(slow))
            .capacity(4)
            .start()
            .unwrap();
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        sink.success(TraceId::new(), connect_entry());
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        assert!(handle.shutdown(Duration::from_secs(5)));
        assert_eq!(sink.dropped(), 0);
        assert_eq!(lines.load(Ordering::Relaxed), 200, "every entry reached the sink");
    }

    #[test]
    fn a_stuck_sink_makes_producers_drop_and_count_instead_of_blocking() {
        let lines = Arc::new(AtomicU64::new(0));
        let stuck = Counting { lines: lines.clone(), delay: Duration::from_millis(600) };
        let (sink, handle) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(stuck))
            .capacity(4)
            .max_wait(Duration::from_millis(50))
            .start()
            .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..100 {
            sink.success(TraceId::new(), connect_entry());
        }
        assert!(started.elapsed() < Duration::from_millis(500), "producers wait at most max_wait");
        assert!(sink.dropped() > 0);
        assert!(handle.shutdown(Duration::from_secs(10)));
        assert_eq!(lines.load(Ordering::Relaxed) + sink.dropped(), 100, "every entry written or counted");
    }

    #[test]
    fn entries_keep_their_order_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (sink, handle) = LogPipeline::new("123456789012", LevelFilter::Debug)
            .sink(Box::new(FileSink::open(&path).unwrap()))
            .capacity(16)
            .start()
            .unwrap();
        let mut expected = String::new();
        for i in 0..1000u64 {
            let record = LogRecord::success(i, sink.account_id().clone(), TraceId::new(), connect_entry());
            expected.push_str(&record.to_json());
            expected.push('\n');
            sink.emit(record);
        }
        assert!(handle.shutdown(Duration::from_secs(5)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
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
