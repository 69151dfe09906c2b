//! The embedded SQLite store (`docs/architecture.md`, "Persistence"): every service keeps its state
//! here as JSON documents, keyed by kind (`thing`, `policy`, ...), AWS account, region and name,
//! and serves reads from its own in-memory cache loaded at start. A write is committed before the
//! call returns, so an acknowledged mutation survives `kill -9` (WAL journal).
//!
//! Besides documents, the store keeps ordered lists of documents (a list per key, items by
//! sequence number), for queues such as a persistent session's queued messages.
//!
//! Write-ahead-log checkpoints run on a thread of their own (passive, every 200 ms), never inside
//! a writer's commit.
//!
//! Limitations: one connection behind a mutex; documents are whole-value upserts. A service that
//! writes often may group many upserts into one transaction ([`Store::put_many`]).

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::path::Path;

/// Where a document lives: the account and region every service keys its state by (core's).
pub use iotemu_core::Scope;

/// A store failure (I/O, corruption): an internal error to the callers.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl StoreError {
    /// SQLite's "database is locked" (SQLITE_BUSY): another connection held a lock.
    fn is_busy(&self) -> bool {
        self.0.contains("database is locked")
    }
}

/// One stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub scope: Scope,
    pub key: String,
    pub value: Value,
}

/// The SQLite database.
pub struct Store {
    conn: Mutex<Connection>,
    /// Copies the write-ahead log into the database file off the writers' path (file databases).
    checkpointer: Option<Checkpointer>,
    /// The database file; `None` in memory.
    path: Option<std::path::PathBuf>,
}

/// How often the checkpointer copies committed pages from the write-ahead log into the file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// A thread with its own connection running passive checkpoints: SQLite's automatic checkpoint
/// would run inside a writer's commit, copying the log and syncing the file while every write
/// behind it waits (milliseconds, several times a second under a steady stream of updates); a
/// passive checkpoint on another connection runs beside the writers and never blocks them.
pub struct Checkpointer {
    /// Dropped to stop the thread.
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The nice value of threads that only catch up on work already acknowledged (the log store's
/// writer and its checkpointer): when the 2 cores are busy the broker's threads come first, and
/// these take what the broker leaves; the log store's spool holds what waits meanwhile. On this
/// machine that raised the DEBUG closed-loop peak by 15-30% (benches/README.md, rules).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`] (on Linux nice is per thread;
/// raising it needs no privilege). Best effort: elsewhere, or if refused, nothing changes.
pub fn run_in_background() {
    #[cfg(target_os = "linux")]
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE);
}

impl Checkpointer {
    /// Starts the thread, with its own connection to the database at `path`.
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        Checkpointer::spawn(path, "store-checkpoint", false)
    }

    /// [`Checkpointer::start`] for a store whose writer runs in the background (the log store):
    /// the thread is named `log-checkpoint` and runs at [`BACKGROUND_NICE`].
    pub fn start_in_background(path: &Path) -> Result<Checkpointer, StoreError> {
        Checkpointer::spawn(path, "log-checkpoint", true)
    }

    fn spawn(path: &Path, name: &str, background: bool) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if background {
                    run_in_background();
                }
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // Busy or failed: the next round tries again; the log only grows meanwhile.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, account, region, key)
);
CREATE TABLE IF NOT EXISTS list_items (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    list TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, account, region, list, seq)
);";

