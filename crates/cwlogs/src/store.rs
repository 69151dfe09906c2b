//! The SQLite store of log groups, streams and events (its own database file, `logs.db` in the
//! data directory). Writes come from the store sink's thread and from PutLogEvents; reads from
//! the `logs` API, on their own connection (WAL lets them run beside the writer).
//!
//! Four entry fields are copied into columns (`eventType`, `clientId`, `status`, `traceId`), so
//! that FilterLogEvents narrows a JSON pattern's equalities in SQL before it matches the
//! messages themselves; `clientId` (with `eventType`) is indexed, the others are compared on the
//! rows the time index yields. Each index costs the writer: three (time, client, stream) keep it
//! fast enough for the broker's usual rates (see `benches/logstore.py`).

use crate::LogsError;
use iotemu_core::Scope;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use std::borrow::Cow;
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_groups (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    retention_days INTEGER,
    UNIQUE (account, region, name)
);
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, name)
);
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    ingestion INTEGER NOT NULL,
    message TEXT NOT NULL,
    event_type TEXT,
    client_id TEXT,
    status TEXT,
    trace_id TEXT
);
CREATE INDEX IF NOT EXISTS events_by_time ON log_events (group_id, timestamp, id);
DROP INDEX IF EXISTS events_by_client;
CREATE INDEX IF NOT EXISTS events_by_client_time ON log_events (client_id, event_type, timestamp);
DROP INDEX IF EXISTS events_by_trace;
CREATE INDEX IF NOT EXISTS events_by_stream ON log_events (stream_id, id);
";

/// A log group row.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub created: i64,
    pub retention_days: Option<i64>,
    pub stored_bytes: i64,
}

/// A log stream row.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub id: i64,
    pub name: String,
    pub created: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub last_ingestion: Option<i64>,
    pub stored_bytes: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub stream: String,
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
}

/// An event to store, with its indexed fields (borrowed from the lines the store sink splits).
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    pub timestamp: i64,
    pub message: Cow<'a, str>,
    pub event_type: Option<Cow<'a, str>>,
    pub client_id: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
    pub trace_id: Option<Cow<'a, str>>,
}

/// The indexed columns, by the entry field they copy.
pub const INDEXED_FIELDS: [(&str, &str); 4] =
    [("eventType", "event_type"), ("clientId", "client_id"), ("status", "status"), ("traceId", "trace_id")];

/// Which events to read: one group, maybe some streams, a time range, indexed equalities, and
/// the position after which to continue (timestamp, id).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub group_id: i64,
    pub stream_ids: Option<Vec<i64>>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// (column, value) pairs, columns from [`INDEXED_FIELDS`].
    pub equalities: Vec<(&'static str, String)>,
    pub after: Option<(i64, i64)>,
    pub limit: usize,
}

/// The log database.
pub struct LogStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Copies the write-ahead log into `logs.db` beside the writer, not inside its commits.
    _checkpointer: iotemu_store::Checkpointer,
}

/// One event per INSERT: a multi-row INSERT needs a statement journal (SQLite copies every page
/// it changes to a temporary file in case the statement fails half-way), which cost the store a
/// third of its time (perf, `examples/logpipe.rs --store`); a prepared single-row INSERT has none.
const INSERT_EVENT: &str = "INSERT INTO log_events (group_id, stream_id, timestamp, ingestion, message,
    event_type, client_id, status, trace_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

fn db(e: rusqlite::Error) -> LogsError {
    LogsError::ServiceUnavailable(format!("log store: {e}"))
}

