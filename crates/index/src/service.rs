//! The fleet index's operations (iot-indexing.md, managing-index.md, dynamic-thing-groups.md):
//! the indexing configuration, the in-memory thing index kept current from a bounded channel of
//! [`IndexChange`]s, SearchIndex, and dynamic thing groups (their members are applied by the
//! registry, see `iotemu_registry`'s `thing_groups/dynamic.rs`).
//!
//! The index lives in memory and is rebuilt at start from what the store holds (the registry,
//! the shadows, the configuration); connectivity starts empty, as no client is connected after a
//! restart. A change is picked up by [`Index::run`] within milliseconds; a full channel sets a
//! flag that makes the worker rebuild everything, so no change is ever lost.

use crate::error::IndexError;
use crate::query::{parse, Query};
use crate::state::{
    matches, Connectivity, DocParts, IndexingConfig, ThingDoc, GROUP_INDEX, QUERY_VERSION, THING_INDEX,
};
use iotemu_core::{Clock, IndexChange, IndexFeed, Scope, TraceId};
use iotemu_logs::{DynamicGroupsFailed, EventSink, LogLevel};
use iotemu_registry::{DynamicQuery, Registry, ThingGroup, ThingGroupProperties};
use iotemu_shadow::{get_document, Shadows};
use iotemu_store::Store;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CONFIG: &str = "indexing-configuration";
/// Changes queued before the worker falls back to a full rebuild.
const CHANNEL_CAPACITY: usize = 65_536;
/// How long the worker naps between batches while changes keep coming (see [`Index::run`]).
const NAP: std::time::Duration = std::time::Duration::from_millis(1);
/// Naps after the last change (about 20 ms) before the worker waits to be woken.
const NAPS: u32 = 20;

/// The fleet index of every account and region.
pub struct Index {
    store: Arc<Store>,
    registry: Arc<Registry>,
    shadows: Arc<Shadows>,
    logs: EventSink,
    clock: Arc<dyn Clock>,
    /// The account and region of the MQTT listeners (connectivity's things).
    mqtt_scope: Scope,
    configs: RwLock<BTreeMap<Scope, IndexingConfig>>,
    pub(crate) docs: RwLock<BTreeMap<(Scope, String), ThingDoc>>,
    /// By client id (= thing name), in `mqtt_scope`.
    connectivity: RwLock<HashMap<String, Connectivity>>,
    /// The parsed queries of the dynamic groups.
    queries: RwLock<BTreeMap<(Scope, String), Query>>,
    tx: mpsc::Sender<IndexChange>,
    rx: Mutex<Option<mpsc::Receiver<IndexChange>>>,
    overflow: AtomicBool,
    /// Times the worker waited for a change to wake it (see [`Index::run`]).
    waits: AtomicU64,
}

/// The index as the registry, shadow service and broker see it.
pub struct Feed(pub Arc<Index>);

impl IndexFeed for Feed {
    fn changed(&self, change: IndexChange) {
        if self.0.tx.try_send(change).is_err() {
            self.0.overflow.store(true, Ordering::SeqCst);
        }
    }
}

/// The parts of CreateDynamicThingGroup.
pub struct NewDynamicGroup {
    pub name: String,
    pub properties: ThingGroupProperties,
    pub query_string: String,
    pub index_name: Option<String>,
    pub query_version: Option<String>,
}

/// Parses a query, as InvalidQueryException.
pub fn compile(query: &str) -> Result<Query, IndexError> {
    parse(query).map_err(|e| IndexError::InvalidQuery(e.to_string()))
}

fn check_index(name: Option<&str>) -> Result<(), IndexError> {
    match name {
        None | Some(THING_INDEX) => Ok(()),
        Some(other) => Err(IndexError::NotFound(format!("Index {other} does not exist"))),
    }
}

