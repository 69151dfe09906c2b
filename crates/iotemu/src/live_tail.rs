//! The live tail's admin routes, with the same filters (`eventType`, `clientId`, `traceId`,
//! `status`, `since`, `limit`; an empty value is no filter, an unknown parameter is a 400):
//! - `GET /_iotemu/logs`: the recent matching entries as JSON lines (`application/x-ndjson`),
//!   oldest first; `limit` keeps the newest N.
//! - `GET /_iotemu/logs/stream`: Server-Sent Events, one `data: <entry>` event per new matching
//!   entry (its `id` is the entry's sequence number), keep-alive comments every 15 s. The
//!   entries that arrive within 10 ms of each other go out in one write, so a busy emulator
//!   costs a reader few writes; a reader that cannot keep up loses entries, never slows the
//!   writer. With `maxRate=N` (entries a second), the entries over it are not sent and an
//!   `event: skipped` with `{"skipped": N}` says how many (the console asks for 1000). With
//!   `since` or `limit`, the matching recent entries come first; with a `Last-Event-ID` header,
//!   the kept entries after that one do. A reader that falls behind gets an `event: lagged` with
//!   `{"missed": N}`. The stream ends when the emulator stops (after its last entries).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use iotemu_api::ApiError;
use iotemu_logs::{LiveTail, TailFilter, TailLine, TailStatus};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// A comment line on an otherwise quiet stream, so proxies and readers know it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a stream lets entries gather after the first before it writes them together.
const COALESCE: Duration = Duration::from_millis(10);
/// The most a stream puts in one write (more waits for the next).
const MAX_CHUNK: usize = 256 * 1024;

/// The routes, merged into the admin router.
pub fn routes<S: Clone + Send + Sync + 'static>(tail: LiveTail) -> Router<S> {
    Router::new()
        .route("/_iotemu/logs", get(recent))
        .route("/_iotemu/logs/stream", get(stream_entries))
        .with_state(tail)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TailQuery {
    event_type: Option<String>,
    client_id: Option<String>,
    trace_id: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    /// Stream only: at most this many entries a second; the rest are counted, not sent.
    max_rate: Option<String>,
}

/// The filter and `limit` of a query, or a 400 that says what is wrong.
fn parse_query(
    query: Result<Query<TailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(TailFilter, Option<usize>, Option<u32>), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let set = |v: Option<String>| v.filter(|v| !v.is_empty());
    let mut filter = TailFilter {
        event_type: set(q.event_type),
        client_id: set(q.client_id),
        trace_id: set(q.trace_id),
        ..TailFilter::default()
    };
    if let Some(status) = set(q.status) {
        filter.status = Some(TailStatus::parse(&status).map_err(ApiError::invalid_request)?);
    }
    if let Some(since) = set(q.since) {
        filter.set_since(&since).map_err(ApiError::invalid_request)?;
    }
    let limit = match set(q.limit) {
        None => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::invalid_request(format!("invalid limit {text:?}: expected a whole number"))
        })?),
    };
    let max_rate = match set(q.max_rate) {
        None => None,
        Some(text) => Some(text.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::invalid_request(format!("invalid maxRate {text:?}: expected a whole number above 0"))
        })?),
    };
    Ok((filter, limit, max_rate))
}

/// The last `limit` lines (all without one).
fn newest(mut lines: Vec<TailLine>, limit: Option<usize>) -> Vec<TailLine> {
    if let Some(limit) = limit {
        lines.drain(..lines.len().saturating_sub(limit));
    }
    lines
}

