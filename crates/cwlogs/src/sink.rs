//! The pipeline's sink into the [`LogStore`]: the log writer thread hands each line over without
//! waiting; the store's own thread writes them in batches (one transaction each) and applies
//! retention. When its queue is full, batches go to the [`Spool`] on disk and are stored after
//! the queue's (in order); only when the spool is full too are entries missed, and the thread
//! says in a WARN diagnostic how many. The stdout and file sinks never wait for it.
//!
//! Log streams: AWS does not document how it names the streams of `AWSIotLogsV2`
//! (`docs/aws-behaviour.md` §4). iotemu writes one stream per UTC day, `iotemu/YYYY-MM-DD` (the
//! date of the entry's timestamp): stable across restarts, sorted by name, and few.
//!
//! An entry type that SetV2LoggingOptions' `eventConfigurations` gives a `logDestination` goes to
//! that log group (made on first use, with the IoT groups' retention) instead of `AWSIotLogsV2`.

use crate::service::{with_fields, EntryFields};
use crate::spool::Spool;
use crate::store::{LogStore, NewEvent};
use iotemu_core::{Clock, Scope};
use iotemu_logs::{EventConfigurations, LogSink};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The log group of AWS IoT's entries.
pub const IOT_LOG_GROUP: &str = "AWSIotLogsV2";
/// The log group of AWS IoT Core for LoRaWAN's entries (AWS writes them there).
pub const WIRELESS_LOG_GROUP: &str = "/aws/iotwireless";

/// How entries are kept.
#[derive(Clone)]
pub struct StoreConfig {
    /// The account and region whose log groups receive the entries.
    pub scope: Scope,
    /// Entries waiting for the store before new ones are missed (and counted).
    pub queue_capacity: usize,
    /// When the queue is full, make the pipeline wait for the store instead of missing entries
    /// (as long as it makes progress; 2 s without any and entries are missed again): nothing is
    /// missed, and the broker slows to the store's pace.
    pub wait_when_full: bool,
    /// Where batches go while the queue is full (`logs.spool`), and its size limit in bytes;
    /// `None`: entries that do not fit the queue are missed.
    pub spool: Option<(std::path::PathBuf, u64)>,
    /// Events kept in all; the oldest go first.
    pub max_events: u64,
    /// Retention of the IoT log groups when the store creates them.
    pub retention_days: i64,
    /// Ingestion times and retention.
    pub clock: Arc<dyn Clock>,
    /// The `eventConfigurations` in force: their `logDestination`s route entries.
    pub events: Arc<EventConfigurations>,
}

/// The store sink; dropping it writes what is queued and stops its thread.
pub struct StoreSink {
    tx: Option<Sender<(Vec<u8>, usize)>>,
    thread: Option<JoinHandle<()>>,
    missed: Arc<AtomicU64>,
    /// Lines handed to the store's thread and not yet written.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    /// Signalled by the store's thread after each transaction (with `wait_when_full`).
    written: Option<Arc<(Mutex<()>, Condvar)>>,
    spool: Option<Arc<Spool>>,
}

/// What the store has not written yet, for the health route.
#[derive(Clone)]
pub struct Backlog {
    queued: Arc<AtomicUsize>,
    spool: Option<Arc<Spool>>,
}

impl Backlog {
    /// Entries in the queue and in the spool.
    pub fn entries(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.spool.as_ref().map_or(0, |s| s.waiting())
    }
}