/// One item of a stored list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListItem {
    pub scope: Scope,
    pub list: String,
    pub seq: u64,
    pub value: Value,
}

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(e.to_string()))?;
        }
        // Processes opening a new file at once (concurrent `iotemu certs create-device` runs)
        // race to switch it to WAL and create the tables; SQLite answers some of those races
        // with "database is locked" without calling the busy handler: try again, briefly.
        let mut tries = 0;
        loop {
            match Self::open_once(path) {
                Err(e) if e.is_busy() && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                result => return result,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        // `iotemu certs create-device` may write while a server (or another create-device)
        // holds the file: wait for its locks from the first statement on, switching the
        // journal mode of a new file included, which otherwise fails at once as "locked".
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut store = Self::init(conn)?;
        store.path = Some(path.to_owned());
        // Checkpoints run on the checkpointer's thread, not inside commits.
        store.conn.get_mut().pragma_update(None, "wal_autocheckpoint", 0)?;
        store.checkpointer = Some(Checkpointer::start(path)?);
        Ok(store)
    }

    /// A second, read-only connection to the same file (`None` in memory), for a service that
    /// loads a large cache on another thread without holding up the others' reads and writes
    /// (WAL: readers see the last commit and never block the writer).
    pub fn reader(&self) -> Result<Option<Store>, StoreError> {
        let Some(path) = &self.path else { return Ok(None) };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Some(Store { conn: Mutex::new(conn), checkpointer: None, path: None }))
    }

    /// A database that lives in memory only (`--ephemeral`).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn), checkpointer: None, path: None })
    }

    /// Inserts or replaces a document.
    pub fn put(&self, kind: &str, scope: &Scope, key: &str, value: &Value) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "INSERT OR REPLACE INTO documents (kind, account, region, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, scope.account, scope.region, key, value.to_string()],
        )?;
        Ok(())
    }

    /// Inserts or replaces many documents of `kind` in one transaction (a group commit): all of
    /// them are committed when it returns, or none. Values are JSON text.
    pub fn put_many<'a>(
        &self,
        kind: &str,
        docs: impl IntoIterator<Item = (&'a Scope, &'a str, &'a str)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO documents (kind, account, region, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (scope, key, value) in docs {
                insert.execute(params![kind, scope.account, scope.region, key, value])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a document; true if it existed.
    pub fn delete(&self, kind: &str, scope: &Scope, key: &str) -> Result<bool, StoreError> {
        let n = self.conn.lock().execute(
            "DELETE FROM documents WHERE kind = ?1 AND account = ?2 AND region = ?3 AND key = ?4",
            params![kind, scope.account, scope.region, key],
        )?;
        Ok(n > 0)
    }

    /// One document.
    pub fn get(&self, kind: &str, scope: &Scope, key: &str) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = self
            .conn
            .lock()
            .query_row(
                "SELECT value FROM documents WHERE kind = ?1 AND account = ?2 AND region = ?3 AND key = ?4",
                params![kind, scope.account, scope.region, key],
                |row| row.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError(e.to_string()))).transpose()
    }

    /// Every document of `kind`, in every scope (to fill a cache at start).
    pub fn all(&self, kind: &str) -> Result<Vec<Document>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT account, region, key, value FROM documents WHERE kind = ?1")?;
        let rows = stmt.query_map(params![kind], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (account, region, key, value) = row?;
            let value = serde_json::from_str(&value).map_err(|e| StoreError(e.to_string()))?;
            out.push(Document { scope: Scope { account, region }, key, value });
        }
        Ok(out)
    }

    /// Every document of `kind`, each parsed straight into `T` (no intermediate [`Value`]): what
    /// the services' caches load at start, where 100,000 things must not cost a second.
    pub fn all_as<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Vec<(Scope, String, T)>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare("SELECT account, region, key, value FROM documents WHERE kind = ?1")?;
        let mut rows = stmt.query(params![kind])?;
        let mut out = Vec::new();
        // Most documents share one account and region: compare before allocating a new scope.
        let mut last: Option<Scope> = None;
        while let Some(row) = rows.next()? {
            let account = row.get_ref(0)?.as_str().map_err(|e| StoreError(e.to_string()))?;
            let region = row.get_ref(1)?.as_str().map_err(|e| StoreError(e.to_string()))?;
            let scope = match &last {
                Some(s) if s.account == account && s.region == region => s.clone(),
                _ => {
                    let s = Scope { account: account.to_string(), region: region.to_string() };
                    last = Some(s.clone());
                    s
                }
            };
            let key = row.get_ref(2)?.as_str().map_err(|e| StoreError(e.to_string()))?.to_string();
            let value = row.get_ref(3)?.as_str().map_err(|e| StoreError(e.to_string()))?;
            let value = serde_json::from_str(value).map_err(|e| StoreError(format!("{kind} {key}: {e}")))?;
            out.push((scope, key, value));
        }
        Ok(out)
    }

    /// Removes every document (`POST /_iotemu/reset`).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.conn.lock().execute("DELETE FROM documents", [])?;
        Ok(())
    }

    /// Adds (or replaces) item `seq` of the list `list`.
    pub fn list_put(
        &self,
        kind: &str,
        scope: &Scope,
        list: &str,
        seq: u64,
        value: &Value,
    ) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "INSERT OR REPLACE INTO list_items (kind, account, region, list, seq, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind, scope.account, scope.region, list, seq as i64, value.to_string()],
        )?;
        Ok(())
    }

    /// Removes item `seq` of the list `list`; true if it existed.
    pub fn list_remove(&self, kind: &str, scope: &Scope, list: &str, seq: u64) -> Result<bool, StoreError> {
        let n = self.conn.lock().execute(
            "DELETE FROM list_items WHERE kind = ?1 AND account = ?2 AND region = ?3 AND list = ?4 AND seq = ?5",
            params![kind, scope.account, scope.region, list, seq as i64],
        )?;
        Ok(n > 0)
    }

    /// Replaces the whole list `list` by `items` (sequence number, value), in one transaction;
    /// no items removes the list.
    pub fn list_replace(
        &self,
        kind: &str,
        scope: &Scope,
        list: &str,
        items: &[(u64, Value)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM list_items WHERE kind = ?1 AND account = ?2 AND region = ?3 AND list = ?4",
            params![kind, scope.account, scope.region, list],
        )?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO list_items (kind, account, region, list, seq, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (seq, value) in items {
                insert.execute(params![
                    kind,
                    scope.account,
                    scope.region,
                    list,
                    *seq as i64,
                    value.to_string()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every item of every list of `kind`, by list and then sequence number.
    pub fn list_all(&self, kind: &str) -> Result<Vec<ListItem>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn.prepare(
            "SELECT account, region, list, seq, value FROM list_items WHERE kind = ?1 ORDER BY account, region, list, seq",
        )?;
        let rows = stmt.query_map(params![kind], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (account, region, list, seq, value) = row?;
            let value = serde_json::from_str(&value).map_err(|e| StoreError(e.to_string()))?;
            out.push(ListItem { scope: Scope { account, region }, list, seq: seq as u64, value });
        }
        Ok(out)
    }

    /// Copies the write-ahead log into the database file and empties it, so that the file alone
    /// holds every committed write (at shutdown; SQLite also does this now and then by itself).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        checkpoint(&self.conn.lock())
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` on `conn`; an error when a reader kept it from completing
/// for a second (the [`Checkpointer`]'s own passive checkpoint may be running: it is waited
/// for). A database without a write-ahead log (in memory) has nothing to do.
pub fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    for _ in 0..50 {
        let done: rusqlite::Result<i64> = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        if let Ok(0) = done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(StoreError("the checkpoint was blocked by a reader".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_survive_reopening_and_are_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        let east = Scope::new("123456789012", "us-east-1");
        let west = Scope::new("123456789012", "us-west-2");
        {
            let store = Store::open(&path).unwrap();
            store.put("thing", &east, "lamp", &json!({"version": 1})).unwrap();
            store.put("thing", &east, "lamp", &json!({"version": 2})).unwrap();
            store.put("thing", &west, "fan", &json!({"version": 1})).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("thing", &east, "lamp").unwrap(), Some(json!({"version": 2})));
        assert_eq!(store.get("thing", &west, "lamp").unwrap(), None);
        assert_eq!(store.all("thing").unwrap().len(), 2);
        assert!(store.delete("thing", &east, "lamp").unwrap());
        assert!(!store.delete("thing", &east, "lamp").unwrap());
        store.clear().unwrap();
        assert!(store.all("thing").unwrap().is_empty());
    }

    #[test]
    fn many_documents_are_committed_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        let east = Scope::new("123456789012", "us-east-1");
        {
            let store = Store::open(&path).unwrap();
            store.put("shadow", &east, "a", &json!({"version": 1})).unwrap();
            let docs = [(&east, "a", r#"{"version":2}"#), (&east, "b", r#"{"version":1}"#)];
            store.put_many("shadow", docs).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get("shadow", &east, "a").unwrap(), Some(json!({"version": 2})));
        assert_eq!(store.get("shadow", &east, "b").unwrap(), Some(json!({"version": 1})));
        assert_eq!(store.all("shadow").unwrap().len(), 2);
    }

    #[test]
    fn typed_rows_come_from_a_second_reader_too() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Doc {
            version: u32,
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("iotemu.db")).unwrap();
        let east = Scope::new("123456789012", "us-east-1");
        let west = Scope::new("123456789012", "us-west-2");
        store.put("thing", &east, "lamp", &json!({"version": 2})).unwrap();
        store.put("thing", &west, "fan", &json!({"version": 1})).unwrap();
        store.put("policy", &east, "p", &json!({"version": 9})).unwrap();
        let reader = store.reader().unwrap().expect("a file has a second connection");
        let rows: Vec<(Scope, String, Doc)> = reader.all_as("thing").unwrap();
        assert_eq!(
            rows,
            vec![(east, "lamp".into(), Doc { version: 2 }), (west, "fan".into(), Doc { version: 1 })]
        );
        assert!(reader.put("thing", &Scope::new("1", "r"), "x", &json!({})).is_err(), "read-only");
        assert!(Store::in_memory().unwrap().reader().unwrap().is_none());
    }

    #[test]
    fn lists_keep_their_order_and_the_checkpoint_empties_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        let scope = Scope::new("123456789012", "us-east-1");
        let store = Store::open(&path).unwrap();
        store.list_put("queue", &scope, "dev-1", 2, &json!("b")).unwrap();
        store.list_put("queue", &scope, "dev-1", 1, &json!("a")).unwrap();
        store.list_put("queue", &scope, "dev-2", 7, &json!("z")).unwrap();
        assert!(store.list_remove("queue", &scope, "dev-2", 7).unwrap());
        assert!(!store.list_remove("queue", &scope, "dev-2", 7).unwrap());
        let items = store.list_all("queue").unwrap();
        let values: Vec<(&str, u64, &Value)> = items.iter().map(|i| (&*i.list, i.seq, &i.value)).collect();
        assert_eq!(values, [("dev-1", 1, &json!("a")), ("dev-1", 2, &json!("b"))]);
        store.list_replace("queue", &scope, "dev-1", &[(5, json!("c"))]).unwrap();
        assert_eq!(store.list_all("queue").unwrap()[0].value, json!("c"));
        store.list_replace("queue", &scope, "dev-1", &[]).unwrap();
        assert!(store.list_all("queue").unwrap().is_empty());

        store.put("thing", &scope, "lamp", &json!({"version": 1})).unwrap();
        store.checkpoint().unwrap();
        let wal = std::fs::metadata(dir.path().join("iotemu.db-wal")).map(|m| m.len()).unwrap_or(0);
        assert_eq!(wal, 0, "the checkpoint leaves nothing in the write-ahead log");
        // The database file alone, copied away from its WAL, holds the data.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let alone = Store::open(&copy).unwrap();
        assert_eq!(alone.get("thing", &scope, "lamp").unwrap(), Some(json!({"version": 1})));
        assert!(Store::in_memory().unwrap().checkpoint().is_ok());
    }
}
