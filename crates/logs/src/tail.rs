//! Live tailing: [`TailSink`] keeps the most recent lines in a ring and broadcasts each new one;
//! [`LiveTail`] is the readers' handle (the admin routes `GET /_iotemu/logs` and
//! `/_iotemu/logs/stream`). The writer thread never waits for a reader: a subscriber that falls
//! more than the channel's capacity behind loses lines and is told how many
//! ([`broadcast::error::RecvError::Lagged`]).
//!
//! Every line gets a sequence number, so a reader can take the recent lines and subscribe in
//! one step ([`LiveTail::recent_and_subscribe`]) without gaps or duplicates, and a stream can
//! resume after a given line (SSE `Last-Event-ID`).

use crate::LogSink;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Lines a subscriber may fall behind before it loses some.
const CHANNEL_CAPACITY: usize = 4096;

/// One serialized entry (without its newline) and its sequence number (1, 2, ...).
#[derive(Debug, Clone)]
pub struct TailLine {
    pub seq: u64,
    pub line: Arc<str>,
}

struct Ring {
    /// The kept lines, as the chunks they came in (the oldest may hide its first lines): a batch
    /// is kept in one piece, and cut into lines only when a reader asks.
    chunks: VecDeque<Chunk>,
    /// Lines the chunks hold (after what they hide): at most `capacity`.
    kept: usize,
    capacity: usize,
    next_seq: u64,
}

/// Consecutive lines, `\n` between them (and maybe after the last).
struct Chunk {
    /// The sequence number of the first line of `text`.
    first_seq: u64,
    /// Lines in `text`.
    lines: usize,
    /// Leading lines no longer kept.
    hidden: usize,
    text: Arc<str>,
}

impl Chunk {
    fn kept(&self) -> impl Iterator<Item = TailLine> + '_ {
        let first = self.first_seq + self.hidden as u64;
        self.text
            .split_terminator('\n')
            .skip(self.hidden)
            .zip(first..)
            .map(|(line, seq)| TailLine { seq, line: line.into() })
    }
}

impl Ring {
    /// Keeps `lines` lines, the first numbered `first_seq`, dropping the oldest beyond capacity.
    fn keep(&mut self, first_seq: u64, lines: usize, text: Arc<str>) {
        if self.capacity == 0 || lines == 0 {
            return;
        }
        self.chunks.push_back(Chunk { first_seq, lines, hidden: 0, text });
        self.kept += lines;
        while let Some(front) = self.chunks.front_mut() {
            let excess = self.kept.saturating_sub(self.capacity);
            if excess == 0 {
                break;
            }
            let visible = front.lines - front.hidden;
            if visible <= excess {
                self.kept -= visible;
                self.chunks.pop_front();
            } else {
                front.hidden += excess;
                self.kept -= excess;
            }
        }
    }

    fn lines(&self) -> Vec<TailLine> {
        self.chunks.iter().flat_map(Chunk::kept).collect()
    }
}

struct Shared {
    ring: Mutex<Ring>,
    /// Weak, so the subscribers' streams end when the sink (the writer thread) goes away.
    sender: broadcast::WeakSender<TailLine>,
    /// Lines subscribers lost because they fell behind ([`LiveTail::note_lagged`]).
    lagged: AtomicU64,
}

impl Shared {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent (push and pop are atomic).
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The sink: keeps the last `capacity` lines and publishes each one at once.
pub struct TailSink {
    shared: Arc<Shared>,
    sender: broadcast::Sender<TailLine>,
}

/// The readers' handle: cheap to clone.
#[derive(Clone)]
pub struct LiveTail {
    shared: Arc<Shared>,
}

/// A sink keeping the most recent `capacity` lines (0: none, the stream still works), and its
/// readers' handle.
pub fn live_tail(capacity: usize) -> (TailSink, LiveTail) {
    let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
    let shared = Arc::new(Shared {
        ring: Mutex::new(Ring { chunks: VecDeque::new(), kept: 0, capacity, next_seq: 1 }),
        sender: sender.downgrade(),
        lagged: AtomicU64::new(0),
    });
    (TailSink { shared: shared.clone(), sender }, LiveTail { shared })
}

impl LogSink for TailSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line: Arc<str> = match std::str::from_utf8(line) {
            Ok(text) => text.into(),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        let mut ring = self.shared.ring();
        let item = TailLine { seq: ring.next_seq, line };
        ring.next_seq += 1;
        ring.keep(item.seq, 1, item.line.clone());
        // Under the ring's lock, so `recent_and_subscribe` sees each line exactly once. Never
        // blocks; an error only means nobody listens.
        let _ = self.sender.send(item);
        Ok(())
    }

