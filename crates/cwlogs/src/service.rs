//! The `logs` operations over the [`LogStore`]: validation, AWS's limits and defaults, and the
//! pagination tokens. Shapes follow botocore's `logs` model (2014-03-28).
//!
//! Tokens are ours and opaque to clients: GetLogEvents' are `f/<id>` and `b/<id>` (AWS's look
//! alike; at the end of a stream the same token comes back, which is how the SDKs' paginators
//! stop); FilterLogEvents' is `<timestamp>/<id>` of the last event returned; the Describe
//! operations' is the last name returned.

use crate::filter::FilterPattern;
use crate::store::{Event, EventQuery, Group, LogStore, NewEvent, Stream, INDEXED_FIELDS};
use crate::LogsError;
use iotemu_api::paging::marker_page;
use iotemu_core::{Clock, Scope};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;

/// The retention values PutRetentionPolicy accepts (botocore `Days`).
pub const RETENTION_DAYS: [i64; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// How many stored events one FilterLogEvents call reads at most before it answers with what it
/// found and a `nextToken` (AWS, too, may return few or no events with a token).
const FILTER_SCAN_BUDGET: usize = 200_000;

/// The CloudWatch Logs service.
pub struct Logs {
    pub store: Arc<LogStore>,
    /// Creation and ingestion times.
    pub clock: Arc<dyn Clock>,
    /// Logs Insights queries.
    pub queries: crate::insights::Queries,
}

/// FilterLogEvents' input.
#[derive(Debug, Default, Clone)]
pub struct FilterInput {
    pub group: String,
    pub stream_names: Option<Vec<String>>,
    pub stream_prefix: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

/// DescribeLogStreams' input besides the group.
#[derive(Debug, Default, Clone)]
pub struct StreamListing {
    pub prefix: Option<String>,
    /// Order by last event time instead of by name.
    pub by_last_event: bool,
    pub descending: bool,
    pub next_token: Option<String>,
    pub limit: Option<usize>,
}

/// FilterLogEvents' output.
pub struct FilterOutput {
    pub events: Vec<Event>,
    pub searched: Vec<String>,
    pub next_token: Option<String>,
}

/// GetLogEvents' output.
pub struct GetOutput {
    pub events: Vec<Event>,
    pub forward: String,
    pub backward: String,
}

/// The group a `logGroupName` or `logGroupIdentifier` (name or ARN) names.
pub fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::InvalidParameter(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.".into(),
        )),
        (Some(name), None) => Ok(name),
        (None, Some(id)) => Ok(match id.split_once(":log-group:") {
            Some((_, rest)) => rest.trim_end_matches(":*").to_string(),
            None => id,
        }),
        (None, None) => {
            Err(LogsError::InvalidParameter("Either logGroupName or logGroupIdentifier is required".into()))
        }
    }
}

fn check_group_name(name: &str) -> Result<(), LogsError> {
    let ok = (1..=512).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        ))
    })
}

fn check_stream_name(name: &str) -> Result<(), LogsError> {
    let ok = (1..=512).contains(&name.len()) && !name.contains([':', '*']);
    ok.then_some(()).ok_or_else(|| {
        LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [^:*]*"
        ))
    })
}

/// botocore's `FilterPattern` shape: at most 1,024 characters, refused as CloudWatch Logs refuses a
/// value outside a member's constraint.
fn check_pattern_length(pattern: &str) -> Result<(), LogsError> {
    if pattern.chars().count() <= MAX_FILTER_PATTERN_CHARS {
        return Ok(());
    }
    Err(LogsError::InvalidParameter(format!(
        "1 validation error detected: Value '{pattern}' at 'filterPattern' failed to satisfy constraint: \
         Member must have length less than or equal to {MAX_FILTER_PATTERN_CHARS}"
    )))
}

/// The longest filter pattern (botocore `logs`, shape `FilterPattern`, `max`).
const MAX_FILTER_PATTERN_CHARS: usize = 1024;

