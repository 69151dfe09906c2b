//! The shadow operations. Reads come from the in-memory cache, which holds committed documents
//! only; every update and deletion goes to one writer thread (group commit, `docs/architecture.md`,
//! "Persistence"): it takes every request waiting, applies them in the order they came (so a
//! thing's versions follow its requests exactly), commits all their documents in one SQLite
//! transaction, puts them in the cache, and only then answers each request. An accepted update
//! is therefore durable before anyone hears of it, and many updates share one commit.

use crate::state::{
    apply_update, check_shadow_name, check_thing_name, delete_answer, parse_request, Limits, ShadowDocument,
    UpdateOutcome,
};
use crate::ShadowError;
use iotemu_api::paging::page;
use iotemu_core::Scope;
use iotemu_store::Store;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{mpsc, Arc};

/// The store kind of shadows; the key is `<thing>\u{1}<shadow name, empty for the classic one>`.
const SHADOW: &str = "shadow";
const SEPARATOR: char = '\u{1}';
/// The most requests one group commit takes.
const MAX_BATCH: usize = 512;

/// (scope, thing name, shadow name or "" for the classic shadow).
type Key = (Scope, String, String);

/// Every shadow of every account and region, deleted ones included as tombstones.
pub struct Shadows {
    shared: Arc<Shared>,
    /// The writer's queue; the thread ends when `Shadows` is dropped.
    writer: mpsc::Sender<Job>,
}

struct Shared {
    store: Arc<Store>,
    /// Jobs queued and not yet answered.
    pending: std::sync::atomic::AtomicUsize,
    limits: Limits,
    /// Committed documents only.
    shadows: RwLock<BTreeMap<Key, ShadowDocument>>,
    /// Held by the writer for a whole batch, and by `reset`.
    writing: Mutex<()>,
}

/// A mutation waiting for the writer.
enum Change {
    Update {
        request: Map<String, Value>,
        now: u64,
    },
    Delete {
        client_token: Option<String>,
        now: u64,
    },
    /// A read queued behind mutations, so that it sees them (GetThingShadow without waiting).
    Get,
}

/// What a committed mutation answers.
enum Done {
    Update(Box<UpdateOutcome>),
    Delete(Value),
    Get(Box<ShadowDocument>),
}

struct Job {
    key: Key,
    change: Change,
    answer: Answer,
}

/// Called on the writer's thread with a job's outcome, after the commit.
type Answer = Box<dyn FnOnce(Result<Done, ShadowError>) + Send>;

/// `done`, given the outcome `pick` takes from a job's [`Done`] (an internal error if it is
/// another kind: it cannot be).
fn answer_with<T>(
    pick: impl FnOnce(Done) -> Option<T> + Send + 'static,
    done: impl FnOnce(Result<T, ShadowError>) + Send + 'static,
) -> impl FnOnce(Result<Done, ShadowError>) + Send + 'static {
    move |result| done(result.and_then(|d| pick(d).ok_or_else(ShadowError::internal)))
}

/// Runs `start` with a callback and waits for it to be called (the blocking operations).
fn wait<T: Send + 'static>(
    start: impl FnOnce(Box<dyn FnOnce(Result<T, ShadowError>) + Send>),
) -> Result<T, ShadowError> {
    let (answer, answered) = mpsc::sync_channel(1);
    start(Box::new(move |result| {
        // The requester may have gone (its thread ended): nothing to answer.
        let _ = answer.send(result);
    }));
    answered.recv().map_err(|_| ShadowError::internal())?
}