impl StoreSink {
    /// Starts the store's writer thread.
    pub fn start(store: Arc<LogStore>, config: StoreConfig) -> std::io::Result<StoreSink> {
        let (tx, rx) = channel();
        let missed = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicUsize::new(0));
        let capacity = config.queue_capacity.max(1);
        let (counter, in_queue) = (missed.clone(), queued.clone());
        let written = config.wait_when_full.then(|| Arc::new((Mutex::new(()), Condvar::new())));
        let spool = match &config.spool {
            Some((path, max_bytes)) => Some(Arc::new(Spool::open(path, *max_bytes)?)),
            None => None,
        };
        let (signal, spooled) = (written.clone(), spool.clone());
        let thread = std::thread::Builder::new().name("iotemu-log-store".into()).spawn(move || {
            // Entries reach the file and the live tail first; the store may be late (its spool
            // holds the rest), so under a full load it yields the cores to the broker.
            iotemu_store::run_in_background();
            let state = Counters { missed: &counter, queued: &in_queue, written: signal.as_deref() };
            run(rx, &store, &config, &state, spooled.as_deref())
        })?;
        Ok(StoreSink { tx: Some(tx), thread: Some(thread), missed, queued, capacity, written, spool })
    }

    /// What the store has yet to write (queue and spool).
    pub fn backlog(&self) -> Backlog {
        Backlog { queued: self.queued.clone(), spool: self.spool.clone() }
    }

    /// Entries the store missed because its queue was full (since start).
    pub fn missed(&self) -> Arc<AtomicU64> {
        self.missed.clone()
    }

    /// Queues `count` lines as one chunk; when the queue is full (or while batches wait in the
    /// spool, so that order holds) spools them; when the spool is full too, counts them missed.
    fn queue(&mut self, lines: &[u8], count: usize) {
        if self.spool.as_ref().is_some_and(|s| s.waiting() > 0) {
            self.spool_or_miss(lines, count);
            return;
        }
        let Some(tx) = &self.tx else { return };
        // The queue may overshoot its capacity by one batch; it is bounded all the same.
        if let Some(written) = &self.written {
            // Waits as long as the store makes progress; 2 s without any means it is stuck.
            let mut deadline = Instant::now() + Duration::from_secs(2);
            let (lock, condvar) = &**written;
            let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut last = self.queued.load(Ordering::Relaxed);
            while last >= self.capacity && Instant::now() < deadline {
                let now = self.queued.load(Ordering::Relaxed);
                if now < last {
                    deadline = Instant::now() + Duration::from_secs(2);
                }
                last = now;
                if last < self.capacity {
                    break;
                }
                guard = condvar
                    .wait_timeout(guard, Duration::from_millis(50))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        if self.queued.load(Ordering::Relaxed) >= self.capacity {
            self.spool_or_miss(lines, count);
            return;
        }
        self.queued.fetch_add(count, Ordering::Relaxed);
        if tx.send((lines.to_vec(), count)).is_err() {
            self.queued.fetch_sub(count, Ordering::Relaxed);
            self.missed.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    fn spool_or_miss(&self, lines: &[u8], count: usize) {
        match self.spool.as_ref().and_then(|s| s.push(lines, count)) {
            // The store's thread may have found the spool empty just before and be asleep on
            // the queue: an empty chunk wakes it.
            Some(true) => {
                if let Some(tx) = &self.tx {
                    let _ = tx.send((Vec::new(), 0));
                }
            }
            Some(false) => {}
            None => {
                self.missed.fetch_add(count as u64, Ordering::Relaxed);
            }
        }
    }
}

impl LogSink for StoreSink {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.queue(line, 1);
        Ok(())
    }

    /// The pipeline's whole batch goes over in one copy; the store's thread splits it.
    fn write_lines(&mut self, lines: &[u8], count: usize) -> std::io::Result<()> {
        self.queue(lines, count);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "log store"
    }
}

impl Drop for StoreSink {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Lines written per transaction at most (a chunk is never split).
const BATCH: usize = 16_384;
/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// A transaction of fewer lines than this waits up to [`GATHER`] for more. Its cost hardly
/// depends on its size below that (the write-ahead log gets every page it touched: the table's,
/// three indexes', the stream's), so at a few thousand entries per second, with the writer
/// handing over a batch each millisecond, a transaction each batch cost the store thread 5-10x
/// more per entry than at full load (2,000 messages/s at DEBUG: 144-159 ticks of the store thread
/// for 44,500 entries without gathering, 54-57 with). Entries reach FilterLogEvents at most that
/// much later; AWS's own ingestion takes seconds.
const GATHER_LINES: usize = 1024;
const GATHER: Duration = Duration::from_millis(20);

/// Lines below which a transaction waits for more: [`GATHER_LINES`], or the queue's capacity
/// when that is smaller (a full queue sends nothing more until what it holds is written, so
/// waiting would only stall a `wait_when_full` producer).
fn gather_lines(queue_capacity: usize) -> usize {
    GATHER_LINES.min(queue_capacity.max(1))
}

/// The counters the store's thread shares with the sink.
struct Counters<'a> {
    missed: &'a AtomicU64,
    queued: &'a AtomicUsize,
    /// Signalled after each transaction (with `wait_when_full`).
    written: Option<&'a (Mutex<()>, Condvar)>,
}

/// How long a stopping store keeps storing spooled entries; the rest stays in the spool for the
/// next start.
const SPOOL_DRAIN_AT_STOP: Duration = Duration::from_secs(2);

/// Lines handed over at once, and how many.
type Chunk = (Vec<u8>, usize);

/// The next chunks to store, oldest first: the queue's, then the spool's; whether they came
/// from the spool. `None` when the sink is gone and nothing more is to be stored now.
fn next_chunks(
    rx: &Receiver<Chunk>,
    gather_lines: usize,
    spool: Option<&Spool>,
    stopping: &mut Option<Instant>,
) -> Option<(Vec<Chunk>, bool)> {
    loop {
        match rx.try_recv() {
            Ok(first) => return Some((with_queued(first, rx, gather_lines), false)),
            Err(TryRecvError::Disconnected) if stopping.is_none() => {
                *stopping = Some(Instant::now() + SPOOL_DRAIN_AT_STOP);
            }
            Err(_) => {}
        }
        if stopping.is_none_or(|by| Instant::now() < by) {
            if let Some(chunk) = spool.and_then(|s| s.take(BATCH)) {
                return Some((vec![chunk], true));
            }
        }
        if stopping.is_some() {
            return None;
        }
        // Queue and spool are empty: a new batch goes to the queue, or, when the spool gets its
        // first batch, an empty chunk does; either wakes this.
        match rx.recv() {
            Ok(first) => return Some((with_queued(first, rx, gather_lines), false)),
            Err(_) => *stopping = Some(Instant::now() + SPOOL_DRAIN_AT_STOP),
        }
    }
}

/// `first` and the chunks queued behind it, up to [`BATCH`] lines (a chunk is never split);
/// while they are fewer than `gather_lines` (see [`gather_lines`]), it waits up to [`GATHER`].
fn with_queued(first: Chunk, rx: &Receiver<Chunk>, gather_lines: usize) -> Vec<Chunk> {
    let mut lines = first.1;
    let mut chunks = vec![first];
    let gather_until = Instant::now() + GATHER;
    while lines < BATCH {
        let next = match rx.try_recv() {
            Ok(next) => next,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if lines >= gather_lines => break,
            Err(TryRecvError::Empty) => {
                let Some(left) = gather_until.checked_duration_since(Instant::now()) else { break };
                // Disconnected or nothing came in time: store what there is.
                let Ok(next) = rx.recv_timeout(left) else { break };
                next
            }
        };
        lines += next.1;
        chunks.push(next);
    }
    chunks
}

fn run(
    rx: Receiver<(Vec<u8>, usize)>,
    store: &LogStore,
    config: &StoreConfig,
    counters: &Counters<'_>,
    spool: Option<&Spool>,
) {
    let mut groups = std::collections::HashMap::<String, i64>::new();
    let mut reported = 0;
    let mut last_prune = Instant::now();
    // Retention also runs after a tenth of `max_events` new entries, so the bound holds closely.
    let prune_after = (config.max_events / 10).max(1);
    let mut since_prune = 0u64;
    let mut streams = Streams::default();
    let mut stopping = None;
    while let Some((chunks, from_spool)) =
        next_chunks(&rx, gather_lines(config.queue_capacity), spool, &mut stopping)
    {
        let mut lines = 0;
        // The events borrow the chunks' lines: nothing is copied until SQLite binds them.
        let mut by_group = std::collections::BTreeMap::<Cow<'_, str>, Vec<(Arc<str>, NewEvent)>>::new();
        for (bytes, count) in &chunks {
            lines += count;
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let (group, day, event) = parse(line, config);
                let stream = streams.of(&day);
                match by_group.get_mut(&*group) {
                    Some(events) => events.push((stream, event)),
                    None => {
                        by_group.insert(group, vec![(stream, event)]);
                    }
                }
            }
        }
        let now = config.clock.now_millis() as i64;
        for (group, events) in by_group.iter_mut() {
            if events.is_empty() {
                continue;
            }
            let group = &**group;
            let written = group_id(store, config, &mut groups, group, now)
                .and_then(|id| store.append(id, events, now))
                // The group may have been deleted (DeleteLogGroup, reset): make it again, once.
                .or_else(|_| {
                    groups.remove(group);
                    group_id(store, config, &mut groups, group, now)
                        .and_then(|id| store.append(id, events, now))
                });
            if let Err(e) = written {
                tracing::warn!(error = %e, entries = events.len(), "the log store could not write entries");
            }
        }
        drop(by_group);
        match spool {
            Some(spool) if from_spool => spool.commit(),
            _ => {
                counters.queued.fetch_sub(lines, Ordering::Relaxed);
            }
        }
        if let Some((lock, condvar)) = counters.written {
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            condvar.notify_all();
        }
        since_prune += lines as u64;
        let total = counters.missed.load(Ordering::Relaxed);
        if total > reported {
            tracing::warn!(
                missed = total - reported,
                total,
                "the log store fell behind: {} entries were not stored (stdout and file sinks have them)",
                total - reported
            );
            reported = total;
        }
        if last_prune.elapsed() >= PRUNE_EVERY || since_prune >= prune_after {
            prune(store, config);
            last_prune = Instant::now();
            since_prune = 0;
        }
    }
    prune(store, config);
}

fn prune(store: &LogStore, config: &StoreConfig) {
    if let Err(e) = store.prune(config.clock.now_millis() as i64, config.max_events) {
        tracing::warn!(error = %e, "log retention failed");
    }
}

fn group_id(
    store: &LogStore,
    config: &StoreConfig,
    groups: &mut std::collections::HashMap<String, i64>,
    group: &str,
    now: i64,
) -> Result<i64, crate::LogsError> {
    if let Some(id) = groups.get(group) {
        return Ok(*id);
    }
    let id = store.ensure_group(&config.scope, group, Some(config.retention_days), now)?;
    groups.insert(group.to_string(), id);
    Ok(id)
}

/// The stream names by day (`iotemu/YYYY-MM-DD`): made once per day, not per line.
#[derive(Default)]
struct Streams {
    last: Option<(String, Arc<str>)>,
}

impl Streams {
    fn of(&mut self, day: &str) -> Arc<str> {
        match &self.last {
            Some((last, stream)) if last == day => stream.clone(),
            _ => {
                let stream: Arc<str> = format!("iotemu/{day}").into();
                self.last = Some((day.to_string(), stream.clone()));
                stream
            }
        }
    }
}

/// The group, day (of the stream) and event of a line, borrowed from it.
fn parse<'a>(line: &'a [u8], config: &StoreConfig) -> (Cow<'a, str>, Cow<'a, str>, NewEvent<'a>) {
    let clock = &*config.clock;
    let mut line = line;
    while let Some((b'\n' | b'\r', rest)) = line.split_last() {
        line = rest;
    }
    let message = match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(String::from_utf8_lossy(line).into_owned()),
    };
    // Fields of a lossily converted line borrow from a copy that the event owns.
    let (fields, message) = match message {
        Cow::Borrowed(text) => (EntryFields::of(text), Cow::Borrowed(text)),
        Cow::Owned(text) => (EntryFields::of(&text).into_owned(), Cow::Owned(text)),
    };
    let timestamp = fields
        .timestamp
        .as_deref()
        .and_then(|t| entry_timestamp_ms(t).or_else(|| rfc3339_ms(t)))
        .unwrap_or_else(|| clock.now_millis() as i64);
    let day = match &fields.timestamp {
        Some(Cow::Borrowed(t)) => Cow::Borrowed(t.get(..10).unwrap_or("unknown")),
        Some(Cow::Owned(t)) => Cow::Owned(t.get(..10).unwrap_or("unknown").to_string()),
        None => Cow::Borrowed("unknown"),
    };
    let group = match fields.event_type.as_deref() {
        None if fields.event.is_some() => Cow::Borrowed(WIRELESS_LOG_GROUP),
        Some(event_type) => match config.events.destination(event_type) {
            Some(destination) => Cow::Owned(destination),
            None => Cow::Borrowed(IOT_LOG_GROUP),
        },
        None => Cow::Borrowed(IOT_LOG_GROUP),
    };
    (group, day, with_fields(timestamp, message, fields))
}