fn limit(value: Option<usize>, max: usize, default: usize) -> Result<usize, LogsError> {
    let value = value.unwrap_or(default);
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{value}' at 'limit' failed to satisfy constraint: \
             Member must have value between 1 and {max}"
        )))
    }
}

fn group_not_found() -> LogsError {
    LogsError::ResourceNotFound("The specified log group does not exist.".into())
}

fn stream_not_found() -> LogsError {
    LogsError::ResourceNotFound("The specified log stream does not exist.".into())
}

impl Logs {
    pub fn new(store: Arc<LogStore>, clock: Arc<dyn Clock>) -> Self {
        Logs { store, clock, queries: Default::default() }
    }

    /// Now, in epoch milliseconds, by the service's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis() as i64
    }

    fn group(&self, scope: &Scope, name: &str) -> Result<Group, LogsError> {
        self.store.group(scope, name)?.ok_or_else(group_not_found)
    }

    /// DescribeLogGroups, by name: a `prefix`, or a `pattern` found anywhere in the name (any
    /// case), not both.
    pub fn describe_log_groups(
        &self,
        scope: &Scope,
        prefix: Option<&str>,
        pattern: Option<&str>,
        next_token: Option<&str>,
        max: Option<usize>,
    ) -> Result<(Vec<Group>, Option<String>), LogsError> {
        let max = limit(max, 50, 50)?;
        if prefix.is_some() && pattern.is_some() {
            return Err(LogsError::InvalidParameter(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.".into(),
            ));
        }
        let (prefix, pattern) = (prefix.unwrap_or(""), pattern.unwrap_or(""));
        let mut groups = self.store.groups(scope, prefix, pattern, next_token, max + 1)?;
        let next = (groups.len() > max).then(|| groups[max - 1].name.clone());
        groups.truncate(max);
        Ok((groups, next))
    }

    /// DescribeLogStreams: by name (a prefix allowed) or by last event time.
    pub fn describe_log_streams(
        &self,
        scope: &Scope,
        group: &str,
        listing: &StreamListing,
    ) -> Result<(Vec<Stream>, Option<String>), LogsError> {
        let StreamListing { prefix, by_last_event, descending, next_token, limit: max } = listing;
        let (prefix, next_token) = (prefix.as_deref(), next_token.as_deref());
        let (by_last_event, descending) = (*by_last_event, *descending);
        let max = limit(*max, 50, 50)?;
        if by_last_event && prefix.is_some() {
            return Err(LogsError::InvalidParameter(
                "Cannot order by LastEventTime with a logStreamNamePrefix.".into(),
            ));
        }
        let group = self.group(scope, group)?;
        let mut streams = self.store.streams(group.id, prefix.unwrap_or(""))?;
        if by_last_event {
            streams.sort_by_key(|s| (s.last_event, s.name.clone()));
        }
        if descending {
            streams.reverse();
        }
        marker_page(&streams, |s| &s.name, next_token, max).ok_or_else(|| {
            LogsError::InvalidParameter(format!(
                "The specified nextToken is invalid: {}",
                next_token.unwrap_or_default()
            ))
        })
    }

    /// GetLogEvents: the last `limit` events (or, `start_from_head`, the first), or the page a
    /// token points to.
    #[allow(clippy::too_many_arguments)]
    pub fn get_log_events(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        range: (Option<i64>, Option<i64>),
        next_token: Option<&str>,
        max: Option<usize>,
        start_from_head: bool,
    ) -> Result<GetOutput, LogsError> {
        let max = limit(max, 10_000, 10_000)?;
        let group = self.group(scope, group)?;
        let stream = self.store.stream(group.id, stream)?.ok_or_else(stream_not_found)?;
        let (from, backward) = match next_token {
            None => (None, !start_from_head),
            Some(token) => {
                let invalid =
                    || LogsError::InvalidParameter(format!("The specified nextToken is invalid: {token}"));
                let (direction, id) = token.split_once('/').ok_or_else(invalid)?;
                let id: i64 = id.parse().map_err(|_| invalid())?;
                match direction {
                    "f" => (Some(id), false),
                    "b" => (Some(id), true),
                    _ => return Err(invalid()),
                }
            }
        };
        let events = self.store.stream_events(stream.id, range, from, backward, max)?;
        // At an end, the token that led there comes back, so paginators stop.
        let here = from.unwrap_or(0);
        let forward = events.last().map_or(here, |e| e.id);
        let backward_id = events.first().map_or(here, |e| e.id);
        Ok(GetOutput { events, forward: format!("f/{forward}"), backward: format!("b/{backward_id}") })
    }

    /// FilterLogEvents, in (timestamp, id) order: indexed equalities of the pattern narrow the
    /// rows read; the pattern decides on each message.
    pub fn filter_log_events(&self, scope: &Scope, input: FilterInput) -> Result<FilterOutput, LogsError> {
        let max = limit(input.limit, 10_000, 10_000)?;
        if input.stream_names.is_some() && input.stream_prefix.is_some() {
            return Err(LogsError::InvalidParameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.".into(),
            ));
        }
        let pattern = input.pattern.as_deref().unwrap_or("");
        check_pattern_length(pattern)?;
        let pattern =
            FilterPattern::parse(pattern).map_err(|e| LogsError::InvalidParameter(e.to_string()))?;
        let group = self.group(scope, &input.group)?;
        let streams = self.store.streams(group.id, input.stream_prefix.as_deref().unwrap_or(""))?;
        let selected: Vec<&Stream> = match &input.stream_names {
            Some(names) => streams.iter().filter(|s| names.contains(&s.name)).collect(),
            None => streams.iter().collect(),
        };
        let filtered = input.stream_names.is_some() || input.stream_prefix.is_some();
        let after = match &input.next_token {
            None => None,
            Some(token) => {
                let invalid =
                    || LogsError::InvalidParameter(format!("The specified nextToken is invalid: {token}"));
                let (ts, id) = token.split_once('/').ok_or_else(invalid)?;
                Some((ts.parse().map_err(|_| invalid())?, id.parse().map_err(|_| invalid())?))
            }
        };
        let equalities = pattern
            .required_equalities()
            .into_iter()
            .filter_map(|(field, value)| {
                INDEXED_FIELDS.iter().find(|(f, _)| *f == field).map(|(_, column)| (*column, value))
            })
            .collect();
        let mut query = EventQuery {
            group_id: group.id,
            stream_ids: filtered.then(|| selected.iter().map(|s| s.id).collect()),
            start: input.start,
            end: input.end,
            equalities,
            after,
            limit: 2_000,
        };
        let mut events = Vec::new();
        let mut scanned = 0;
        let next_token = loop {
            let batch = self.store.events(&query)?;
            let exhausted = batch.len() < query.limit;
            for event in batch {
                scanned += 1;
                query.after = Some((event.timestamp, event.id));
                if pattern.matches(&event.message) {
                    events.push(event);
                    if events.len() == max {
                        break;
                    }
                }
            }
            let position = query.after.map(|(ts, id)| format!("{ts}/{id}"));
            if events.len() == max {
                break position;
            }
            if exhausted {
                break None;
            }
            if scanned >= FILTER_SCAN_BUDGET {
                break position;
            }
        };
        let searched = selected.iter().map(|s| s.name.clone()).collect();
        Ok(FilterOutput { events, searched, next_token })
    }

    /// CreateLogGroup (AWS's default: no retention).
    pub fn create_log_group(&self, scope: &Scope, name: &str) -> Result<(), LogsError> {
        check_group_name(name)?;
        if !self.store.create_group(scope, name, self.now_ms())? {
            return Err(LogsError::ResourceAlreadyExists("The specified log group already exists".into()));
        }
        Ok(())
    }

    /// CreateLogStream.
    pub fn create_log_stream(&self, scope: &Scope, group: &str, name: &str) -> Result<(), LogsError> {
        check_stream_name(name)?;
        let group = self.group(scope, group)?;
        if !self.store.create_stream(group.id, name, self.now_ms())? {
            return Err(LogsError::ResourceAlreadyExists("The specified log stream already exists".into()));
        }
        Ok(())
    }

    /// PutLogEvents: at most 10,000 events in chronological order. Events more than 2 hours in
    /// the future, or older than 14 days or the group's retention, are rejected (their indexes
    /// reported as CloudWatch does); the rest are stored. Returns the rejected-events info.
    pub fn put_log_events(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<RejectedEvents, LogsError> {
        if events.is_empty() || events.len() > 10_000 {
            return Err(LogsError::InvalidParameter("logEvents must hold 1 to 10,000 events".into()));
        }
        // CloudWatch's quota: 1,048,576 bytes, counting each message plus 26 bytes.
        let size: usize = events.iter().map(|(_, m)| m.len() + 26).sum();
        if size > 1_048_576 {
            return Err(LogsError::InvalidParameter(format!(
                "Upload too large: {size} bytes exceeds limit of 1048576"
            )));
        }
        if events.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(LogsError::InvalidParameter(
                "Log events in a single PutLogEvents request must be in chronological order.".into(),
            ));
        }
        let group = self.group(scope, group)?;
        self.store.stream(group.id, stream)?.ok_or_else(stream_not_found)?;
        let now = self.now_ms();
        let oldest = now - 14 * 86_400_000;
        let expired = group.retention_days.map(|d| now - d * 86_400_000);
        let newest = now + 2 * 3_600_000;
        let mut rejected = RejectedEvents::default();
        let mut accepted = Vec::new();
        for (i, (timestamp, message)) in events.into_iter().enumerate() {
            if timestamp > newest {
                rejected.too_new_start.get_or_insert(i);
            } else if expired.is_some_and(|e| timestamp < e) {
                rejected.expired_end = Some(i + 1);
            } else if timestamp < oldest {
                rejected.too_old_end = Some(i + 1);
            } else {
                accepted.push((stream, index_fields(timestamp, message)));
            }
        }
        if !accepted.is_empty() {
            self.store.append(group.id, &accepted, now)?;
        }
        Ok(rejected)
    }

    /// DeleteLogGroup.
    pub fn delete_log_group(&self, scope: &Scope, name: &str) -> Result<(), LogsError> {
        self.store.delete_group(scope, name)?.then_some(()).ok_or_else(group_not_found)
    }

    /// DeleteLogStream.
    pub fn delete_log_stream(&self, scope: &Scope, group: &str, name: &str) -> Result<(), LogsError> {
        let group = self.group(scope, group)?;
        self.store.delete_stream(group.id, name)?.then_some(()).ok_or_else(stream_not_found)
    }

    /// PutRetentionPolicy (`days` one of [`RETENTION_DAYS`]). Events the new retention expires
    /// go at once (AWS takes up to 72 hours).
    pub fn put_retention_policy(&self, scope: &Scope, group: &str, days: i64) -> Result<(), LogsError> {
        self.set_retention(scope, group, Some(days))
    }

    /// DeleteRetentionPolicy: the group's events are kept as the store's own bounds allow.
    pub fn delete_retention_policy(&self, scope: &Scope, group: &str) -> Result<(), LogsError> {
        self.set_retention(scope, group, None)
    }

    fn set_retention(&self, scope: &Scope, group: &str, days: Option<i64>) -> Result<(), LogsError> {
        if let Some(days) = days.filter(|d| !RETENTION_DAYS.contains(d)) {
            return Err(LogsError::InvalidParameter(format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: \
                 Member must satisfy enum value set: {RETENTION_DAYS:?}"
            )));
        }
        let group = self.group(scope, group)?;
        self.store.set_retention(group.id, days, self.now_ms())
    }
}