impl Shadows {
    /// Loads the shadows from `store` and starts their writer thread.
    pub fn load(store: Arc<Store>, limits: Limits) -> Result<Self, ShadowError> {
        let mut shadows = BTreeMap::new();
        for doc in store.all(SHADOW)? {
            let Some((thing, name)) = doc.key.split_once(SEPARATOR) else { continue };
            let shadow: ShadowDocument =
                serde_json::from_value(doc.value).map_err(|_| ShadowError::internal())?;
            shadows.insert((doc.scope, thing.to_string(), name.to_string()), shadow);
        }
        let shared = Arc::new(Shared {
            store,
            pending: Default::default(),
            limits,
            shadows: RwLock::new(shadows),
            writing: Mutex::new(()),
        });
        let (writer, jobs) = mpsc::channel();
        let for_writer = shared.clone();
        std::thread::Builder::new()
            .name("shadow-writer".into())
            .spawn(move || write_loop(&for_writer, &jobs))
            .map_err(|_| ShadowError::internal())?;
        Ok(Shadows { shared, writer })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The shadow `name` (`None`: the classic shadow) of `thing`; 404 if there is none or it was
    /// deleted (GetThingShadow). Render it with [`crate::get_document`].
    pub fn get_thing_shadow(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
    ) -> Result<ShadowDocument, ShadowError> {
        let key = key(scope, thing, name)?;
        match self.shared.shadows.read().get(&key) {
            Some(doc) if !doc.deleted => Ok(doc.clone()),
            _ => Err(ShadowError::not_found(name.unwrap_or(thing))),
        }
    }

    /// Applies the update request `payload` at `now` (epoch seconds), creating the shadow if
    /// needed (no registered thing is required); returns once it is committed.
    pub fn update_thing_shadow(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        payload: &[u8],
        now: u64,
    ) -> Result<UpdateOutcome, ShadowError> {
        wait(|done| self.update_thing_shadow_then(scope, thing, name, payload, now, done))
    }

    /// Deletes a shadow and returns the `/delete/accepted` payload (`{version, timestamp}`, with
    /// `client_token` if given), once committed; the version goes on at the next update. 404 if
    /// there is none.
    pub fn delete_thing_shadow(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        client_token: Option<&str>,
        now: u64,
    ) -> Result<serde_json::Value, ShadowError> {
        wait(|done| self.delete_thing_shadow_then(scope, thing, name, client_token, now, done))
    }

    /// [`Shadows::update_thing_shadow`] without waiting: `done` gets the outcome on the writer's
    /// thread once the update is committed (at once, on the caller's, if the request is invalid).
    /// Jobs are committed and answered in the order they are queued.
    pub fn update_thing_shadow_then(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        payload: &[u8],
        now: u64,
        done: impl FnOnce(Result<UpdateOutcome, ShadowError>) + Send + 'static,
    ) {
        let job = key(scope, thing, name).and_then(|key| Ok((key, parse_request(payload)?)));
        let (key, request) = match job {
            Ok(job) => job,
            Err(e) => return done(Err(e)),
        };
        let pick = |d| if let Done::Update(outcome) = d { Some(*outcome) } else { None };
        self.submit_then(key, Change::Update { request, now }, answer_with(pick, done));
    }

    /// [`Shadows::get_thing_shadow`] without waiting: at once when no update or delete is
    /// queued, otherwise behind them on the writer's thread, so that it sees them.
    pub fn get_thing_shadow_then(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        done: impl FnOnce(Result<ShadowDocument, ShadowError>) + Send + 'static,
    ) {
        if self.shared.pending.load(std::sync::atomic::Ordering::Acquire) == 0 {
            return done(self.get_thing_shadow(scope, thing, name));
        }
        let key = match key(scope, thing, name) {
            Ok(key) => key,
            Err(e) => return done(Err(e)),
        };
        let pick = |d| if let Done::Get(doc) = d { Some(*doc) } else { None };
        self.submit_then(key, Change::Get, answer_with(pick, done));
    }

    /// [`Shadows::delete_thing_shadow`] without waiting, as [`Shadows::update_thing_shadow_then`].
    pub fn delete_thing_shadow_then(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        client_token: Option<&str>,
        now: u64,
        done: impl FnOnce(Result<Value, ShadowError>) + Send + 'static,
    ) {
        let key = match key(scope, thing, name) {
            Ok(key) => key,
            Err(e) => return done(Err(e)),
        };
        let change = Change::Delete { client_token: client_token.map(str::to_owned), now };
        let pick = |d| if let Done::Delete(answer) = d { Some(answer) } else { None };
        self.submit_then(key, change, answer_with(pick, done));
    }

    /// Queues a mutation for the writer, which calls `done` after its commit.
    fn submit_then(
        &self,
        key: Key,
        change: Change,
        done: impl FnOnce(Result<Done, ShadowError>) + Send + 'static,
    ) {
        self.shared.pending.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Err(mpsc::SendError(job)) = self.writer.send(Job { key, change, answer: Box::new(done) }) {
            (job.answer)(Err(ShadowError::internal()));
        }
    }

    /// ListNamedShadowsForThing: the names of `thing`'s named shadows in order, at most
    /// `page_size` (1-100, default 100), after `next_token` (the last name of the previous
    /// page), and the token of the next page if there is one. The classic shadow is not listed;
    /// an unknown thing has none.
    pub fn list_named_shadows_for_thing(
        &self,
        scope: &Scope,
        thing: &str,
        page_size: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), ShadowError> {
        check_thing_name(thing)?;
        let size = page_size.unwrap_or(100);
        if !(1..=100).contains(&size) {
            return Err(ShadowError::invalid_page_size());
        }
        let shadows = self.shared.shadows.read();
        let names = shadows
            .iter()
            .filter(|((s, t, n), doc)| s == scope && t == thing && !n.is_empty() && !doc.deleted)
            .map(|((_, _, n), _)| n);
        let (names, next) = page(names, |n| n.as_str(), next_token, size);
        Ok((names.into_iter().cloned().collect(), next))
    }

    /// Forgets every shadow (`POST /_iotemu/reset`), in the store too.
    pub fn reset(&self) -> Result<(), ShadowError> {
        let _writing = self.shared.writing.lock();
        let mut shadows = self.shared.shadows.write();
        for (scope, thing, name) in shadows.keys() {
            self.shared.store.delete(SHADOW, scope, &store_key(thing, name))?;
        }
        shadows.clear();
        Ok(())
    }
}

/// The writer: one batch after another of every job waiting (at most [`MAX_BATCH`]).
fn write_loop(shared: &Shared, jobs: &mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(shared, &mut batch);
    }
}

