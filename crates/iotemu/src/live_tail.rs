//! The live tail's admin routes, with the same filters (`eventType`, `clientId`, `traceId`,
//! `status`, `since`, `limit`; an empty value is no filter, an unknown parameter is a 400):
//! - `GET /_iotemu/logs`: the recent matching entries as JSON lines (`application/x-ndjson`),
//!   oldest first; `limit` keeps the newest N.
//! - `GET /_iotemu/logs/stream`: Server-Sent Events, one `data: <entry>` event per new matching
//!   entry (its `id` is the entry's sequence number), keep-alive comments every 15 s. With
//!   `since` or `limit`, the matching recent entries come first; with a `Last-Event-ID` header,
//!   the kept entries after that one do. A reader that falls behind gets an `event: lagged` with
//!   `{"missed": N}`. The stream ends when the emulator stops (after its last entries).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use iotemu_api::ApiError;
use iotemu_logs::{LiveTail, TailFilter, TailLine, TailStatus};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

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
}

/// The filter and `limit` of a query, or a 400 that says what is wrong.
fn parse_query(
    query: Result<Query<TailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(TailFilter, Option<usize>), ApiError> {
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
    Ok((filter, limit))
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
    let (filter, limit) = parse_query(query)?;
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
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (filter, limit) = parse_query(query)?;
    let last_id =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let (kept, receiver) = tail.recent_and_subscribe();
    let replay = match last_id {
        Some(last) => kept.into_iter().filter(|l| l.seq > last && filter.matches(&l.line)).collect(),
        None if filter.since.is_some() || limit.is_some() => {
            newest(kept.into_iter().filter(|l| filter.matches(&l.line)).collect(), limit)
        }
        None => Vec::new(),
    };
    // Without a receiver the pipeline has stopped: the replay, then the end.
    let live = stream::unfold((receiver, filter), |(receiver, filter)| async move {
        let mut rx = receiver?;
        loop {
            match rx.recv().await {
                Ok(l) if filter.matches(&l.line) => return Some((entry_event(&l), (Some(rx), filter))),
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let lagged = Event::default().event("lagged").data(format!("{{\"missed\":{n}}}"));
                    return Some((lagged, (Some(rx), filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(replay.iter().map(entry_event).collect::<Vec<_>>()).chain(live).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("keep-alive")))
}

fn entry_event(line: &TailLine) -> Event {
    Event::default().id(line.seq.to_string()).data(&*line.line)
}