impl Index {
    /// The registry the index reads and the dynamic groups live in.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Loads the configurations and rebuilds the index from the store.
    pub fn load(
        store: Arc<Store>,
        registry: Arc<Registry>,
        shadows: Arc<Shadows>,
        logs: EventSink,
        clock: Arc<dyn Clock>,
        mqtt_scope: Scope,
    ) -> Result<Arc<Index>, IndexError> {
        let mut configs = BTreeMap::new();
        for doc in store.all(CONFIG)? {
            let config: IndexingConfig =
                serde_json::from_value(doc.value).map_err(|e| IndexError::Internal(e.to_string()))?;
            configs.insert(doc.scope, config);
        }
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let index = Arc::new(Index {
            store,
            registry,
            shadows,
            logs,
            clock,
            mqtt_scope,
            configs: RwLock::new(configs),
            docs: RwLock::default(),
            connectivity: RwLock::default(),
            queries: RwLock::default(),
            tx,
            rx: Mutex::new(Some(rx)),
            overflow: AtomicBool::new(false),
            waits: AtomicU64::new(0),
        });
        index.rebuild_all();
        Ok(index)
    }

    /// The feed to attach to the registry, shadow service and broker.
    pub fn feed(self: &Arc<Self>) -> Arc<dyn IndexFeed> {
        Arc::new(Feed(self.clone()))
    }