    /// A batch under one lock. With no reader, the lines the ring keeps are copied in one piece
    /// (found from the end, so a batch costs its kept bytes, not a pass over each line); with
    /// readers, line by line.
    fn write_lines(&mut self, lines: &[u8], count: usize) -> io::Result<()> {
        if self.sender.receiver_count() > 0 {
            return self.write_each(lines);
        }
        let text = match std::str::from_utf8(lines) {
            Ok(text) => text,
            // Lines that are not UTF-8 are refused one by one, the others kept.
            Err(_) => return self.write_each(lines),
        };
        let mut ring = self.shared.ring();
        let first_seq = ring.next_seq;
        ring.next_seq += count as u64;
        let keep = count.min(ring.capacity);
        if keep == 0 {
            return Ok(());
        }
        // The last `keep` lines start after the keep-th newline from the end (or at the start).
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut start = 0;
        if keep < count {
            let mut end = body.len();
            for _ in 0..keep {
                match body[..end].rfind('\n') {
                    Some(newline) => {
                        end = newline;
                        start = newline + 1;
                    }
                    None => {
                        start = 0;
                        break;
                    }
                }
            }
        }
        let kept = &body[start..];
        ring.keep(first_seq + (count - keep) as u64, keep, kept.into());
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "tail"
    }
}

impl TailSink {
    /// Line by line, each sent to the readers and kept.
    fn write_each(&mut self, lines: &[u8]) -> io::Result<()> {
        let mut result = Ok(());
        let mut ring = self.shared.ring();
        for line in lines.split_inclusive(|b| *b == b'\n') {
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line: Arc<str> = match std::str::from_utf8(line) {
                Ok(text) => text.into(),
                Err(e) => {
                    result = Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    continue;
                }
            };
            let item = TailLine { seq, line };
            ring.keep(seq, 1, item.line.clone());
            let _ = self.sender.send(item);
        }
        result
    }
}

impl LiveTail {
    /// The kept lines that match `filter`, oldest first.
    pub fn recent(&self, filter: &TailFilter) -> Vec<TailLine> {
        let lines = self.shared.ring().lines();
        lines.into_iter().filter(|l| filter.matches(&l.line)).collect()
    }

    /// New lines from now on; `None` once the pipeline has stopped.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<TailLine>> {
        self.shared.sender.upgrade().map(|s| s.subscribe())
    }

    /// Counts `missed` lines a subscriber lost because it fell behind (the writer never waits
    /// for a reader; the subscriber learns of it from [`broadcast::error::RecvError::Lagged`]).
    pub fn note_lagged(&self, missed: u64) {
        self.shared.lagged.fetch_add(missed, Ordering::Relaxed);
    }

    /// Lines lost by subscribers that fell behind, since start (`/_iotemu/health`).
    pub fn lagged(&self) -> u64 {
        self.shared.lagged.load(Ordering::Relaxed)
    }

    /// Every kept line (unfiltered, oldest first) and a receiver of the lines after them.
    pub fn recent_and_subscribe(&self) -> (Vec<TailLine>, Option<broadcast::Receiver<TailLine>>) {
        let ring = self.shared.ring();
        let receiver = self.shared.sender.upgrade().map(|s| s.subscribe());
        (ring.lines(), receiver)
    }
}

/// Which entries a reader wants; an unset field matches every entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailFilter {
    /// `eventType`, ASCII case-insensitive (`Publish-In`, `connect`).
    pub event_type: Option<String>,
    /// `clientId`, exactly.
    pub client_id: Option<String>,
    /// `traceId`, exactly.
    pub trace_id: Option<String>,
    /// `status`: Success or Failure.
    pub status: Option<TailStatus>,
    /// Entries at or after this time, as a `timestamp` text (`YYYY-MM-DD HH:MM:SS.mmm` UTC,
    /// which sorts as text).
    pub since: Option<String>,
}

/// `status` of an entry, for [`TailFilter::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailStatus {
    Success,
    Failure,
}

impl TailStatus {
    /// `Success` or `Failure`, in any case.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("success") {
            Ok(TailStatus::Success)
        } else if text.eq_ignore_ascii_case("failure") {
            Ok(TailStatus::Failure)
        } else {
            Err(format!("invalid status {text:?}: expected Success or Failure"))
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TailStatus::Success => "Success",
            TailStatus::Failure => "Failure",
        }
    }
}

/// The attributes a filter looks at, borrowed from the line where it has no escapes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_type: Option<Cow<'a, str>>,
    /// A LoRaWAN entry's event (`Join`, `Uplink`, `Downlink`), matched as its eventType.
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