impl LogStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<LogStore, LogsError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| LogsError::ServiceUnavailable(e.to_string()))?;
        }
        let writer = Connection::open(path).map_err(db)?;
        // Before any statement: another process's lock is waited for, not an error.
        writer.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        writer.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        writer.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
        writer.pragma_update(None, "cache_size", -65_536).map_err(db)?;
        // Checkpoints (copying the log into the file, and syncing it) ran inside the store
        // sink's commits, a tenth of its time: they run on the checkpointer's thread instead.
        writer.pragma_update(None, "wal_autocheckpoint", 0).map_err(db)?;
        writer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(db)?;
        // One transaction: a new database is made with one sync, not one per statement.
        writer.execute_batch(&format!("BEGIN; {SCHEMA} COMMIT;")).map_err(db)?;
        let reader = Connection::open(path).map_err(db)?;
        reader.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        let checkpointer = iotemu_store::Checkpointer::start_in_background(path)
            .map_err(|e| LogsError::ServiceUnavailable(format!("log {e}")))?;
        Ok(LogStore { writer: Mutex::new(writer), reader: Mutex::new(reader), _checkpointer: checkpointer })
    }

    /// Copies the write-ahead log into the database file and empties it (at shutdown), so that
    /// `logs.db` alone holds every stored event.
    pub fn checkpoint(&self) -> Result<(), LogsError> {
        iotemu_store::checkpoint(&self.writer.lock())
            .map_err(|e| LogsError::ServiceUnavailable(format!("log {e}")))
    }

    /// The group `name`, created with `retention_days` if missing; its id.
    pub fn ensure_group(
        &self,
        scope: &Scope,
        name: &str,
        retention_days: Option<i64>,
        now: i64,
    ) -> Result<i64, LogsError> {
        let conn = self.writer.lock();
        conn.execute(
            "INSERT OR IGNORE INTO log_groups (account, region, name, created, retention_days) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![scope.account, scope.region, name, now, retention_days],
        )
        .map_err(db)?;
        conn.query_row(
            "SELECT id FROM log_groups WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![scope.account, scope.region, name],
            |r| r.get(0),
        )
        .map_err(db)
    }

    /// Creates a group; `false` if it exists.
    pub fn create_group(&self, scope: &Scope, name: &str, now: i64) -> Result<bool, LogsError> {
        let conn = self.writer.lock();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO log_groups (account, region, name, created) VALUES (?1, ?2, ?3, ?4)",
                params![scope.account, scope.region, name, now],
            )
            .map_err(db)?;
        Ok(n == 1)
    }

    /// The group `name`.
    pub fn group(&self, scope: &Scope, name: &str) -> Result<Option<Group>, LogsError> {
        let conn = self.reader.lock();
        conn.query_row(
            "SELECT g.id, g.name, g.created, g.retention_days,
                    (SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams WHERE group_id = g.id)
             FROM log_groups g WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![scope.account, scope.region, name],
            group_row,
        )
        .optional()
        .map_err(db)
    }

    /// Groups whose names start with `prefix` and contain `pattern` (any case), after `after`,
    /// by name, at most `limit`.
    pub fn groups(
        &self,
        scope: &Scope,
        prefix: &str,
        pattern: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Group>, LogsError> {
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare(
                "SELECT g.id, g.name, g.created, g.retention_days,
                        (SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams WHERE group_id = g.id)
                 FROM log_groups g WHERE account = ?1 AND region = ?2 AND substr(name, 1, length(?3)) = ?3
                 AND name > ?4 AND instr(lower(name), lower(?6)) > 0 ORDER BY name LIMIT ?5",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map(
                params![scope.account, scope.region, prefix, after.unwrap_or(""), limit as i64, pattern],
                group_row,
            )
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    /// Deletes a group with its streams and events; `false` if it did not exist.
    pub fn delete_group(&self, scope: &Scope, name: &str) -> Result<bool, LogsError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(db)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM log_groups WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![scope.account, scope.region, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(id) = id else { return Ok(false) };
        tx.execute("DELETE FROM log_events WHERE group_id = ?1", [id]).map_err(db)?;
        tx.execute("DELETE FROM log_streams WHERE group_id = ?1", [id]).map_err(db)?;
        tx.execute("DELETE FROM log_groups WHERE id = ?1", [id]).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// Sets (or, with `None`, removes) a group's retention, and removes the events it expires.
    pub fn set_retention(&self, group_id: i64, days: Option<i64>, now: i64) -> Result<(), LogsError> {
        let conn = self.writer.lock();
        conn.execute("UPDATE log_groups SET retention_days = ?2 WHERE id = ?1", params![group_id, days])
            .map_err(db)?;
        if let Some(days) = days {
            conn.execute(
                "DELETE FROM log_events WHERE group_id = ?1 AND timestamp < ?2",
                params![group_id, now - days * 86_400_000],
            )
            .map_err(db)?;
        }
        Ok(())
    }

    /// Creates a stream; `false` if it exists.
    pub fn create_stream(&self, group_id: i64, name: &str, now: i64) -> Result<bool, LogsError> {
        let conn = self.writer.lock();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO log_streams (group_id, name, created) VALUES (?1, ?2, ?3)",
                params![group_id, name, now],
            )
            .map_err(db)?;
        Ok(n == 1)
    }

    /// The stream `name` of a group.
    pub fn stream(&self, group_id: i64, name: &str) -> Result<Option<Stream>, LogsError> {
        let conn = self.reader.lock();
        conn.query_row(
            "SELECT id, name, created, first_event, last_event, last_ingestion, stored_bytes
             FROM log_streams WHERE group_id = ?1 AND name = ?2",
            params![group_id, name],
            stream_row,
        )
        .optional()
        .map_err(db)
    }

    /// Every stream of a group whose name starts with `prefix`.
    pub fn streams(&self, group_id: i64, prefix: &str) -> Result<Vec<Stream>, LogsError> {
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, created, first_event, last_event, last_ingestion, stored_bytes
                 FROM log_streams WHERE group_id = ?1 AND substr(name, 1, length(?2)) = ?2 ORDER BY name",
            )
            .map_err(db)?;
        let rows = stmt.query_map(params![group_id, prefix], stream_row).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    /// Deletes a stream and its events; `false` if it did not exist.
    pub fn delete_stream(&self, group_id: i64, name: &str) -> Result<bool, LogsError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(db)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM log_streams WHERE group_id = ?1 AND name = ?2",
                params![group_id, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(id) = id else { return Ok(false) };
        tx.execute("DELETE FROM log_events WHERE stream_id = ?1", [id]).map_err(db)?;
        tx.execute("DELETE FROM log_streams WHERE id = ?1", [id]).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// Appends events to streams of one group in one transaction (creating the streams), and
    /// updates the streams' figures. `events` holds (stream name, event) pairs.
    pub fn append<S: AsRef<str>>(
        &self,
        group_id: i64,
        events: &[(S, NewEvent<'_>)],
        ingestion: i64,
    ) -> Result<(), LogsError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(db)?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM log_groups WHERE id = ?1", [group_id], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if exists.is_none() {
            return Err(LogsError::ResourceNotFound("The specified log group does not exist.".into()));
        }
        {
            let mut stream_ids = std::collections::HashMap::<&str, i64>::new();
            let mut create = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO log_streams (group_id, name, created) VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?;
            let mut find = tx
                .prepare_cached("SELECT id FROM log_streams WHERE group_id = ?1 AND name = ?2")
                .map_err(db)?;
            let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(db)?;
            let mut figures = tx
                .prepare_cached(
                    "UPDATE log_streams SET first_event = MIN(COALESCE(first_event, ?2), ?2),
                     last_event = MAX(COALESCE(last_event, ?3), ?3), last_ingestion = ?4,
                     stored_bytes = stored_bytes + ?5 WHERE id = ?1",
                )
                .map_err(db)?;
            let mut per_stream = std::collections::HashMap::<i64, (i64, i64, i64)>::new();
            let mut rows: Vec<(i64, &NewEvent)> = Vec::with_capacity(events.len());
            for (stream, e) in events {
                let stream = stream.as_ref();
                let stream_id = match stream_ids.get(stream) {
                    Some(id) => *id,
                    None => {
                        create.execute(params![group_id, stream, ingestion]).map_err(db)?;
                        let id: i64 = find.query_row(params![group_id, stream], |r| r.get(0)).map_err(db)?;
                        stream_ids.insert(stream, id);
                        id
                    }
                };
                rows.push((stream_id, e));
                let f = per_stream.entry(stream_id).or_insert((e.timestamp, e.timestamp, 0));
                f.0 = f.0.min(e.timestamp);
                f.1 = f.1.max(e.timestamp);
                f.2 += e.message.len() as i64;
            }
            for (stream_id, e) in rows {
                insert
                    .execute(params![
                        group_id,
                        stream_id,
                        e.timestamp,
                        ingestion,
                        e.message,
                        e.event_type,
                        e.client_id,
                        e.status,
                        e.trace_id
                    ])
                    .map_err(db)?;
            }
            for (stream_id, (first, last, bytes)) in per_stream {
                figures.execute(params![stream_id, first, last, ingestion, bytes]).map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    /// Events of `query`, ordered by (timestamp, id).
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>, LogsError> {
        // With a client id, its index finds the few rows at once; left to itself, SQLite prefers
        // the time index (no sort for ORDER BY ... LIMIT) and reads the whole group.
        let by_client = query.equalities.iter().any(|(column, _)| *column == "client_id");
        // (client_id, event_type, timestamp, id): with both equalities the rows come in the
        // order asked, and LIMIT stops the read at the page's end.
        let index = if by_client { "INDEXED BY events_by_client_time" } else { "" };
        let mut sql = format!(
            "SELECT e.id, s.name, e.timestamp, e.ingestion, e.message FROM log_events e {index}
             JOIN log_streams s ON s.id = e.stream_id WHERE e.group_id = ?"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![query.group_id.into()];
        if let Some(ids) = &query.stream_ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(" AND e.stream_id IN ({})", vec!["?"; ids.len()].join(",")));
            args.extend(ids.iter().map(|&i| i.into()));
        }
        if let Some(start) = query.start {
            sql.push_str(" AND e.timestamp >= ?");
            args.push(start.into());
        }
        if let Some(end) = query.end {
            sql.push_str(" AND e.timestamp <= ?");
            args.push(end.into());
        }
        for (column, value) in &query.equalities {
            sql.push_str(&format!(" AND e.{column} = ?"));
            args.push(value.clone().into());
        }
        if let Some((ts, id)) = query.after {
            sql.push_str(" AND (e.timestamp > ? OR (e.timestamp = ? AND e.id > ?))");
            args.extend([ts.into(), ts.into(), id.into()]);
        }
        sql.push_str(" ORDER BY e.timestamp, e.id LIMIT ?");
        args.push((query.limit as i64).into());
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), event_row).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)
    }

    /// Events of one stream by id: after `after` (ascending) or, with `backward`, before it
    /// (the last `limit` ones, returned ascending), within the time range.
    pub fn stream_events(
        &self,
        stream_id: i64,
        range: (Option<i64>, Option<i64>),
        from: Option<i64>,
        backward: bool,
        limit: usize,
    ) -> Result<Vec<Event>, LogsError> {
        let (cmp, order) = if backward { ("<", "DESC") } else { (">", "ASC") };
        let sql = format!(
            "SELECT e.id, s.name, e.timestamp, e.ingestion, e.message FROM log_events e
             JOIN log_streams s ON s.id = e.stream_id
             WHERE e.stream_id = ?1 AND e.id {cmp} ?2 AND e.timestamp >= ?3 AND e.timestamp <= ?4
             ORDER BY e.id {order} LIMIT ?5"
        );
        let from = from.unwrap_or(if backward { i64::MAX } else { 0 });
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
        let rows = stmt
            .query_map(
                params![
                    stream_id,
                    from,
                    range.0.unwrap_or(i64::MIN),
                    range.1.unwrap_or(i64::MAX),
                    limit as i64
                ],
                event_row,
            )
            .map_err(db)?;
        let mut events: Vec<Event> = rows.collect::<Result<_, _>>().map_err(db)?;
        if backward {
            events.reverse();
        }
        Ok(events)
    }

    /// Applies retention: events older than their group's retention (through the time index),
    /// then the oldest events beyond `max_events` in all (by id, so that a range delete does it).
    /// Returns how many were removed.
    pub fn prune(&self, now: i64, max_events: u64) -> Result<usize, LogsError> {
        let conn = self.writer.lock();
        let mut removed = 0;
        let groups: Vec<(i64, i64)> = {
            let mut stmt = conn
                .prepare("SELECT id, retention_days FROM log_groups WHERE retention_days IS NOT NULL")
                .map_err(db)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)?
        };
        for (group_id, days) in groups {
            removed += conn
                .execute(
                    "DELETE FROM log_events WHERE group_id = ?1 AND timestamp < ?2",
                    params![group_id, now - days * 86_400_000],
                )
                .map_err(db)?;
        }
        let (min, max): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT MIN(id), MAX(id) FROM log_events", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        if let (Some(min), Some(max)) = (min, max) {
            // Ids only grow, so the newest `max_events` have ids above `max - max_events`; gaps
            // (deleted streams) can only leave fewer than `max_events` behind, never more.
            let keep_from = max - max_events as i64 + 1;
            if keep_from > min {
                removed += conn.execute("DELETE FROM log_events WHERE id < ?1", [keep_from]).map_err(db)?;
            }
        }
        Ok(removed)
    }

    /// How many events are stored.
    pub fn count(&self) -> Result<u64, LogsError> {
        let conn = self.reader.lock();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM log_events", [], |r| r.get(0)).map_err(db)?;
        Ok(n as u64)
    }

    /// Forgets every group, stream and event (`POST /_iotemu/reset`).
    pub fn clear(&self) -> Result<(), LogsError> {
        let conn = self.writer.lock();
        conn.execute_batch("DELETE FROM log_events; DELETE FROM log_streams; DELETE FROM log_groups;")
            .map_err(db)
    }
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        retention_days: r.get(3)?,
        stored_bytes: r.get(4)?,
    })
}

/// An event from `SELECT e.id, s.name, e.timestamp, e.ingestion, e.message`.
fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        stream: r.get(1)?,
        timestamp: r.get(2)?,
        ingestion: r.get(3)?,
        message: r.get(4)?,
    })
}

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stream> {
    Ok(Stream {
        id: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        first_event: r.get(3)?,
        last_event: r.get(4)?,
        last_ingestion: r.get(5)?,
        stored_bytes: r.get(6)?,
    })
}