    /// Applies queued changes until `shutdown`.
    ///
    /// While changes keep coming (a connection storm sends one per connect and per disconnect),
    /// the worker naps [`NAP`] between batches instead of being woken by each send: a wake-up per
    /// change cost a task wake, a blocking-pool hand-off and back, and thread switches on the
    /// workers that serve the connections. A change after a quiet spell is applied at once.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(mut rx) = self.rx.lock().take() else { return };
        // Naps left before the worker waits to be woken by the next change.
        let mut naps = 0;
        loop {
            let mut batch = Vec::new();
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
                if batch.len() >= 1024 {
                    break;
                }
            }
            if batch.is_empty() {
                if naps > 0 {
                    naps -= 1;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(NAP) => continue,
                    }
                }
                self.waits.fetch_add(1, Ordering::Relaxed);
                let change = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    change = rx.recv() => change,
                };
                let Some(change) = change else { return };
                batch.push(change);
            }
            naps = NAPS;
            let index = self.clone();
            // The registry's locks are synchronous: apply off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                for change in batch {
                    index.apply(change);
                }
                if index.overflow.swap(false, Ordering::SeqCst) {
                    index.rebuild_all();
                }
            })
            .await;
        }
    }

    fn apply(&self, change: IndexChange) {
        match change {
            IndexChange::Thing { scope, thing } | IndexChange::Shadow { scope, thing } => {
                self.refresh_thing(&scope, &thing)
            }
            IndexChange::Connected { client_id, timestamp } => {
                let c = Connectivity { connected: true, timestamp, disconnect_reason: None };
                self.connectivity.write().insert(client_id.to_string(), c);
                self.refresh_thing(&self.mqtt_scope.clone(), &client_id);
            }
            IndexChange::Disconnected { client_id, timestamp, reason } => {
                let c = Connectivity { connected: false, timestamp, disconnect_reason: Some(reason) };
                self.connectivity.write().insert(client_id.to_string(), c);
                self.refresh_thing(&self.mqtt_scope.clone(), &client_id);
            }
            IndexChange::DynamicGroupsFailed { scope, thing, groups } => {
                self.write_failure(&scope, &thing, groups)
            }
        }
    }

    fn config(&self, scope: &Scope) -> IndexingConfig {
        self.configs.read().get(scope).cloned().unwrap_or_default()
    }

    /// Rebuilds every document and dynamic membership (start, configuration change, overflow).
    pub fn rebuild_all(&self) {
        let mut queries = BTreeMap::new();
        for (scope, group) in self.registry.dynamic_thing_groups() {
            if let Some(d) = &group.dynamic {
                if let Ok(q) = parse(&d.query_string) {
                    queries.insert((scope.clone(), group.name.clone()), q);
                }
            }
        }
        *self.queries.write() = queries;
        let mut docs = BTreeMap::new();
        // Thing indexing is OFF everywhere by default: then no thing has a document (and so no
        // dynamic membership to evaluate), and copying every thing out of the registry would only
        // slow the start down (100,000 things: most of it).
        let any_on = self.configs.read().values().any(IndexingConfig::things_on);
        let things = if any_on { self.registry.indexed_things() } else { Vec::new() };
        for (scope, thing, groups) in &things {
            let config = self.config(scope);
            if let Some(doc) = self.build_doc(scope, &config, thing, groups.clone()) {
                docs.insert((scope.clone(), thing.name.clone()), doc);
            }
        }
        *self.docs.write() = docs;
        for (scope, thing, _) in &things {
            self.evaluate_thing(scope, &thing.name);
        }
        for (scope, group) in self.registry.dynamic_thing_groups() {
            let _ = self.registry.set_dynamic_status(&scope, &group.name, "ACTIVE");
        }
    }

    fn build_doc(
        &self,
        scope: &Scope,
        config: &IndexingConfig,
        thing: &iotemu_registry::Thing,
        groups: Vec<String>,
    ) -> Option<ThingDoc> {
        if !config.things_on() {
            return None;
        }
        let now = self.clock.now_secs();
        let shadow_of = |name: Option<&str>| {
            self.shadows.get_thing_shadow(scope, &thing.name, name).ok().map(|d| get_document(&d, None, now))
        };
        let shadow = if config.shadows_on() { shadow_of(None) } else { None };
        let named = if config.named_shadows_on() {
            config
                .named_shadow_names
                .iter()
                .filter_map(|n| shadow_of(Some(n)).map(|d| (n.clone(), d)))
                .collect()
        } else {
            Vec::new()
        };
        let connectivity = (config.connectivity_on() && *scope == self.mqtt_scope)
            .then(|| self.connectivity.read().get(&thing.name).cloned())
            .flatten();
        Some(ThingDoc::build(DocParts {
            thing_name: &thing.name,
            thing_id: &thing.id,
            thing_type_name: thing.type_name.as_deref(),
            groups,
            attributes: &thing.attributes,
            shadow,
            named,
            connectivity,
        }))
    }

    /// Re-reads one thing and re-evaluates its dynamic groups.
    fn refresh_thing(&self, scope: &Scope, name: &str) {
        let key = (scope.clone(), name.to_string());
        let Some((thing, groups)) = self.registry.indexed_thing(scope, name) else {
            self.docs.write().remove(&key);
            return;
        };
        let config = self.config(scope);
        match self.build_doc(scope, &config, &thing, groups) {
            Some(doc) => {
                self.docs.write().insert(key, doc);
                self.evaluate_thing(scope, name);
            }
            None => {
                self.docs.write().remove(&key);
            }
        }
    }

    /// Makes the thing's dynamic memberships follow its document.
    fn evaluate_thing(&self, scope: &Scope, name: &str) {
        let key = (scope.clone(), name.to_string());
        let matching: BTreeSet<String> = {
            let docs = self.docs.read();
            let Some(doc) = docs.get(&key) else { return };
            let queries = self.queries.read();
            queries
                .iter()
                .filter(|((s, _), q)| s == scope && matches(q, doc))
                .map(|((_, g), _)| g.clone())
                .collect()
        };
        match self.registry.set_dynamic_memberships(scope, name, &matching) {
            Ok((groups, failed)) => {
                if let Some(doc) = self.docs.write().get_mut(&key) {
                    doc.set_groups(groups);
                }
                if let Some(failed) = failed {
                    self.write_failure(scope, name, failed.groups);
                }
            }
            Err(e) => tracing::warn!(thing = name, error = %e, "could not update dynamic memberships"),
        }
    }

    /// AddThingToDynamicThingGroupsFailed (cloudwatch-logs "Dynamic thing group log entries").
    fn write_failure(&self, scope: &Scope, thing: &str, groups: Vec<String>) {
        if !self.logs.enabled(LogLevel::Error) {
            return;
        }
        let entry = DynamicGroupsFailed { thing_name: thing.into(), dynamic_thing_group_names: groups };
        let account: Arc<str> = scope.account.as_str().into();
        self.logs.emit(entry.record(self.logs.now_millis(), account, TraceId::new()));
    }

    /// Fills a new or changed dynamic group from the index, then marks it ACTIVE.
    pub fn backfill(&self, scope: &Scope, group: &str) {
        let names: Vec<String> =
            self.docs.read().keys().filter(|(s, _)| s == scope).map(|(_, n)| n.clone()).collect();
        for name in names {
            self.evaluate_thing(scope, &name);
        }
        let _ = self.registry.set_dynamic_status(scope, group, "ACTIVE");
    }

    /// Forgets the configurations and the index (`POST /_iotemu/reset`; the store is cleared by
    /// the registry's reset).
    pub fn reset(&self) {
        self.configs.write().clear();
        self.docs.write().clear();
        self.queries.write().clear();
        self.connectivity.write().clear();
    }

    /// GetIndexingConfiguration.
    pub fn get_indexing_configuration(&self, scope: &Scope) -> IndexingConfig {
        self.config(scope)
    }

    /// UpdateIndexingConfiguration: thing indexing cannot be turned off while dynamic groups
    /// exist (dynamic-thing-groups.md); the index is rebuilt for the new configuration.
    pub fn update_indexing_configuration(
        &self,
        scope: &Scope,
        config: IndexingConfig,
    ) -> Result<(), IndexError> {
        let has_dynamic = self.registry.dynamic_thing_groups().iter().any(|(s, _)| s == scope);
        if !config.things_on() && has_dynamic {
            return Err(IndexError::InvalidRequest(
                "Thing indexing cannot be disabled while dynamic thing groups exist.".into(),
            ));
        }
        let value = serde_json::to_value(&config).map_err(|e| IndexError::Internal(e.to_string()))?;
        self.store.put(CONFIG, scope, "config", &value)?;
        self.configs.write().insert(scope.clone(), config);
        self.rebuild_all();
        Ok(())
    }

    /// ListIndices: the indexes turned on.
    pub fn list_indices(&self, scope: &Scope) -> Vec<&'static str> {
        let config = self.config(scope);
        let mut out = Vec::new();
        if config.things_on() {
            out.push(THING_INDEX);
        }
        if config.thing_group_indexing_mode == "ON" {
            out.push(GROUP_INDEX);
        }
        out
    }

    /// DescribeIndex: (status, schema) of an index that is on.
    pub fn describe_index(&self, scope: &Scope, name: &str) -> Result<(&'static str, String), IndexError> {
        let config = self.config(scope);
        match name {
            THING_INDEX if config.things_on() => {
                let mut schema = config.thing_indexing_mode.clone();
                if config.connectivity_on() {
                    schema.push_str("_AND_CONNECTIVITY_STATUS");
                }
                Ok(("ACTIVE", schema))
            }
            GROUP_INDEX if config.thing_group_indexing_mode == "ON" => Ok(("ACTIVE", "THING_GROUPS".into())),
            _ => Err(IndexError::NotFound(format!("Index {name} does not exist"))),
        }
    }

    /// The documents of `scope` matching `query`, in thing-name order (the aggregations).
    pub fn query<T>(
        &self,
        scope: &Scope,
        index_name: Option<&str>,
        query: &str,
        mut visit: impl FnMut(&ThingDoc) -> Option<T>,
    ) -> Result<Vec<T>, IndexError> {
        let mut out = Vec::new();
        self.each_match(scope, index_name, query, None, |d| {
            out.extend(visit(d));
            true
        })?;
        Ok(out)
    }

    /// Calls `visit` on the documents of `scope` matching `query` after the thing named `after`,
    /// in thing-name order, while it returns true.
    fn each_match(
        &self,
        scope: &Scope,
        index_name: Option<&str>,
        query: &str,
        after: Option<&str>,
        mut visit: impl FnMut(&ThingDoc) -> bool,
    ) -> Result<(), IndexError> {
        check_index(index_name)?;
        if !self.config(scope).things_on() {
            return Err(IndexError::NotFound("Index AWS_Things does not exist".into()));
        }
        let q = compile(query)?;
        let docs = self.docs.read();
        let start = (scope.clone(), after.unwrap_or_default().to_string());
        for ((s, name), doc) in docs.range(start..) {
            if s != scope {
                break;
            }
            if after.is_some_and(|a| name.as_str() <= a) || !matches(&q, doc) {
                continue;
            }
            if !visit(doc) {
                break;
            }
        }
        Ok(())
    }

    /// SearchIndex: up to `max_results` (1-500, default 500) things after `next_token` (the
    /// last thing name of the previous page), and the next token if more match. The scan stops
    /// at the first match beyond the page.
    pub fn search_index(
        &self,
        scope: &Scope,
        index_name: Option<&str>,
        query: &str,
        max_results: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(Vec<serde_json::Value>, Option<String>), IndexError> {
        let size = max_results.unwrap_or(500);
        if !(1..=500).contains(&size) {
            return Err(IndexError::InvalidRequest("maxResults must be between 1 and 500".into()));
        }
        let mut page = Vec::new();
        let mut more = false;
        let mut last = None;
        self.each_match(scope, index_name, query, next_token, |d| {
            if page.len() == size {
                more = true;
                return false;
            }
            last = Some(d.thing_name.clone());
            page.push(d.to_json());
            true
        })?;
        Ok((page, if more { last } else { None }))
    }

    /// CreateDynamicThingGroup: the query must parse and thing indexing be on; the group starts
    /// BUILDING ([`Index::backfill`] fills it and makes it ACTIVE).
    pub fn create_dynamic_thing_group(
        &self,
        scope: &Scope,
        new: NewDynamicGroup,
    ) -> Result<ThingGroup, IndexError> {
        check_index(new.index_name.as_deref())?;
        let query = compile(&new.query_string)?;
        if !self.config(scope).things_on() {
            return Err(IndexError::InvalidRequest(
                "Fleet indexing must be enabled (thingIndexingMode REGISTRY or REGISTRY_AND_SHADOW) to create dynamic thing groups.".into(),
            ));
        }
        let dynamic = DynamicQuery {
            query_string: new.query_string,
            index_name: THING_INDEX.into(),
            query_version: new.query_version.unwrap_or_else(|| QUERY_VERSION.into()),
            status: "BUILDING".into(),
        };
        let group = self.registry.create_dynamic_thing_group(scope, &new.name, new.properties, dynamic)?;
        self.queries.write().insert((scope.clone(), new.name), query);
        Ok(group)
    }

    /// UpdateDynamicThingGroup: a new query must parse; the group is REBUILDING until refilled.
    pub fn update_dynamic_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        properties: ThingGroupProperties,
        expected_version: Option<i64>,
        query: Option<(String, Option<String>)>,
    ) -> Result<i64, IndexError> {
        let compiled = query.as_ref().map(|(q, _)| compile(q)).transpose()?;
        let version =
            self.registry.update_dynamic_thing_group(scope, name, properties, expected_version, query)?;
        if let Some(q) = compiled {
            self.queries.write().insert((scope.clone(), name.to_string()), q);
        }
        Ok(version)
    }

    /// DeleteDynamicThingGroup.
    pub fn delete_dynamic_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), IndexError> {
        self.registry.delete_dynamic_thing_group(scope, name, expected_version)?;
        self.queries.write().remove(&(scope.clone(), name.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::SystemClock;
    use iotemu_logs::{LevelFilter, LogPipeline};
    use iotemu_registry::ca::CertAuthority;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_changes_keep_coming_the_worker_naps_instead_of_being_woken() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::in_memory().unwrap());
        let ca = Arc::new(CertAuthority::load_or_create(dir.path()).unwrap());
        let registry = Arc::new(Registry::load(store.clone(), ca).unwrap());
        let shadows = Arc::new(Shadows::load(store.clone(), Default::default()).unwrap());
        let (logs, _handle) = LogPipeline::new("123456789012", LevelFilter::Debug).start().unwrap();
        let scope = Scope::new("123456789012", "us-east-1");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let index = Index::load(store, registry, shadows, logs, clock, scope).unwrap();
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn(index.clone().run(shutdown.clone()));
        let feed = index.feed();
        // 20 connects 2 ms apart: a worker idle between them would wait for each; napping
        // (1 ms, for 20 ms after the last change) it waits for the first only.
        // A gap the host stretched past the naps' 20 ms may need a wait of its own.
        let mut last = std::time::Instant::now();
        let mut long_gaps = 0;
        for n in 0..20 {
            let client_id = format!("dev-{n}");
            feed.changed(IndexChange::Connected { client_id: client_id.as_str().into(), timestamp: 1 });
            long_gaps += u64::from(n > 0 && last.elapsed() > Duration::from_millis(15));
            while !index.connectivity.read().contains_key(&client_id) {
                tokio::time::sleep(Duration::from_micros(100)).await;
            }
            // From here to the next entry the worker naps (if it does).
            last = std::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let waits = index.waits.load(Ordering::Relaxed);
        assert!(
            waits <= 5 + long_gaps,
            "the worker waited {waits} times for 20 changes ({long_gaps} long gaps)"
        );
        shutdown.cancel();
        worker.await.unwrap();
    }
}