impl TailFilter {
    /// Whether the filter sets nothing.
    pub fn is_empty(&self) -> bool {
        *self == TailFilter::default()
    }

    /// Sets `since` from epoch milliseconds (`1700000000000`) or an entry timestamp
    /// (`YYYY-MM-DD HH:MM:SS.mmm` UTC; the milliseconds may be left out).
    pub fn set_since(&mut self, text: &str) -> Result<(), String> {
        self.since = Some(parse_since(text)?);
        Ok(())
    }

    /// Whether the JSON entry `line` passes; a line that is not an entry never does.
    pub fn matches(&self, line: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        let Ok(head) = serde_json::from_str::<Head>(line) else {
            return false;
        };
        let is = |got: &Option<Cow<str>>, want: &Option<String>| {
            want.as_ref().is_none_or(|want| got.as_deref() == Some(want.as_str()))
        };
        let event_type = head.event_type.as_deref().or(head.event.as_deref()).unwrap_or_default();
        self.event_type.as_ref().is_none_or(|want| event_type.eq_ignore_ascii_case(want))
            && is(&head.client_id, &self.client_id)
            && is(&head.trace_id, &self.trace_id)
            && self.status.is_none_or(|s| head.status.as_deref() == Some(s.as_str()))
            && self.since.as_deref().is_none_or(|since| head.timestamp.is_some_and(|t| *t >= *since))
    }
}

