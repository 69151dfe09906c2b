//! The Jobs service: jobs, executions and templates kept in memory and written through to the
//! SQLite store before an operation returns (`docs/architecture.md`, "Persistence"), so a restart in the
//! middle of a job loses no execution state. Every change to executions goes through a
//! [`Txn`] (`txn.rs`), which afterwards checks the touched jobs (abort, completion and its
//! ReportFinalJobExecutionCount entry) and works out the `jobs/notify` and `jobs/notify-next`
//! messages of the touched things. The operations are in each area's `service.rs`.
//!
//! Time comes from an injectable [`Clock`]; a "minute" of the timers and of the rollout rate
//! lasts `minute_ms` (60 000 unless a test shortens it with `[jobs] minute_seconds`).

use crate::executions::state::Execution;
use crate::jobs::state::Job;
use crate::state::{arn_resource, State};
use crate::templates::state::JobTemplate;
use crate::txn::Txn;
use crate::JobsError;
use iotemu_core::{Clock, OutboundMessage, Publisher, Scope};
use iotemu_logs::EventSink;
use iotemu_store::Store;
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) const JOB: &str = "job";
pub(crate) const EXECUTION: &str = "job-execution";
pub(crate) const TEMPLATE: &str = "job-template";
const SEPARATOR: char = '\u{1}';

/// Where the jobs find their targets: things and the things of thing groups (the registry).
pub trait Targets: Send + Sync + 'static {
    fn thing_exists(&self, scope: &Scope, thing: &str) -> bool;
    /// The things of `group` and of all its descendants, each once; `None` if no such group.
    fn group_things(&self, scope: &Scope, group: &str) -> Option<Vec<String>>;
}

impl Targets for iotemu_registry::Registry {
    fn thing_exists(&self, scope: &Scope, thing: &str) -> bool {
        self.describe_thing(scope, thing).is_ok()
    }

    fn group_things(&self, scope: &Scope, group: &str) -> Option<Vec<String>> {
        let mut page = iotemu_registry::Page { max_results: Some(250), next_token: None };
        let mut out = Vec::new();
        loop {
            let (things, next) = self.list_things_in_thing_group(scope, group, true, &page).ok()?;
            out.extend(things);
            match next {
                Some(token) => page.next_token = Some(token),
                None => return Some(out),
            }
        }
    }
}

/// The Jobs service.
pub struct Jobs {
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) targets: Arc<dyn Targets>,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) logs: EventSink,
    pub(crate) minute_ms: u64,
    pub(crate) state: Mutex<State>,
    /// Where jobs events go (`events.rs`), once wired.
    pub(crate) events: std::sync::OnceLock<Arc<dyn iotemu_core::ResourceEvents>>,
    /// Where `documentSource` is fetched from and presigned URLs point (`s3.rs`).
    pub(crate) aws: iotemu_awsclient::AwsServicesConfig,
    pub(crate) http: reqwest::Client,
}

pub(crate) fn exec_store_key(thing: &str, job: &str) -> String {
    format!("{thing}{SEPARATOR}{job}")
}

impl Jobs {
    /// Loads the jobs, executions and templates from `store`.
    pub fn load(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        targets: Arc<dyn Targets>,
        publisher: Arc<dyn Publisher>,
        logs: EventSink,
        minute_ms: u64,
    ) -> Result<Self, JobsError> {
        let bad = |e: serde_json::Error| JobsError::Internal(e.to_string());
        let mut state = State::default();
        for doc in store.all(JOB)? {
            let job: Job = serde_json::from_value(doc.value).map_err(bad)?;
            state.jobs.insert((doc.scope, doc.key), job);
        }
        for doc in store.all(EXECUTION)? {
            let exec: Execution = serde_json::from_value(doc.value).map_err(bad)?;
            state.seq = state.seq.max(exec.seq);
            state.executions.insert((doc.scope, exec.thing_name.clone(), exec.job_id.clone()), exec);
        }
        for doc in store.all(TEMPLATE)? {
            let template: JobTemplate = serde_json::from_value(doc.value).map_err(bad)?;
            state.templates.insert((doc.scope, doc.key), template);
        }
        Ok(Jobs {
            store,
            clock,
            targets,
            publisher,
            logs,
            minute_ms: minute_ms.max(1),
            state: Mutex::new(state),
            events: std::sync::OnceLock::new(),
            aws: Default::default(),
            http: reqwest::Client::new(),
        })
    }

    /// Sets the `[aws_services]` the jobs reach S3 through (`documentSource`, presigned URLs).
    pub fn with_aws_services(mut self, aws: iotemu_awsclient::AwsServicesConfig) -> Self {
        self.aws = aws;
        self
    }

    /// Runs `f` on the state as one change, then publishes its notifications.
    pub(crate) fn change<T, E: From<JobsError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let (out, messages) = self.change_quietly(f)?;
        self.publish(messages);
        Ok(out)
    }

    /// As [`Jobs::change`], handing the notifications back (a device's answer goes first).
    pub(crate) fn change_quietly<T, E: From<JobsError>>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<(T, Vec<OutboundMessage>), E> {
        let now = self.clock.now_millis();
        let mut state = self.state.lock();
        let mut txn = Txn::new(&mut state, self, now);
        let out = f(&mut txn)?;
        let messages = txn.finish()?;
        Ok((out, messages))
    }

    /// Publishes notifications to their subscribers.
    pub fn publish(&self, messages: Vec<OutboundMessage>) {
        let source = crate::service_source();
        for message in messages {
            if let Err(e) = self.publisher.deliver(&source, message) {
                tracing::warn!(error = %e, "a jobs notification could not be published");
            }
        }
    }

    /// Now, by the service's clock (epoch ms).
    pub fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// How long a timer "minute" lasts, in milliseconds.
    pub fn minute_ms(&self) -> u64 {
        self.minute_ms
    }

    /// The things a job's targets name, each once, in order: things first as given, then the
    /// things of each group and its descendants.
    pub(crate) fn resolve_targets(
        &self,
        scope: &Scope,
        targets: &[String],
    ) -> Result<Vec<String>, JobsError> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for arn in targets {
            let things = match arn_resource(arn) {
                Some(("thing", name)) if self.targets.thing_exists(scope, name) => vec![name.to_string()],
                Some(("thing", name)) => {
                    return Err(JobsError::NotFound(format!("Thing {name} cannot be found.")));
                }
                Some(("thinggroup", name)) => self
                    .targets
                    .group_things(scope, name)
                    .ok_or_else(|| JobsError::NotFound(format!("Thing group {name} cannot be found.")))?,
                _ => {
                    return Err(JobsError::InvalidRequest(format!(
                        "Target {arn} is not the ARN of a thing or a thing group"
                    )));
                }
            };
            for thing in things {
                if seen.insert(thing.clone()) {
                    out.push(thing);
                }
            }
        }
        Ok(out)
    }

    /// Forgets every job, execution and template (`POST /_iotemu/reset`), in the store too.
    pub fn reset(&self) -> Result<(), JobsError> {
        let mut state = self.state.lock();
        for (scope, id) in state.jobs.keys() {
            self.store.delete(JOB, scope, id)?;
        }
        for (scope, thing, job) in state.executions.keys() {
            self.store.delete(EXECUTION, scope, &exec_store_key(thing, job))?;
        }
        for (scope, id) in state.templates.keys() {
            self.store.delete(TEMPLATE, scope, id)?;
        }
        *state = State::default();
        Ok(())
    }
}