/// Applies the batch's jobs in order over the committed documents, commits every document they
/// changed in one transaction, installs them in the cache, then answers each job (a failed
/// commit fails every job that changed something, and changes nothing).
fn commit_batch(shared: &Shared, batch: &mut Vec<Job>) {
    let _writing = shared.writing.lock();
    // The documents this batch changed, newest last; `order` keeps their first-change order.
    let mut changed: HashMap<Key, ShadowDocument> = HashMap::new();
    let mut order: Vec<Key> = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    {
        let committed = shared.shadows.read();
        for job in batch.iter() {
            let current = changed.get(&job.key).or_else(|| committed.get(&job.key));
            if let Change::Get = job.change {
                results.push(match current {
                    Some(doc) if !doc.deleted => Ok(Done::Get(Box::new(doc.clone()))),
                    _ => Err(not_found(&job.key)),
                });
                continue;
            }
            let result = match &job.change {
                Change::Get => unreachable!("answered above"),
                Change::Update { request, now } => apply_update(current, request, *now, &shared.limits)
                    .map(|outcome| (outcome.document.clone(), Done::Update(Box::new(outcome)))),
                Change::Delete { client_token, now } => match current {
                    Some(doc) if !doc.deleted => {
                        let version = doc.version;
                        let tombstone =
                            ShadowDocument { version, timestamp: *now, deleted: true, ..Default::default() };
                        Ok((tombstone, Done::Delete(delete_answer(version, client_token.as_deref(), *now))))
                    }
                    _ => Err(not_found(&job.key)),
                },
            };
            results.push(result.map(|(doc, done)| {
                if changed.insert(job.key.clone(), doc).is_none() {
                    order.push(job.key.clone());
                }
                done
            }));
        }
    }
    let committed = persist(shared, &order, &changed);
    if committed.is_ok() && !order.is_empty() {
        let mut shadows = shared.shadows.write();
        for key in order {
            if let Some(doc) = changed.remove(&key) {
                shadows.insert(key, doc);
            }
        }
    }
    for (job, result) in batch.drain(..).zip(results) {
        let result = match (result, &committed) {
            (Ok(_), Err(e)) => Err(e.clone()),
            (result, _) => result,
        };
        shared.pending.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        // An answer publishes and writes entries on this thread: if one panicked, the writer
        // would die with it and every later shadow request would fail; the panic ends here.
        let answer = job.answer;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || answer(result))).is_err() {
            tracing::error!("answering a shadow request panicked; the shadow writer goes on");
        }
    }
}

/// Commits the changed documents in one transaction.
fn persist(
    shared: &Shared,
    order: &[Key],
    changed: &HashMap<Key, ShadowDocument>,
) -> Result<(), ShadowError> {
    if order.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(order.len());
    for key in order {
        let doc = changed.get(key).ok_or_else(ShadowError::internal)?;
        let text = serde_json::to_string(doc).map_err(|_| ShadowError::internal())?;
        rows.push((key, store_key(&key.1, &key.2), text));
    }
    shared.store.put_many(
        SHADOW,
        rows.iter().map(|((scope, _, _), key, text)| (scope, key.as_str(), text.as_str())),
    )?;
    Ok(())
}

fn key(scope: &Scope, thing: &str, name: Option<&str>) -> Result<Key, ShadowError> {
    check_thing_name(thing)?;
    if let Some(n) = name {
        check_shadow_name(n)?;
    }
    Ok((scope.clone(), thing.to_string(), name.unwrap_or_default().to_string()))
}