/// `since` as the timestamp text it is compared with.
fn parse_since(text: &str) -> Result<String, String> {
    let text = text.trim();
    let invalid =
        || format!("invalid since {text:?}: expected epoch milliseconds or YYYY-MM-DD HH:MM:SS[.mmm] (UTC)");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: u64 = text.parse().map_err(|_| invalid())?;
        return Ok(crate::entries::format_timestamp(millis));
    }
    let with_millis = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    let without = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let parsed = time::PrimitiveDateTime::parse(text, with_millis)
        .or_else(|_| time::PrimitiveDateTime::parse(text, without))
        .map_err(|_| invalid())?;
    let millis = parsed.assume_utc().unix_timestamp_nanos() / 1_000_000;
    let millis = u64::try_from(millis).map_err(|_| invalid())?;
    Ok(crate::entries::format_timestamp(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: &str, event: &str, client: &str, trace: &str, status: &str) -> String {
        serde_json::json!({
            "timestamp": ts, "logLevel": "INFO", "traceId": trace, "accountId": "123456789012",
            "status": status, "eventType": event, "clientId": client,
        })
        .to_string()
    }

    fn write(sink: &mut TailSink, line: &str) {
        sink.write_line(format!("{line}\n").as_bytes()).unwrap();
    }

    #[test]
    fn keeps_the_last_lines_in_order_without_newlines() {
        let (mut sink, tail) = live_tail(3);
        for i in 0..5 {
            write(&mut sink, &format!("{{\"n\":{i}}}"));
        }
        let recent = tail.recent(&TailFilter::default());
        let lines: Vec<&str> = recent.iter().map(|l| &*l.line).collect();
        assert_eq!(lines, ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}"]);
        assert_eq!(recent.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn a_batch_keeps_its_last_lines_and_numbers_every_line() {
        let (mut sink, tail) = live_tail(2);
        sink.write_lines(b"{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", 4).unwrap();
        let recent = tail.recent(&TailFilter::default());
        let lines: Vec<(u64, &str)> = recent.iter().map(|l| (l.seq, &*l.line)).collect();
        assert_eq!(lines, [(3, "{\"n\":2}"), (4, "{\"n\":3}")]);
        // With a reader, every line of a batch is sent.
        let mut rx = tail.subscribe().unwrap();
        sink.write_lines(b"{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n", 3).unwrap();
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok()).map(|l| l.seq).collect();
        assert_eq!(got, [5, 6, 7]);
    }

    #[test]
    fn batches_kept_whole_still_keep_exactly_the_last_lines() {
        let (mut sink, tail) = live_tail(3);
        let seen = |tail: &LiveTail| -> Vec<(u64, String)> {
            tail.recent(&TailFilter::default()).iter().map(|l| (l.seq, l.line.to_string())).collect()
        };
        sink.write_lines(b"{\"n\":0}\n{\"n\":1}\n", 2).unwrap();
        assert_eq!(seen(&tail), [(1, "{\"n\":0}".into()), (2, "{\"n\":1}".into())]);
        sink.write_lines(b"{\"n\":2}\n{\"n\":3}\n", 2).unwrap();
        write(&mut sink, "{\"n\":4}");
        let expected: Vec<(u64, String)> = (2..5).map(|n| (n + 1, format!("{{\"n\":{n}}}"))).collect();
        assert_eq!(seen(&tail), expected, "the oldest batch dropped, the next one cut");
        sink.write_lines(b"{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n", 4).unwrap();
        let expected: Vec<(u64, String)> = (6..9).map(|n| (n + 1, format!("{{\"n\":{n}}}"))).collect();
        assert_eq!(seen(&tail), expected);
        let filtered = tail.recent(&TailFilter { client_id: Some("x".into()), ..Default::default() });
        assert!(filtered.is_empty());
    }

    #[test]
    fn subscribers_get_new_lines_and_a_lagging_one_is_told() {
        let (mut sink, tail) = live_tail(0);
        let mut rx = tail.subscribe().unwrap();
        write(&mut sink, "{\"a\":1}");
        assert_eq!(&*rx.try_recv().unwrap().line, "{\"a\":1}");
        for _ in 0..CHANNEL_CAPACITY + 10 {
            write(&mut sink, "{}");
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
        assert!(tail.recent(&TailFilter::default()).is_empty(), "capacity 0 keeps nothing");
    }

    #[test]
    fn recent_and_subscribe_has_no_gap_and_no_duplicate() {
        let (mut sink, tail) = live_tail(10);
        write(&mut sink, "{\"n\":1}");
        let (recent, rx) = tail.recent_and_subscribe();
        let mut rx = rx.unwrap();
        write(&mut sink, "{\"n\":2}");
        assert_eq!(recent.len(), 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn streams_end_when_the_sink_is_dropped() {
        let (sink, tail) = live_tail(10);
        let mut rx = tail.subscribe().unwrap();
        drop(sink);
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Closed)));
        assert!(tail.subscribe().is_none());
    }

    #[test]
    fn filters_match_each_attribute() {
        let a = entry("2024-01-02 03:04:05.678", "Publish-In", "dev-1", "t-1", "Success");
        let b = entry("2024-01-02 03:04:06.000", "Connect", "dev-2", "t-2", "Failure");
        let pass = |f: &TailFilter| [&a, &b].iter().filter(|l| f.matches(l)).count();
        assert_eq!(pass(&TailFilter::default()), 2);
        let f = TailFilter { event_type: Some("publish-in".into()), ..Default::default() };
        assert!(f.matches(&a) && !f.matches(&b));
        let f = TailFilter { client_id: Some("dev-2".into()), ..Default::default() };
        assert!(!f.matches(&a) && f.matches(&b));
        let f = TailFilter { client_id: Some("DEV-2".into()), ..Default::default() };
        assert_eq!(pass(&f), 0, "client ids match exactly");
        let f = TailFilter { trace_id: Some("t-1".into()), ..Default::default() };
        assert!(f.matches(&a) && !f.matches(&b));
        let f = TailFilter { status: Some(TailStatus::parse("FAILURE").unwrap()), ..Default::default() };
        assert!(!f.matches(&a) && f.matches(&b));
        let mut f = TailFilter::default();
        f.set_since("2024-01-02 03:04:06").unwrap();
        assert!(!f.matches(&a) && f.matches(&b));
        f.set_since("2024-01-02 03:04:05.678").unwrap();
        assert_eq!(pass(&f), 2, "since is inclusive");
        assert!(!f.matches("not json"));
        let lora = r#"{"timestamp":"2024-01-02T03:04:05.000000000Z","resource":"WirelessDevice","event":"Join","logLevel":"ERROR"}"#;
        let f = TailFilter { event_type: Some("join".into()), ..Default::default() };
        assert!(f.matches(lora) && !f.matches(&a), "a LoRaWAN entry's event is its type");
    }

    #[test]
    fn since_takes_epoch_millis_or_the_timestamp_format() {
        let mut f = TailFilter::default();
        f.set_since("1502379443476").unwrap();
        assert_eq!(f.since.as_deref(), Some("2017-08-10 15:37:23.476"));
        f.set_since("2017-08-10 15:37:23.476").unwrap();
        assert_eq!(f.since.as_deref(), Some("2017-08-10 15:37:23.476"));
        f.set_since("2017-08-10 15:37:23").unwrap();
        assert_eq!(f.since.as_deref(), Some("2017-08-10 15:37:23.000"));
        for bad in ["", "yesterday", "2017-08-10", "2017-13-10 00:00:00", "99999999999999999999999"] {
            let err = f.set_since(bad).unwrap_err();
            assert!(err.contains("expected epoch milliseconds"), "{bad}: {err}");
        }
        assert!(TailStatus::parse("ok").unwrap_err().contains("Success or Failure"));
    }
}
