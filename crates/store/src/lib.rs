//! The embedded SQLite store (`docs/architecture.md`, "Persistence"): every service keeps its state
//! here as JSON documents, keyed by kind (`thing`, `policy`, ...), AWS account, region and name,
//! and serves reads from its own in-memory cache loaded at start. A write is committed before the
//! call returns, so an acknowledged mutation survives `kill -9` (WAL journal).
//!
//! Limitations: one connection behind a mutex; documents are whole-value upserts.

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::path::Path;

/// Where a document lives: an AWS account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Scope { account: account.into(), region: region.into() }
    }
}

/// A store failure (I/O, corruption): an internal error to the callers.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
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
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, account, region, key)
);";

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(e.to_string()))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // `iotemu certs create-device` may write while a server holds the file.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    /// A database that lives in memory only (`--ephemeral`).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    /// Inserts or replaces a document.
    pub fn put(&self, kind: &str, scope: &Scope, key: &str, value: &Value) -> Result<(), StoreError> {
        self.conn.lock().execute(
            "INSERT OR REPLACE INTO documents (kind, account, region, key, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, scope.account, scope.region, key, value.to_string()],
        )?;
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

    /// Removes every document (`POST /_iotemu/reset`).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.conn.lock().execute("DELETE FROM documents", [])?;
        Ok(())
    }
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
}