/// PutLogEvents' `rejectedLogEventsInfo` (botocore `RejectedLogEventsInfo`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RejectedEvents {
    pub too_new_start: Option<usize>,
    pub too_old_end: Option<usize>,
    pub expired_end: Option<usize>,
}

/// The fields of an entry the store reads: its timestamp, the indexed ones, and whether it is a
/// LoRaWAN entry (those carry `event` instead of `eventType`). Borrowed from the message where
/// they have no escapes.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryFields<'a> {
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub client_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub trace_id: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    pub event: Option<()>,
}

/// `Some` for any value but null: only whether `event` is there matters.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    Option::<serde::de::IgnoredAny>::deserialize(d).map(|v| v.map(|_| ()))
}

impl<'a> EntryFields<'a> {
    /// The fields copied out of the message they borrow from.
    pub fn into_owned(self) -> EntryFields<'static> {
        let owned = |f: Option<Cow<'_, str>>| f.map(|v| Cow::Owned(v.into_owned()));
        EntryFields {
            timestamp: owned(self.timestamp),
            event_type: owned(self.event_type),
            client_id: owned(self.client_id),
            status: owned(self.status),
            trace_id: owned(self.trace_id),
            event: self.event,
        }
    }

    /// The fields of `message`, or none when it is not a JSON object with them (what serde_json
    /// makes of it). The store reads every entry it keeps, so entries as iotemu writes them (top
    /// level strings without escapes) are read by [`EntryFields::scan`] in one pass without
    /// allocating; anything else goes to serde_json.
    pub fn of(message: &'a str) -> EntryFields<'a> {
        Self::scan(message).unwrap_or_else(|| serde_json::from_str(message).unwrap_or_default())
    }

    /// The fields of a JSON object whose wanted values are strings without escapes (or null),
    /// each there at most once; `None` for anything else (serde_json then decides). It does not
    /// validate what it skips: a message it reads that serde_json refuses is not JSON, and a JSON
    /// pattern never matches it, whatever its columns hold.
    fn scan(message: &'a str) -> Option<EntryFields<'a>> {
        let b = message.as_bytes();
        let mut fields = EntryFields::default();
        // The wanted keys met so far, one bit each (serde refuses a field twice, null or not).
        let mut seen = 0u8;
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            return (skip_ws(b, i + 1) == b.len()).then_some(fields);
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (key, after) = plain_string(message, i)?;
            i = skip_ws(b, after);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            let (bit, slot) = match key {
                "timestamp" => (1, Some(&mut fields.timestamp)),
                "eventType" => (2, Some(&mut fields.event_type)),
                "clientId" => (4, Some(&mut fields.client_id)),
                "status" => (8, Some(&mut fields.status)),
                "traceId" => (16, Some(&mut fields.trace_id)),
                "event" => (32, None),
                _ => (0, None),
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            let null = b[i..].starts_with(b"null");
            match slot {
                Some(_) if null => i += 4,
                Some(slot) => {
                    if b.get(i) != Some(&b'"') {
                        return None;
                    }
                    let (value, after) = plain_string(message, i)?;
                    *slot = Some(Cow::Borrowed(value));
                    i = after;
                }
                None => {
                    if bit == 32 && !null {
                        fields.event = Some(());
                    }
                    i = skip_value(b, i)?;
                }
            }
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(fields),
                _ => return None,
            }
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The string starting with the quote at `at` when it has no escape (and no control
/// character), and the index after its closing quote.
fn plain_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let start = at + 1;
    let len = b[start..].iter().position(|c| matches!(c, b'"' | b'\\') || *c < 0x20)?;
    let end = start + len;
    (b[end] == b'"').then(|| (&text[start..end], end + 1))
}

/// The index after the JSON value starting at `at` (strings, nesting and escapes followed, the
/// rest not validated).
fn skip_value(b: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    loop {
        match *b.get(i)? {
            b'"' => {
                i = skip_string(b, i)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                if depth == 0 {
                    return (i > at).then_some(i);
                }
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return (i > at).then_some(i),
            _ => i += 1,
        }
    }
}

/// The index after the string starting with the quote at `at`.
fn skip_string(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += b.get(i..)?.iter().position(|c| matches!(c, b'"' | b'\\'))?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// An event with its indexed fields read from the message, when it is a JSON entry.
pub fn index_fields(timestamp: i64, message: String) -> NewEvent<'static> {
    let fields = EntryFields::of(&message).into_owned();
    with_fields(timestamp, Cow::Owned(message), fields)
}

/// An event from `message` and its already-read `fields`.
pub fn with_fields<'a>(timestamp: i64, message: Cow<'a, str>, fields: EntryFields<'a>) -> NewEvent<'a> {
    NewEvent {
        timestamp,
        message,
        event_type: fields.event_type,
        client_id: fields.client_id,
        status: fields.status,
        trace_id: fields.trace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json alone makes of a message.
    fn by_serde(message: &str) -> EntryFields<'_> {
        serde_json::from_str(message).unwrap_or_default()
    }

    #[test]
    fn the_scan_reads_an_entry_as_serde_json_does_without_copying() {
        let entry = r#"{"timestamp":"2026-11-24 10:00:00.123","logLevel":"DEBUG","traceId":"5b3c-1","accountId":"123456789012","status":"Success","eventType":"Publish-In","protocol":"MQTT","topicName":"a/b","clientId":"dev-1","principalId":"p","sourceIp":"127.0.0.1","sourcePort":5000}"#;
        let fields = EntryFields::of(entry);
        assert_eq!(fields, by_serde(entry));
        assert_eq!(fields.client_id.as_deref(), Some("dev-1"));
        assert_eq!(fields.trace_id.as_deref(), Some("5b3c-1"));
        assert!(matches!(fields.event_type, Some(Cow::Borrowed("Publish-In"))), "borrowed, not copied");
        assert!(EntryFields::scan(entry).is_some(), "an entry as iotemu writes it needs no serde_json");
    }

    #[test]
    fn anything_unusual_reads_exactly_as_serde_json_reads_it() {
        let messages = [
            // Escapes in a wanted value, in a key, in a skipped value; nesting; arrays; spaces.
            r#"{"clientId":"a\"b","eventType":"Connect"}"#,
            r#"{"client\u0049d":"x","status":"Failure"}"#,
            r#"{"details":"say \"hi\" }","clientId":"c","nested":{"clientId":"inner","a":[1,{"b":"]"}]}}"#,
            r#" { "timestamp" : "2026-11-24 10:00:00.123" , "traceId" : null , "n" : -1.5e3 , "t" : true } "#,
            // LoRaWAN entries: `event` present, absent, or null.
            r#"{"timestamp":"2020-11-24T01:46:50.883481989Z","resource":"WirelessDevice","event":"Join"}"#,
            r#"{"event":{"nested":[1,2]},"logLevel":"ERROR"}"#,
            r#"{"event":null}"#,
            // What serde refuses gives no fields: a field twice (even after null), a wanted
            // field that is not a string, not an object, trailing text.
            r#"{"clientId":"a","clientId":"b"}"#,
            r#"{"status":null,"status":"Success"}"#,
            r#"{"event":1,"event":2}"#,
            r#"{"status":200,"clientId":"c"}"#,
            r#"["clientId","c"]"#,
            r#"{"clientId":"c"} trailing"#,
            "{\"clientId\":\"tab\there\"}",
            "not json",
            "",
            "{}",
            r#"{"a":"#,
            r#"{"clientId":"c","#,
        ];
        for message in messages {
            assert_eq!(EntryFields::of(message), by_serde(message), "{message}");
        }
    }
}