/// Epoch milliseconds of an entry timestamp, `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn entry_timestamp_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 23
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// Epoch milliseconds of a LoRaWAN entry's timestamp, RFC 3339 in UTC
/// (`2020-11-24T01:46:50.883481989Z`).
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let clock = rest.strip_suffix('Z')?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, "0"));
    let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    entry_timestamp_ms(&format!("{date} {hms}.{millis}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lorawan_timestamps_become_epoch_milliseconds() {
        assert_eq!(rfc3339_ms("2020-11-24T01:46:50.883481989Z"), Some(1_606_182_410_883));
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(rfc3339_ms("2020-11-24 01:46:50.883"), None);
    }

    #[test]
    fn entry_timestamps_become_epoch_milliseconds() {
        assert_eq!(entry_timestamp_ms("1970-01-01 00:00:00.000"), Some(0));
        assert_eq!(entry_timestamp_ms("2026-11-24 10:00:00.123"), Some(1_795_514_400_123));
        assert_eq!(entry_timestamp_ms("2024-02-29 23:59:59.999"), Some(1_709_251_199_999));
        assert_eq!(entry_timestamp_ms("2026-11-24T10:00:00.123"), None);
        assert_eq!(entry_timestamp_ms("2026-13-24 10:00:00.123"), None);
    }

    fn config() -> StoreConfig {
        StoreConfig {
            scope: Scope::new("123456789012", "us-east-1"),
            queue_capacity: 1,
            wait_when_full: false,
            spool: None,
            max_events: 1,
            retention_days: 1,
            clock: Arc::new(iotemu_core::SystemClock),
            events: Arc::default(),
        }
    }

    #[test]
    fn lines_go_to_a_daily_stream_of_their_group() {
        let line = br#"{"timestamp":"2026-11-24 10:00:00.123","logLevel":"INFO","eventType":"Connect","clientId":"c","status":"Success","traceId":"t"}
"#;
        let config = config();
        let (group, day, event) = parse(line, &config);
        assert_eq!((&*group, &*Streams::default().of(&day)), (IOT_LOG_GROUP, "iotemu/2026-11-24"));
        assert_eq!(event.event_type.as_deref(), Some("Connect"));
        assert_eq!(event.client_id.as_deref(), Some("c"));
        assert!(!event.message.ends_with('\n'));
        let (group, ..) = parse(br#"{"timestamp":"2026-11-24 10:00:00.123","event":"Join"}"#, &config);
        assert_eq!(group, WIRELESS_LOG_GROUP);
        // A line that is not UTF-8 is stored with U+FFFD in place of its bad bytes, its fields read.
        let (_, _, event) = parse(b"{\"eventType\":\"Connect\",\"clientId\":\"c\xff\"}", &config);
        assert_eq!(event.client_id.as_deref(), Some("c\u{fffd}"));
        assert_eq!(event.event_type.as_deref(), Some("Connect"));
        // An event type with a logDestination goes to that group.
        let connect = iotemu_logs::EventConfiguration { level: None, destination: Some("mine".into()) };
        config.events.set_all([("Connect".to_string(), connect)].into());
        assert_eq!(parse(line, &config).0, "mine");
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::store::EventQuery;

    /// A clock that stays at one instant.
    struct Stopped(u64);

    impl Clock for Stopped {
        fn now_millis(&self) -> u64 {
            self.0
        }
    }

    /// A store in `dir` and a one-entry queue, its clock at the entries' time so that retention
    /// (7 days) keeps them whatever the day the test runs.
    fn one_entry_queue(dir: &std::path::Path, wait_when_full: bool) -> (Arc<LogStore>, Scope, StoreConfig) {
        one_entry_queue_with(dir, wait_when_full, None)
    }

    fn one_entry_queue_with(
        dir: &std::path::Path,
        wait_when_full: bool,
        spool: Option<(std::path::PathBuf, u64)>,
    ) -> (Arc<LogStore>, Scope, StoreConfig) {
        let store = Arc::new(LogStore::open(&dir.join("logs.db")).expect("store"));
        let scope = Scope { account: "123456789012".into(), region: "us-east-1".into() };
        let now = entry_timestamp_ms("2026-11-24 10:00:00.000").expect("a timestamp") as u64;
        let config = StoreConfig {
            scope: scope.clone(),
            queue_capacity: 1,
            wait_when_full,
            spool,
            max_events: 1_000_000,
            retention_days: 7,
            clock: Arc::new(Stopped(now)),
            events: Arc::default(),
        };
        (store, scope, config)
    }

    #[test]
    fn a_full_queue_misses_entries_and_counts_every_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, scope, config) = one_entry_queue(dir.path(), false);
        let mut sink = StoreSink::start(store.clone(), config).expect("sink");
        let missed = sink.missed();
        for i in 0..2000 {
            let line = format!(
                "{{\"timestamp\":\"2026-11-24 10:00:00.000\",\"eventType\":\"Publish-In\",\"clientId\":\"c{i}\"}}\n"
            );
            sink.write_line(line.as_bytes()).expect("never fails");
        }
        drop(sink); // writes what is queued
        let group = store.group(&scope, IOT_LOG_GROUP).expect("read").expect("created");
        let stored = store
            .events(&EventQuery { group_id: group.id, limit: 10_000, ..Default::default() })
            .expect("read");
        let missed = missed.load(Ordering::Relaxed);
        assert!(missed > 0, "a one-entry queue cannot keep up with a burst");
        assert_eq!(stored.len() as u64 + missed, 2000, "every entry is stored or counted as missed");
    }

    /// The nice value (field 19 of `/proc/self/task/TID/stat`) of every live thread whose name
    /// starts with `name` (Linux shortens names to 15 bytes).
    fn nice_of_threads(name: &str) -> Vec<i32> {
        let mut nice = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").expect("/proc").flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if comm.trim_end() != &name[..name.len().min(15)] {
                continue;
            }
            // After the name in parentheses: state is field 3, nice field 19.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace().collect();
            nice.extend(fields.get(16).and_then(|f| f.parse::<i32>().ok()));
        }
        nice
    }

    /// The store's writer and its checkpointer run at a lower priority than the broker's
    /// threads, so that under a full load they take only what the broker leaves.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_store_and_its_checkpointer_yield_the_cpu() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _, config) = one_entry_queue(dir.path(), false);
        let sink = StoreSink::start(store.clone(), config).expect("sink");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let (mut writer, mut checkpointer) = (Vec::new(), Vec::new());
        while std::time::Instant::now() < deadline {
            (writer, checkpointer) = (nice_of_threads("iotemu-log-store"), nice_of_threads("log-checkpoint"));
            if writer.contains(&iotemu_store::BACKGROUND_NICE)
                && checkpointer.contains(&iotemu_store::BACKGROUND_NICE)
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(writer.contains(&iotemu_store::BACKGROUND_NICE), "the store's writer: {writer:?}");
        assert!(checkpointer.contains(&iotemu_store::BACKGROUND_NICE), "its checkpointer: {checkpointer:?}");
        drop(sink);
    }

    #[test]
    fn waiting_when_full_misses_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, scope, config) = one_entry_queue(dir.path(), true);
        let mut sink = StoreSink::start(store.clone(), config).expect("sink");
        let missed = sink.missed();
        burst(&mut sink);
        drop(sink);
        assert_eq!(missed.load(Ordering::Relaxed), 0);
        assert_eq!(client_ids(&store, &scope).len(), 2000);
    }

    /// 2,000 entries as 20 batches of 100 through `sink`.
    fn burst(sink: &mut StoreSink) {
        let mut batch = String::new();
        for i in 0..2000 {
            batch.push_str(&format!(
                "{{\"timestamp\":\"2026-11-24 10:00:00.000\",\"eventType\":\"Publish-In\",\"clientId\":\"c{i}\"}}\n"
            ));
            if i % 100 == 99 {
                sink.write_lines(batch.as_bytes(), 100).expect("never fails");
                batch.clear();
            }
        }
    }

    fn client_ids(store: &LogStore, scope: &Scope) -> Vec<String> {
        let group = store.group(scope, IOT_LOG_GROUP).expect("read").expect("created");
        let stored = store
            .events(&EventQuery { group_id: group.id, limit: 10_000, ..Default::default() })
            .expect("read");
        stored
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.message).expect("json");
                v["clientId"].as_str().expect("clientId").to_string()
            })
            .collect()
    }

    #[test]
    fn a_full_queue_spools_to_disk_and_the_store_keeps_every_entry_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool_path = dir.path().join("logs.spool");
        let (store, scope, config) =
            one_entry_queue_with(dir.path(), false, Some((spool_path.clone(), 1 << 30)));
        let mut sink = StoreSink::start(store.clone(), config).expect("sink");
        let (missed, backlog) = (sink.missed(), sink.backlog());
        burst(&mut sink);
        assert!(backlog.entries() > 0, "a one-entry queue cannot take a burst at once");
        drop(sink);
        assert_eq!(missed.load(Ordering::Relaxed), 0, "nothing missed while the spool has room");
        let expected: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
        assert_eq!(client_ids(&store, &scope), expected, "stored once each, in the order written");
        assert_eq!(
            std::fs::metadata(&spool_path).expect("spool").len(),
            16,
            "the emptied spool shrinks to its header"
        );
    }

    /// A clock that moves on a millisecond each time it is read: the store reads it once per
    /// transaction (and for retention), so events of one transaction share an ingestion time.
    struct Ticking(AtomicU64);

    impl Clock for Ticking {
        fn now_millis(&self) -> u64 {
            self.0.fetch_add(1, Ordering::Relaxed)
        }
    }

    /// Entries that trickle in (a chunk every 2 ms, as the log writer hands them over at a few
    /// hundred entries per second) are stored in a few transactions, not one per chunk.
    #[test]
    fn entries_that_trickle_in_are_gathered_into_few_transactions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, scope, mut config) = one_entry_queue(dir.path(), false);
        config.queue_capacity = 10_000;
        let start = entry_timestamp_ms("2026-11-24 10:00:00.000").expect("a timestamp") as u64;
        config.clock = Arc::new(Ticking(AtomicU64::new(start)));
        let mut sink = StoreSink::start(store.clone(), config).expect("sink");
        let sending = Instant::now();
        for i in 0..10 {
            let line = format!(
                "{{\"timestamp\":\"2026-11-24 10:00:00.000\",\"eventType\":\"Publish-In\",\"clientId\":\"c{i}\"}}\n"
            );
            sink.write_line(line.as_bytes()).expect("never fails");
            std::thread::sleep(Duration::from_millis(2));
        }
        let sent_in = sending.elapsed();
        // Stored while the sink is still there (a drop would write the rest at once).
        let deadline = Instant::now() + Duration::from_secs(5);
        while client_ids_if_any(&store, &scope).len() < 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let group = store.group(&scope, IOT_LOG_GROUP).expect("read").expect("created");
        let stored =
            store.events(&EventQuery { group_id: group.id, limit: 100, ..Default::default() }).expect("read");
        assert_eq!(stored.len(), 10, "every entry is stored");
        let transactions: std::collections::BTreeSet<i64> = stored.iter().map(|e| e.ingestion).collect();
        // About 20 ms of sending fits in one or two gathering waits; a stalled host gets more.
        let bound = (sent_in.as_millis() / GATHER.as_millis()) as usize + 2;
        assert!(
            transactions.len() <= bound.min(9),
            "10 chunks sent in {sent_in:?} took {} transactions",
            transactions.len()
        );
        drop(sink);
    }

    /// A queue smaller than [`GATHER_LINES`] gathers only up to its capacity: once full it sends
    /// nothing more until its lines are written, so waiting for more would stall the producer.
    #[test]
    fn a_small_queue_is_not_gathered_past_its_capacity() {
        let chunk = || (b"{}\n".to_vec(), 1);
        let gathered = |queue_capacity: usize| {
            let (tx, rx) = channel();
            tx.send(chunk()).unwrap();
            // The next chunk comes within the gathering wait (20 ms).
            let later = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                let _ = tx.send(chunk());
            });
            let first = rx.recv().unwrap();
            let chunks = with_queued(first, &rx, gather_lines(queue_capacity)).len();
            later.join().unwrap();
            chunks
        };
        assert_eq!(gathered(1), 1, "a one-entry queue is stored at once");
        assert_eq!(gathered(100_000), 2, "a large queue waits for the next chunk");
    }

    fn client_ids_if_any(store: &LogStore, scope: &Scope) -> Vec<String> {
        match store.group(scope, IOT_LOG_GROUP).expect("read") {
            Some(_) => client_ids(store, scope),
            None => Vec::new(),
        }
    }

    #[test]
    fn a_spool_left_at_stop_is_stored_at_the_next_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool_path = dir.path().join("logs.spool");
        {
            // What a stop leaves: batches in the spool that no store took.
            let spool = Spool::open(&spool_path, 1 << 30).expect("spool");
            let _ = spool.push(b"{\"timestamp\":\"2026-11-24 10:00:00.000\",\"eventType\":\"Connect\",\"clientId\":\"left\"}\n", 1);
        }
        let (store, scope, config) = one_entry_queue_with(dir.path(), false, Some((spool_path, 1 << 30)));
        let sink = StoreSink::start(store.clone(), config).expect("sink");
        drop(sink);
        assert_eq!(client_ids(&store, &scope), vec!["left".to_string()]);
    }
}
