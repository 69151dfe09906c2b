//! CloudWatch Logs Insights over the log store: StartQuery, GetQueryResults, StopQuery and
//! DescribeQueries (botocore `logs` 2014-03-28), with a subset of the query language
//! (CloudWatch Logs User Guide, "CloudWatch Logs Insights language query syntax"): `fields`,
//! `display`, `filter` (comparisons, `like`/`=~` with a regex or a substring, `in`, `and`/`or`/
//! `not`, `ispresent` and a few scalar functions), `stats` (count, count_distinct, sum, avg, min,
//! max, pct) `by` expressions and `bin(period)`, `sort`, `limit` and `parse` (glob or named-group
//! regex). Anything else is a MalformedQueryException with the position of the symbol.
//!
//! Choices where AWS is silent or where iotemu differs (docs/aws-behaviour.md, Logs Insights):
//! without `fields`, `display` or `stats` a row shows `@timestamp` and `@message`; rows come
//! newest first unless sorted; `stats` rows come in ascending order of their `by` values;
//! `pct` is the nearest-rank percentile (AWS's is approximate); a query runs on its own thread
//! and usually completes before the first GetQueryResults; iotemu keeps the last 100 queries.

mod ast;
pub mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub use ast::Query;
pub use parser::{parse, MAX_NESTING};

use crate::store::{EventQuery, LogStore};
use crate::LogsError;
use eval::{apply_to_record, Projection, Record, Source, Val};
use iotemu_core::Scope;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A query that does not compile: the message and the character offsets of the symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

impl QueryError {
    /// An error about the bytes `start..end` of `src`: "... at line L and position P" (P counts
    /// characters from the start of the line, from 0, as AWS's ANTLR-made messages do).
    pub fn at(src: &str, start: usize, end: usize, message: &str) -> QueryError {
        let start = start.min(src.len());
        let before = &src[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count();
        let to_chars = |b: usize| src[..b.min(src.len())].chars().count();
        QueryError {
            message: format!("{message} at line {line} and position {column}"),
            start: to_chars(start),
            end: to_chars(end.max(start)),
        }
    }
}

/// Queries that may run at once per account (CloudWatch Logs' quota is 30 concurrent queries).
const MAX_RUNNING: usize = 30;
/// Queries kept for GetQueryResults and DescribeQueries.
const KEPT: usize = 100;
/// Events read per store call.
const BATCH: usize = 2_000;

/// A query's status (botocore `QueryStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Complete,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "Running",
            Status::Complete => "Complete",
            Status::Failed => "Failed",
            Status::Cancelled => "Cancelled",
        }
    }
}

/// What GetQueryResults reports.
#[derive(Debug, Clone, Default)]
pub struct Statistics {
    pub records_matched: f64,
    pub records_scanned: f64,
    pub bytes_scanned: f64,
}

/// A started query and, once it has run, its results.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub id: String,
    pub query_string: String,
    pub account: String,
    pub region: String,
    pub log_group: String,
    pub create_time: i64,
    pub status: Status,
    /// Rows of (field, value).
    pub results: Vec<Vec<(String, String)>>,
    pub statistics: Statistics,
}

struct Entry {
    info: Mutex<QueryInfo>,
    cancel: AtomicBool,
}

/// The queries of the service.
#[derive(Default)]
pub struct Queries {
    entries: Mutex<VecDeque<Arc<Entry>>>,
}

/// StartQuery's input, groups resolved to names.
pub struct StartInput {
    pub groups: Vec<String>,
    pub start_time: i64,
    pub end_time: i64,
    pub query_string: String,
    pub limit: Option<usize>,
}