/// 404 for the shadow `key` (named by its shadow name, or its thing's for the classic one).
fn not_found(key: &Key) -> ShadowError {
    ShadowError::not_found(if key.2.is_empty() { &key.1 } else { &key.2 })
}

fn store_key(thing: &str, name: &str) -> String {
    format!("{thing}{SEPARATOR}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::get_document;
    use serde_json::json;

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn shadows() -> Shadows {
        Shadows::load(Arc::new(Store::in_memory().unwrap()), Limits::default()).unwrap()
    }

    #[test]
    fn an_update_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        {
            let s = Shadows::load(Arc::new(Store::open(&path).unwrap()), Limits::default()).unwrap();
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"on": true}}}"#, 1)
                .unwrap();
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"on": false}}}"#, 2)
                .unwrap();
            s.update_thing_shadow(&scope(), "lamp", Some("cfg"), br#"{"state": {"desired": {"x": 1}}}"#, 3)
                .unwrap();
        }
        let s = Shadows::load(Arc::new(Store::open(&path).unwrap()), Limits::default()).unwrap();
        let doc = s.get_thing_shadow(&scope(), "lamp", None).unwrap();
        assert_eq!(doc.version, 2);
        assert_eq!(get_document(&doc, None, 9)["state"]["delta"], json!({"on": false}));
        assert_eq!(s.get_thing_shadow(&scope(), "lamp", Some("cfg")).unwrap().version, 1);
        let next = s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 4).unwrap();
        assert_eq!(next.document.version, 3);
    }

    #[test]
    fn requests_answered_without_waiting_come_back_in_order_and_a_get_sees_the_updates_before_it() {
        let s = shadows();
        let (tx, rx) = std::sync::mpsc::channel();
        for t in 1..=50u64 {
            let tx = tx.clone();
            let payload = format!(r#"{{"state":{{"reported":{{"n":{t}}}}}}}"#);
            s.update_thing_shadow_then(&scope(), "lamp", None, payload.as_bytes(), t, move |r| {
                let _ = tx.send(format!("update {}", r.expect("accepted").document.version));
            });
        }
        let got = tx.clone();
        s.get_thing_shadow_then(&scope(), "lamp", None, move |r| {
            let _ = got.send(format!("get {}", r.expect("found").version));
        });
        s.delete_thing_shadow_then(&scope(), "lamp", None, None, 60, move |r| {
            let _ = tx.send(format!("delete {}", r.expect("deleted")["version"]));
        });
        let answers: Vec<String> = rx.iter().take(52).collect();
        let mut expected: Vec<String> = (1..=50).map(|v| format!("update {v}")).collect();
        expected.extend(["get 50".to_string(), "delete 50".to_string()]);
        assert_eq!(answers, expected);
        // An invalid request is answered at once, on the caller's thread.
        let (tx, rx) = std::sync::mpsc::channel();
        s.update_thing_shadow_then(&scope(), "lamp", None, b"not json", 61, move |r| {
            let _ = tx.send(r.map(|_| ()).unwrap_err().code);
        });
        assert_eq!(rx.try_recv().expect("answered at once"), 400);
    }

    #[test]
    fn an_answer_that_panics_does_not_stop_the_writer() {
        let s = shadows();
        s.update_thing_shadow_then(&scope(), "lamp", None, br#"{"state":{"reported":{"on":1}}}"#, 1, |_| {
            panic!("a broken answer")
        });
        let next = s.update_thing_shadow(&scope(), "lamp", None, br#"{"state":{"reported":{"on":2}}}"#, 2);
        assert_eq!(next.expect("the writer still runs").document.version, 2);
    }

    #[test]
    fn a_deleted_shadow_is_gone_but_its_version_goes_on() {
        let s = shadows();
        for t in 1..=4 {
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"t": 1}}}"#, t)
                .unwrap();
        }
        assert_eq!(
            s.delete_thing_shadow(&scope(), "lamp", None, None, 5).unwrap(),
            json!({"version": 4, "timestamp": 5})
        );
        assert_eq!(s.get_thing_shadow(&scope(), "lamp", None).unwrap_err(), ShadowError::not_found("lamp"));
        assert_eq!(s.delete_thing_shadow(&scope(), "lamp", None, Some("c"), 6).unwrap_err().code, 404);
        let out =
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"t": 2}}}"#, 7).unwrap();
        assert_eq!(out.document.version, 5);
        assert_eq!(out.document.state(), json!({"desired": {"t": 2}}));
    }

    #[test]
    fn a_shadow_needs_no_thing_and_named_shadows_are_apart() {
        let s = shadows();
        assert_eq!(
            s.get_thing_shadow(&scope(), "nobody", None).unwrap_err().message,
            "No shadow exists with name: 'nobody'"
        );
        assert_eq!(
            s.get_thing_shadow(&scope(), "nobody", Some("cfg")).unwrap_err().message,
            "No shadow exists with name: 'cfg'"
        );
        s.update_thing_shadow(&scope(), "nobody", Some("cfg"), br#"{"state": {"reported": {"a": 1}}}"#, 1)
            .unwrap();
        assert!(s.get_thing_shadow(&scope(), "nobody", None).is_err());
        assert!(s.get_thing_shadow(&Scope::new("123456789012", "eu-west-1"), "nobody", Some("cfg")).is_err());
        assert_eq!(s.get_thing_shadow(&scope(), "nobody", Some("cfg")).unwrap().version, 1);
    }

    #[test]
    fn names_and_requests_are_checked_before_anything_is_stored() {
        let s = shadows();
        let long_thing = "t".repeat(129);
        let long_shadow = "s".repeat(65);
        let body = br#"{"state": {}}"#;
        assert_eq!(
            s.update_thing_shadow(&scope(), &long_thing, None, body, 1).unwrap_err(),
            ShadowError::invalid_thing_name()
        );
        assert_eq!(
            s.update_thing_shadow(&scope(), "lamp", Some(&long_shadow), body, 1).unwrap_err(),
            ShadowError::invalid_shadow_name()
        );
        assert_eq!(
            s.update_thing_shadow(&scope(), "lamp", None, b"nope", 1).unwrap_err(),
            ShadowError::invalid_json()
        );
        assert!(s.get_thing_shadow(&scope(), "lamp", None).is_err());
    }

    #[test]
    fn a_conflicting_update_changes_nothing() {
        let s = shadows();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"a": 1}}}"#, 1).unwrap();
        let err = s.update_thing_shadow(
            &scope(),
            "lamp",
            None,
            br#"{"state": {"desired": {"a": 2}}, "version": 7}"#,
            2,
        );
        assert_eq!(err.unwrap_err(), ShadowError::version_conflict());
        let doc = s.get_thing_shadow(&scope(), "lamp", None).unwrap();
        assert_eq!((doc.version, doc.state()), (1, json!({"desired": {"a": 1}})));
    }

    #[test]
    fn named_shadows_are_listed_in_pages() {
        let s = shadows();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 1).unwrap();
        for name in ["c", "a", "b", "d"] {
            s.update_thing_shadow(&scope(), "lamp", Some(name), br#"{"state": {}}"#, 1).unwrap();
        }
        s.update_thing_shadow(&scope(), "other", Some("z"), br#"{"state": {}}"#, 1).unwrap();
        s.delete_thing_shadow(&scope(), "lamp", Some("d"), None, 2).unwrap();
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(2), None).unwrap(),
            (vec!["a".to_string(), "b".to_string()], Some("b".to_string()))
        );
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(2), Some("b")).unwrap(),
            (vec!["c".to_string()], None)
        );
        assert_eq!(s.list_named_shadows_for_thing(&scope(), "ghost", None, None).unwrap(), (vec![], None));
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(0), None).unwrap_err(),
            ShadowError::invalid_page_size()
        );
        assert_eq!(s.list_named_shadows_for_thing(&scope(), "lamp", Some(101), None).unwrap_err().code, 400);
    }

    #[test]
    fn reset_forgets_every_shadow_in_the_store_too() {
        let store = Arc::new(Store::in_memory().unwrap());
        let s = Shadows::load(store.clone(), Limits::default()).unwrap();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 1).unwrap();
        s.reset().unwrap();
        assert!(s.get_thing_shadow(&scope(), "lamp", None).is_err());
        let again = Shadows::load(store, Limits::default()).unwrap();
        assert!(again.get_thing_shadow(&scope(), "lamp", None).is_err());
        assert_eq!(
            again
                .update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 2)
                .unwrap()
                .document
                .version,
            1
        );
    }

    #[test]
    fn limits_are_configurable() {
        let limits = Limits { max_document_bytes: 10, max_depth: 6 };
        let s = Shadows::load(Arc::new(Store::in_memory().unwrap()), limits).unwrap();
        let err =
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"abc": "defgh"}}}"#, 1);
        assert_eq!(err.unwrap_err(), ShadowError::payload_too_large());
        assert_eq!(s.limits().max_document_bytes, 10);
    }
}
