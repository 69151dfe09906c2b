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
                accepted.push((stream.to_string(), index_fields(timestamp, message)));
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
/// LoRaWAN entry (those carry `event` instead of `eventType`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryFields {
    pub timestamp: Option<String>,
    pub event_type: Option<String>,
    pub client_id: Option<String>,
    pub status: Option<String>,
    pub trace_id: Option<String>,
    pub event: Option<serde::de::IgnoredAny>,
}

impl EntryFields {
    /// The fields of `message`, or none when it is not a JSON object with them.
    pub fn of(message: &str) -> EntryFields {
        serde_json::from_str(message).unwrap_or_default()
    }
}

/// An event with its indexed fields read from the message, when it is a JSON entry.
pub fn index_fields(timestamp: i64, message: String) -> NewEvent {
    with_fields(timestamp, message, EntryFields::default(), true)
}

/// An event from `message` and its already-read `fields` (read them when `read`).
pub fn with_fields(timestamp: i64, message: String, fields: EntryFields, read: bool) -> NewEvent {
    let fields = if read { EntryFields::of(&message) } else { fields };
    NewEvent {
        timestamp,
        message,
        event_type: fields.event_type,
        client_id: fields.client_id,
        status: fields.status,
        trace_id: fields.trace_id,
    }
}