impl Queries {
    /// StartQuery: parses the query, checks the groups, and runs it on its own thread.
    pub fn start_query(
        &self,
        store: &Arc<LogStore>,
        scope: &Scope,
        input: StartInput,
        now: i64,
    ) -> Result<String, LogsError> {
        if input.end_time < input.start_time {
            return Err(LogsError::InvalidParameter("End time should not be before the start time".into()));
        }
        if input.query_string.chars().count() > 10_000 {
            return Err(LogsError::InvalidParameter(
                "1 validation error detected: Value at 'queryString' failed to satisfy constraint: \
                 Member must have length less than or equal to 10000"
                    .into(),
            ));
        }
        let limit = input.limit.unwrap_or(10_000);
        if !(1..=100_000).contains(&limit) {
            return Err(LogsError::InvalidParameter(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
                 Member must have value between 1 and 100000"
            )));
        }
        if input.groups.is_empty() || input.groups.len() > 50 {
            return Err(LogsError::InvalidParameter("A query names 1 to 50 log groups".into()));
        }
        let query = parse(&input.query_string).map_err(LogsError::MalformedQuery)?;
        let mut groups = Vec::new();
        for name in &input.groups {
            let group = store.group(scope, name)?.ok_or_else(|| {
                LogsError::ResourceNotFound(format!(
                    "Log group '{name}' does not exist for account ID '{}'",
                    scope.account
                ))
            })?;
            groups.push(group);
        }
        let running = self.entries.lock().iter().filter(|e| e.info.lock().status == Status::Running).count();
        if running >= MAX_RUNNING {
            return Err(LogsError::LimitExceeded(format!(
                "Account maximum query concurrency limit of [{MAX_RUNNING}] reached."
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let entry = Arc::new(Entry {
            info: Mutex::new(QueryInfo {
                id: id.clone(),
                query_string: input.query_string.clone(),
                account: scope.account.clone(),
                region: scope.region.clone(),
                log_group: input.groups[0].clone(),
                create_time: now,
                status: Status::Running,
                results: Vec::new(),
                statistics: Statistics::default(),
            }),
            cancel: AtomicBool::new(false),
        });
        {
            let mut entries = self.entries.lock();
            entries.push_back(entry.clone());
            while entries.len() > KEPT {
                match entries.iter().position(|e| e.info.lock().status != Status::Running) {
                    Some(i) => entries.remove(i),
                    None => break,
                };
            }
        }
        let store = store.clone();
        let range =
            (input.start_time.saturating_mul(1000), input.end_time.saturating_mul(1000).saturating_add(999));
        let targets: Vec<(i64, String)> =
            groups.iter().map(|g| (g.id, format!("{}:{}", scope.account, g.name))).collect();
        std::thread::Builder::new()
            .name("insights-query".into())
            .spawn(move || {
                let outcome = execute(&store, &query, &targets, range, limit, &entry.cancel);
                let mut info = entry.info.lock();
                if info.status != Status::Running {
                    return;
                }
                match outcome {
                    Ok(Some((results, statistics))) => {
                        info.results = results;
                        info.statistics = statistics;
                        info.status = Status::Complete;
                    }
                    Ok(None) => info.status = Status::Cancelled,
                    Err(e) => {
                        tracing::warn!("insights query {}: {e}", info.id);
                        info.status = Status::Failed;
                    }
                }
            })
            .map_err(|e| LogsError::ServiceUnavailable(format!("cannot start the query: {e}")))?;
        Ok(id)
    }

    fn find(&self, scope: &Scope, id: &str) -> Result<Arc<Entry>, LogsError> {
        self.entries
            .lock()
            .iter()
            .find(|e| {
                let i = e.info.lock();
                i.id == id && i.account == scope.account && i.region == scope.region
            })
            .cloned()
            .ok_or_else(|| LogsError::ResourceNotFound(format!("Query {id} does not exist")))
    }

    /// GetQueryResults: the query as it stands.
    pub fn get_query_results(&self, scope: &Scope, id: &str) -> Result<QueryInfo, LogsError> {
        Ok(self.find(scope, id)?.info.lock().clone())
    }

    /// StopQuery: `true` if the query was running and is now Cancelled.
    pub fn stop_query(&self, scope: &Scope, id: &str) -> Result<bool, LogsError> {
        let entry = self.find(scope, id)?;
        let mut info = entry.info.lock();
        if info.status != Status::Running {
            return Ok(false);
        }
        entry.cancel.store(true, Ordering::Relaxed);
        info.status = Status::Cancelled;
        Ok(true)
    }

    /// DescribeQueries: the scope's queries, newest first, maybe of one group or status.
    pub fn describe_queries(
        &self,
        scope: &Scope,
        group: Option<&str>,
        status: Option<&str>,
    ) -> Vec<QueryInfo> {
        let entries = self.entries.lock();
        entries
            .iter()
            .rev()
            .map(|e| e.info.lock().clone())
            .filter(|i| i.account == scope.account && i.region == scope.region)
            .filter(|i| group.is_none_or(|g| i.log_group == g))
            .filter(|i| status.is_none_or(|s| i.status.as_str() == s))
            .collect()
    }

    /// Forgets every query (the emulator's reset).
    pub fn clear(&self) {
        for e in self.entries.lock().drain(..) {
            e.cancel.store(true, Ordering::Relaxed);
        }
    }
}

type Outcome = Option<(Vec<Vec<(String, String)>>, Statistics)>;

/// Reads the events of `groups` in `range`, runs the record-by-record commands as they come,
/// then the rest over what they kept (newest first). `None` when stopped.
fn execute(
    store: &LogStore,
    query: &Query,
    groups: &[(i64, String)],
    range: (i64, i64),
    limit: usize,
    cancel: &AtomicBool,
) -> Result<Outcome, LogsError> {
    let split = query.commands.iter().position(|c| !eval::streams(c)).unwrap_or(query.commands.len());
    let (head, tail) = query.commands.split_at(split);
    let mut stats = Statistics::default();
    let mut rows: Vec<Record> = Vec::new();
    for (group_id, log) in groups {
        let mut q = EventQuery {
            group_id: *group_id,
            start: Some(range.0),
            end: Some(range.1),
            limit: BATCH,
            ..EventQuery::default()
        };
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let batch = store.events(&q)?;
            let done = batch.len() < BATCH;
            for event in &batch {
                q.after = Some((event.timestamp, event.id));
                stats.records_scanned += 1.0;
                stats.bytes_scanned += event.message.len() as f64;
                let mut r = eval::record(&Source {
                    id: event.id,
                    timestamp: event.timestamp,
                    ingestion: event.ingestion,
                    message: &event.message,
                    stream: &event.stream,
                    log,
                });
                if head.iter().all(|c| apply_to_record(c, &mut r)) {
                    stats.records_matched += 1.0;
                    rows.push(r);
                }
            }
            if done {
                break;
            }
        }
    }
    let time = |r: &Record| match r.get("@timestamp") {
        Some(Val::Time(t)) => *t,
        _ => 0,
    };
    rows.sort_by_key(|r| std::cmp::Reverse(time(r)));
    let rows = eval::apply_to_all(tail, rows);
    let mut projection = Projection::default();
    for c in &query.commands {
        projection.follow(c);
    }
    let columns = projection.columns();
    let results = rows
        .iter()
        .take(limit)
        .map(|r| {
            let mut row: Vec<(String, String)> =
                columns.iter().filter_map(|c| r.get(c).and_then(Val::text).map(|v| (c.clone(), v))).collect();
            if !projection.stats {
                if let Some(ptr) = r.get("@ptr").and_then(Val::text) {
                    row.push(("@ptr".into(), ptr));
                }
            }
            row
        })
        .collect();
    Ok(Some((results, stats)))
}