async fn recent(
    State(tail): State<LiveTail>,
    query: Result<Query<TailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (filter, limit, _) = parse_query(query)?;
    let lines = newest(tail.recent(&filter), limit);
    let mut body = String::with_capacity(lines.iter().map(|l| l.line.len() + 1).sum());
    for l in &lines {
        body.push_str(&l.line);
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

async fn stream_entries(
    State(tail): State<LiveTail>,
    headers: HeaderMap,
    query: Result<Query<TailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let (filter, limit, max_rate) = parse_query(query)?;
    let last_id =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let (kept, receiver) = tail.recent_and_subscribe();
    let replay: Vec<TailLine> = match last_id {
        Some(last) => kept.into_iter().filter(|l| l.seq > last && filter.matches(&l.line)).collect(),
        None if filter.since.is_some() || limit.is_some() => {
            newest(kept.into_iter().filter(|l| filter.matches(&l.line)).collect(), limit)
        }
        None => Vec::new(),
    };
    let mut first = String::new();
    for line in &replay {
        push_entry(&mut first, line);
    }
    // Without a receiver the pipeline has stopped: the replay, then the end.
    let budget = max_rate.map(Budget::new);
    let live = stream::unfold(Reader { rx: receiver, filter, tail, closed: false, budget }, next_chunk);
    let body =
        stream::iter((!first.is_empty()).then(|| Bytes::from(first))).chain(live).map(Ok::<_, Infallible>);
    Ok((
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// A stream's subscription to the tail.
struct Reader {
    rx: Option<broadcast::Receiver<TailLine>>,
    filter: TailFilter,
    tail: LiveTail,
    closed: bool,
    /// `maxRate`: how many more entries this second.
    budget: Option<Budget>,
}

/// A reader's entries-per-second allowance (`maxRate`): the console asks for one, since
/// nobody reads thousands of entries a second and a browser parsing them all would compete with
/// the broker for CPU. What is over it is counted and said (`event: skipped`).
struct Budget {
    per_second: u32,
    second: tokio::time::Instant,
    left: u32,
    skipped: u64,
}

impl Budget {
    fn new(per_second: u32) -> Self {
        Budget { per_second, second: tokio::time::Instant::now(), left: per_second, skipped: 0 }
    }

    /// Whether one more entry may go now; counts it as skipped if not.
    fn allow(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.second) >= Duration::from_secs(1) {
            self.second = now;
            self.left = self.per_second;
        }
        if self.left == 0 {
            self.skipped += 1;
            return false;
        }
        self.left -= 1;
        true
    }
}

/// The next write of a stream: the matching entries that arrived within [`COALESCE`] of the
/// first one (at most [`MAX_CHUNK`] bytes), each its own SSE event, in one chunk; a
/// keep-alive comment after [`KEEP_ALIVE`] without one; `None` at the end. A reader that fell
/// behind gets an `event: lagged` with `{"missed": N}` in the same chunk and the count goes to
/// `liveTailLagged` of `/_iotemu/health`: the log writer never waits for a reader.
async fn next_chunk(mut reader: Reader) -> Option<(Bytes, Reader)> {
    if reader.closed {
        return None;
    }
    let mut chunk = String::new();
    let deadline = tokio::time::Instant::now() + KEEP_ALIVE;
    while chunk.is_empty() {
        let rx = reader.rx.as_mut()?;
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Some((Bytes::from_static(b":keep-alive\n\n"), reader)),
            Ok(received) => {
                if !take(&mut reader, received, &mut chunk) {
                    reader.closed = true;
                    break;
                }
            }
        }
    }
    if !reader.closed {
        // Let the entries of the same moment gather: one write for many under load.
        tokio::time::sleep(COALESCE).await;
        while chunk.len() < MAX_CHUNK {
            let Some(rx) = reader.rx.as_mut() else { break };
            let received = match rx.try_recv() {
                Ok(line) => Ok(line),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
            if !take(&mut reader, received, &mut chunk) {
                reader.closed = true;
                break;
            }
        }
    }
    if let Some(budget) = reader.budget.as_mut().filter(|b| b.skipped > 0 && !chunk.is_empty()) {
        use std::fmt::Write;
        let _ = write!(chunk, "event: skipped\ndata: {{\"skipped\":{}}}\n\n", budget.skipped);
        budget.skipped = 0;
    }
    if chunk.is_empty() {
        return None;
    }
    Some((Bytes::from(chunk), reader))
}

/// Adds what a receive gave to `chunk`; false when the tail has closed.
fn take(reader: &mut Reader, received: Result<TailLine, RecvError>, chunk: &mut String) -> bool {
    match received {
        Ok(line) => {
            if reader.filter.matches(&line.line) && reader.budget.as_mut().is_none_or(Budget::allow) {
                push_entry(chunk, &line);
            }
            true
        }
        Err(RecvError::Lagged(n)) => {
            reader.tail.note_lagged(n);
            chunk.push_str(&format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"));
            true
        }
        Err(RecvError::Closed) => false,
    }
}

/// One entry as an SSE event: its sequence number as the `id`, the JSON line as the `data`
/// (an entry is one line: JSON escapes its newlines).
fn push_entry(chunk: &mut String, line: &TailLine) {
    use std::fmt::Write;
    let _ = write!(chunk, "id: {}\ndata: {}\n\n", line.seq, line.line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_logs::{live_tail, LogSink};

    fn reader(tail: &LiveTail) -> Reader {
        Reader {
            rx: tail.subscribe(),
            filter: TailFilter::default(),
            tail: tail.clone(),
            closed: false,
            budget: None,
        }
    }

    #[tokio::test]
    async fn a_burst_goes_out_in_one_write_and_a_reader_that_fell_behind_is_told_and_counted() {
        let (mut sink, tail) = live_tail(8);
        let mut r = reader(&tail);
        for n in 0..100 {
            sink.write_line(format!("{{\"n\":{n}}}\n").as_bytes()).unwrap();
        }
        let (chunk, next) = next_chunk(r).await.unwrap();
        let text = std::str::from_utf8(&chunk).unwrap();
        assert_eq!(text.matches("\n\n").count(), 100);
        assert!(
            text.starts_with("id: 1\ndata: {\"n\":0}\n\n") && text.ends_with("id: 100\ndata: {\"n\":99}\n\n")
        );
        r = next;

        // The writer never waits: 5000 more lines than the reader takes, and the oldest are lost.
        for n in 0..5000 {
            sink.write_line(format!("{{\"m\":{n}}}\n").as_bytes()).unwrap();
        }
        let (chunk, _) = next_chunk(r).await.unwrap();
        let text = std::str::from_utf8(&chunk).unwrap();
        let missed = 5000 - 4096;
        assert!(
            text.starts_with(&format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n")),
            "{}",
            &text[..80]
        );
        assert_eq!(tail.lagged(), missed as u64);
        assert!(text.ends_with("data: {\"m\":4999}\n\n"));
    }

    #[tokio::test]
    async fn over_max_rate_entries_are_counted_and_said_not_sent() {
        let (mut sink, tail) = live_tail(8);
        let r = Reader { budget: Some(Budget::new(10)), ..reader(&tail) };
        for n in 0..100 {
            sink.write_line(format!("{{\"n\":{n}}}\n").as_bytes()).unwrap();
        }
        let (chunk, _) = next_chunk(r).await.unwrap();
        let text = std::str::from_utf8(&chunk).unwrap();
        assert_eq!(text.matches("\ndata: {\"n\":").count(), 10);
        assert!(
            text.ends_with("id: 10\ndata: {\"n\":9}\n\nevent: skipped\ndata: {\"skipped\":90}\n\n"),
            "{text}"
        );
        assert_eq!(tail.lagged(), 0);
    }

    #[tokio::test]
    async fn the_stream_ends_after_the_last_lines_when_the_writer_goes() {
        let (mut sink, tail) = live_tail(8);
        let r = reader(&tail);
        sink.write_line(b"{\"last\":true}\n").unwrap();
        drop(sink);
        let (chunk, r) = next_chunk(r).await.unwrap();
        assert_eq!(&chunk[..], b"id: 1\ndata: {\"last\":true}\n\n");
        assert!(next_chunk(r).await.is_none());
    }
}
