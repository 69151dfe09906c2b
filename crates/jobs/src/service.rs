//! The Jobs operations: jobs, executions and templates kept in memory and written through to the
//! SQLite store before an operation returns (`docs/architecture.md`, "Persistence"), so a restart
//! in the middle of a job loses no execution state. Every change to executions goes through a
//! [`Txn`], which afterwards checks the touched jobs (abort, completion and its
//! ReportFinalJobExecutionCount entry) and works out the `jobs/notify` and `jobs/notify-next`
//! messages of the touched things.
//!
//! Time comes from an injectable [`Clock`]; a "minute" of the timers and of the rollout rate
//! lasts `minute_ms` (60 000 unless a test shortens it with `[jobs] minute_seconds`).

use crate::state::{
    abort_triggered, api_time, counts, device_execution, device_summary, document_value, final_count_details,
    pending_order, substitute_parameters, AbortCriteria, DocumentForm, Execution, ExecutionStatus, JobStatus,
    TargetSelection, Timers,
};
use crate::JobsError;
use iotemu_core::{Clock, OutboundMessage, Publisher, TraceId};
use iotemu_logs::{EventSink, JobCompletionEntry, LogEntry};
use iotemu_store::{Scope, Store};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const JOB: &str = "job";
const EXECUTION: &str = "job-execution";
const TEMPLATE: &str = "job-template";
const SEPARATOR: char = '\u{1}';

/// The largest job document (botocore `JobDocument`: 32 768 characters).
pub const MAX_DOCUMENT: usize = 32_768;

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

/// A job, as stored. The configurations are kept as given (botocore shapes) and read where
/// iotemu acts on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    pub arn: String,
    pub target_selection: TargetSelection,
    pub status: JobStatus,
    #[serde(default)]
    pub force_canceled: bool,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub targets: Vec<String>,
    pub description: Option<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    pub job_template_arn: Option<String>,
    pub document_parameters: Option<BTreeMap<String, String>>,
    pub created_at: u64,
    pub last_updated_at: u64,
    pub completed_at: Option<u64>,
    /// Things not yet given an execution because of `maximumPerMinute`, in rollout order.
    #[serde(default)]
    pub pending_targets: Vec<String>,
    /// When the current rollout minute began.
    #[serde(default)]
    pub window_start: u64,
}

impl Job {
    /// `timeoutConfig.inProgressTimeoutInMinutes`.
    pub fn in_progress_timeout_minutes(&self) -> Option<u64> {
        self.timeout_config.as_ref()?.get("inProgressTimeoutInMinutes")?.as_u64()
    }

    /// `jobExecutionsRolloutConfig.maximumPerMinute`.
    pub fn maximum_per_minute(&self) -> Option<usize> {
        self.job_executions_rollout_config.as_ref()?.get("maximumPerMinute")?.as_u64().map(|n| n as usize)
    }

    /// `abortConfig.criteriaList`.
    pub fn abort_criteria(&self) -> Vec<AbortCriteria> {
        self.abort_config
            .as_ref()
            .and_then(|c| c.get("criteriaList"))
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default()
    }

    /// The document devices get: `document` with its parameters substituted. iotemu cannot
    /// fetch a `documentSource` (S3), so such a job's devices get `{}`.
    pub fn device_document(&self) -> String {
        match (&self.document, &self.document_parameters) {
            (Some(doc), Some(params)) => substitute_parameters(doc, params),
            (Some(doc), None) => doc.clone(),
            (None, _) => "{}".to_string(),
        }
    }

    pub(crate) fn timers(&self, minute_ms: u64) -> Timers {
        Timers { minute_ms, in_progress_timeout_minutes: self.in_progress_timeout_minutes() }
    }
}

/// A job template, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplate {
    pub job_template_id: String,
    pub arn: String,
    pub description: String,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    pub created_at: u64,
}

/// CreateJob's body (botocore `CreateJobRequest`; members iotemu does not act on are accepted
/// and ignored: tags, namespaceId, jobExecutionsRetryConfig, schedulingConfig, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    #[serde(default)]
    pub targets: Vec<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub target_selection: Option<String>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
    pub job_template_arn: Option<String>,
    pub document_parameters: Option<BTreeMap<String, String>>,
}

/// UpdateJob's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateJob {
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
}

/// CreateJobTemplate's body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobTemplate {
    pub job_arn: Option<String>,
    pub document: Option<String>,
    pub document_source: Option<String>,
    pub description: Option<String>,
    pub presigned_url_config: Option<Value>,
    pub job_executions_rollout_config: Option<Value>,
    pub abort_config: Option<Value>,
    pub timeout_config: Option<Value>,
}

/// (scope, thing, job id).
pub(crate) type ExecKey = (Scope, String, String);

#[derive(Default)]
pub(crate) struct State {
    pub jobs: BTreeMap<(Scope, String), Job>,
    pub executions: BTreeMap<ExecKey, Execution>,
    pub templates: BTreeMap<(Scope, String), JobTemplate>,
    pub seq: u64,
}

impl State {
    /// The executions of one thing.
    pub fn of_thing<'a>(
        &'a self,
        scope: &'a Scope,
        thing: &'a str,
    ) -> impl Iterator<Item = &'a Execution> + 'a {
        self.executions
            .range((scope.clone(), thing.to_string(), String::new())..)
            .take_while(move |((s, t, _), _)| s == scope && t == thing)
            .map(|(_, e)| e)
    }

    /// The executions of one job.
    pub fn of_job<'a>(&'a self, scope: &'a Scope, job: &'a str) -> impl Iterator<Item = &'a Execution> + 'a {
        self.executions.iter().filter(move |((s, _, j), _)| s == scope && j == job).map(|(_, e)| e)
    }

    /// (pending job ids in AWS's order, the next one's id).
    fn snapshot(&self, scope: &Scope, thing: &str) -> (BTreeSet<String>, Option<String>) {
        let pending = pending_order(self.of_thing(scope, thing));
        let next = pending.first().map(|e| e.job_id.clone());
        (pending.into_iter().map(|e| e.job_id.clone()).collect(), next)
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
}

/// A change to the executions in progress: what was pending for each touched thing before,
/// and which jobs to check when it is done.
pub(crate) struct Txn<'a> {
    pub st: &'a mut State,
    jobs: &'a Jobs,
    pub now: u64,
    before: BTreeMap<(Scope, String), (BTreeSet<String>, Option<String>)>,
    touched_jobs: BTreeSet<(Scope, String)>,
}

impl<'a> Txn<'a> {
    fn touch(&mut self, scope: &Scope, thing: &str) {
        let key = (scope.clone(), thing.to_string());
        if !self.before.contains_key(&key) {
            let snapshot = self.st.snapshot(scope, thing);
            self.before.insert(key, snapshot);
        }
    }

    /// Stores a new or changed execution.
    pub fn put_exec(&mut self, scope: &Scope, exec: Execution) -> Result<(), JobsError> {
        self.touch(scope, &exec.thing_name);
        self.touched_jobs.insert((scope.clone(), exec.job_id.clone()));
        let value = serde_json::to_value(&exec).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.jobs.store.put(EXECUTION, scope, &exec_store_key(&exec.thing_name, &exec.job_id), &value)?;
        let key = (scope.clone(), exec.thing_name.clone(), exec.job_id.clone());
        if self.st.executions.get(&key).map(|e| e.status) != Some(exec.status) {
            self.jobs.execution_event(scope, &exec, false);
        }
        self.st.executions.insert(key, exec);
        Ok(())
    }

    /// Forgets an execution.
    pub fn remove_exec(&mut self, scope: &Scope, thing: &str, job: &str) -> Result<(), JobsError> {
        self.touch(scope, thing);
        self.jobs.store.delete(EXECUTION, scope, &exec_store_key(thing, job))?;
        if let Some(exec) = self.st.executions.remove(&(scope.clone(), thing.to_string(), job.to_string())) {
            self.jobs.execution_event(scope, &exec, true);
        }
        Ok(())
    }

    /// Stores a new or changed job.
    pub fn put_job(&mut self, scope: &Scope, job: Job) -> Result<(), JobsError> {
        self.touched_jobs.insert((scope.clone(), job.job_id.clone()));
        let value = serde_json::to_value(&job).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.jobs.store.put(JOB, scope, &job.job_id, &value)?;
        let before = self.st.jobs.get(&(scope.clone(), job.job_id.clone())).map(|j| j.status);
        if before != Some(job.status) {
            let executions = self.st.of_job(scope, &job.job_id);
            match job.status {
                JobStatus::Completed => self.jobs.job_event(scope, &job, "completed", executions),
                JobStatus::Canceled => {
                    self.jobs.job_event(scope, &job, "cancellation_in_progress", []);
                    self.jobs.job_event(scope, &job, "canceled", executions);
                }
                _ => {}
            }
        }
        self.st.jobs.insert((scope.clone(), job.job_id.clone()), job);
        Ok(())
    }

    /// Gives the next things of `job` their QUEUED executions, as many as its rate allows.
    fn roll_out(&mut self, scope: &Scope, mut job: Job) -> Result<(), JobsError> {
        if job.pending_targets.is_empty() || job.status != JobStatus::InProgress {
            return Ok(());
        }
        let take = match job.maximum_per_minute() {
            None => job.pending_targets.len(),
            Some(max) if job.window_start + self.jobs.minute_ms <= self.now || job.window_start == 0 => {
                job.window_start = self.now;
                max.min(job.pending_targets.len())
            }
            Some(_) => return Ok(()),
        };
        let batch: Vec<String> = job.pending_targets.drain(..take).collect();
        for thing in batch {
            let key = (scope.clone(), thing.clone(), job.job_id.clone());
            if self.st.executions.contains_key(&key) {
                continue;
            }
            self.st.seq += 1;
            let exec = Execution::queued(&job.job_id, &thing, self.now, self.st.seq);
            self.put_exec(scope, exec)?;
        }
        self.put_job(scope, job)
    }

    /// Cancels a job's executions: QUEUED ones, and IN_PROGRESS ones with `force`.
    fn cancel_executions(&mut self, scope: &Scope, job_id: &str, force: bool) -> Result<(), JobsError> {
        let victims: Vec<Execution> = self
            .st
            .of_job(scope, job_id)
            .filter(|e| {
                e.status == ExecutionStatus::Queued || (force && e.status == ExecutionStatus::InProgress)
            })
            .cloned()
            .collect();
        for mut exec in victims {
            exec.force_canceled = exec.status == ExecutionStatus::InProgress;
            exec.set_status(ExecutionStatus::Canceled, self.now);
            self.put_exec(scope, exec)?;
        }
        Ok(())
    }

    /// Checks the touched jobs (abort, completion), then works out the notifications of the
    /// touched things.
    pub fn finish(mut self) -> Result<Vec<OutboundMessage>, JobsError> {
        let touched: Vec<(Scope, String)> = std::mem::take(&mut self.touched_jobs).into_iter().collect();
        for (scope, job_id) in touched {
            let Some(job) = self.st.jobs.get(&(scope.clone(), job_id.clone())).cloned() else { continue };
            if job.status != JobStatus::InProgress {
                continue;
            }
            let counts = counts(self.st.of_job(&scope, &job_id));
            let criteria = job.abort_criteria();
            if !criteria.is_empty() && abort_triggered(&criteria, &counts) {
                // The abort cancels as CancelJob without force does.
                let mut job = job.clone();
                job.status = JobStatus::Canceled;
                job.comment = Some("The job was aborted: its abort criteria were met.".into());
                job.pending_targets.clear();
                job.last_updated_at = self.now;
                self.cancel_executions(&scope, &job_id, false)?;
                self.put_job(&scope, job)?;
                continue;
            }
            let all_done = counts.iter().all(|(status, n)| status.is_terminal() || *n == 0);
            if job.target_selection == TargetSelection::Snapshot && job.pending_targets.is_empty() && all_done
            {
                let mut job = job.clone();
                job.status = JobStatus::Completed;
                job.completed_at = Some(self.now);
                job.last_updated_at = self.now;
                let details = final_count_details(&job_id, &counts);
                self.put_job(&scope, job)?;
                self.jobs.logs.success(
                    TraceId::new(),
                    LogEntry::ReportFinalJobExecutionCount(JobCompletionEntry {
                        job_id: job_id.into(),
                        details,
                    }),
                );
            }
        }
        let mut messages = Vec::new();
        let trace_id = TraceId::new();
        let ts = self.now / 1000;
        for ((scope, thing), (before, before_next)) in std::mem::take(&mut self.before) {
            let (after, after_next) = self.st.snapshot(&scope, &thing);
            if before != after {
                let mut groups = Map::new();
                for exec in pending_order(self.st.of_thing(&scope, &thing)) {
                    let group = groups.entry(exec.status.as_str()).or_insert_with(|| json!([]));
                    if let Some(list) = group.as_array_mut() {
                        list.push(device_summary(exec));
                    }
                }
                let payload = json!({ "timestamp": ts, "jobs": groups });
                messages.push(notice(&thing, "notify", &payload, trace_id));
            }
            if before_next != after_next {
                let mut payload = json!({ "timestamp": ts });
                if let Some(job_id) = &after_next {
                    let key = (scope.clone(), thing.clone(), job_id.clone());
                    if let Some(exec) = self.st.executions.get(&key) {
                        let doc =
                            self.st.jobs.get(&(scope.clone(), job_id.clone())).map(|j| j.device_document());
                        let doc = doc.map(|d| document_value(&d, DocumentForm::Object));
                        payload["execution"] = device_execution(exec, doc, false, self.now);
                    }
                }
                messages.push(notice(&thing, "notify-next", &payload, trace_id));
            }
        }
        Ok(messages)
    }
}

fn notice(thing: &str, kind: &str, payload: &Value, trace_id: TraceId) -> OutboundMessage {
    let mut message =
        OutboundMessage::new(format!("$aws/things/{thing}/jobs/{kind}"), payload.to_string(), trace_id);
    message.qos = 1;
    message
}

fn exec_store_key(thing: &str, job: &str) -> String {
    format!("{thing}{SEPARATOR}{job}")
}

/// botocore `JobId` / `JobTemplateId`: 1-64 of `[a-zA-Z0-9_-]`.
pub fn check_id(what: &str, id: &str) -> Result<(), JobsError> {
    let ok =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        JobsError::InvalidRequest(format!(
            "{what} {id:?} must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -"
        ))
    })
}

fn check_document(document: &str) -> Result<(), JobsError> {
    if document.chars().count() > MAX_DOCUMENT {
        return Err(JobsError::InvalidRequest(format!("The job document exceeds {MAX_DOCUMENT} characters")));
    }
    serde_json::from_str::<Value>(document)
        .map(|_| ())
        .map_err(|e| JobsError::InvalidRequest(format!("The job document is not valid JSON: {e}")))
}

/// The resource part of an IoT ARN: (`thing` | `thinggroup` | `job` | `jobtemplate`, name).
fn arn_resource(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let resource = rest.splitn(5, ':').nth(4)?;
    resource.split_once('/')
}

fn job_not_found(id: &str) -> JobsError {
    JobsError::NotFound(format!("Job {id} cannot be found."))
}

fn execution_not_found(job: &str, thing: &str) -> JobsError {
    JobsError::NotFound(format!("Job execution for job {job} and thing {thing} cannot be found."))
}

fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    max: Option<usize>,
    token: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let max = max.unwrap_or(50).clamp(1, 250);
    let mut rest = items.into_iter().filter(|i| token.is_none_or(|t| key(i).as_str() > t));
    let out: Vec<T> = rest.by_ref().take(max).collect();
    let next = rest.next().and(out.last().map(&key));
    (out, next)
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
        })
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
        let mut txn =
            Txn { st: &mut state, jobs: self, now, before: BTreeMap::new(), touched_jobs: BTreeSet::new() };
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
    fn resolve_targets(&self, scope: &Scope, targets: &[String]) -> Result<Vec<String>, JobsError> {
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

    // ---- jobs ----

    /// CreateJob.
    pub fn create_job(&self, scope: &Scope, job_id: &str, request: CreateJob) -> Result<Job, JobsError> {
        check_id("jobId", job_id)?;
        let mut request = request;
        if request.targets.is_empty() || request.targets.len() > 100 {
            return Err(JobsError::InvalidRequest(
                "targets must name 1 to 100 things or thing groups".into(),
            ));
        }
        if let Some(template_arn) = &request.job_template_arn {
            let template_id = match arn_resource(template_arn) {
                Some(("jobtemplate", id)) => id.to_string(),
                _ => {
                    return Err(JobsError::InvalidRequest(format!(
                        "{template_arn} is not a job template ARN"
                    )))
                }
            };
            let template =
                self.state.lock().templates.get(&(scope.clone(), template_id.clone())).cloned().ok_or_else(
                    || JobsError::NotFound(format!("Job template {template_id} cannot be found.")),
                )?;
            if request.document.is_none() && request.document_source.is_none() {
                request.document = template.document;
                request.document_source = template.document_source;
            }
            request.presigned_url_config = request.presigned_url_config.or(template.presigned_url_config);
            request.job_executions_rollout_config =
                request.job_executions_rollout_config.or(template.job_executions_rollout_config);
            request.abort_config = request.abort_config.or(template.abort_config);
            request.timeout_config = request.timeout_config.or(template.timeout_config);
        }
        match (&request.document, &request.document_source) {
            (Some(_), Some(_)) => {
                return Err(JobsError::InvalidRequest(
                    "Give either document or documentSource, not both".into(),
                ));
            }
            (None, None) => {
                return Err(JobsError::InvalidRequest(
                    "Either document or documentSource is required".into(),
                ));
            }
            (Some(doc), None) => check_document(doc)?,
            (None, Some(_)) => {}
        }
        let target_selection = match request.target_selection.as_deref() {
            None | Some("SNAPSHOT") => TargetSelection::Snapshot,
            Some("CONTINUOUS") => TargetSelection::Continuous,
            Some(other) => return Err(JobsError::InvalidRequest(format!("Invalid targetSelection {other}"))),
        };
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
        )?;
        let things = self.resolve_targets(scope, &request.targets)?;
        self.change(|txn| {
            if txn.st.jobs.contains_key(&(scope.clone(), job_id.to_string())) {
                return Err(JobsError::AlreadyExists(format!("Job {job_id} already exists.")));
            }
            let now = txn.now;
            let job = Job {
                job_id: job_id.to_string(),
                arn: format!("arn:aws:iot:{}:{}:job/{job_id}", scope.region, scope.account),
                target_selection,
                status: JobStatus::InProgress,
                force_canceled: false,
                reason_code: None,
                comment: None,
                targets: request.targets,
                description: request.description,
                document: request.document,
                document_source: request.document_source,
                presigned_url_config: request.presigned_url_config,
                job_executions_rollout_config: request.job_executions_rollout_config,
                abort_config: request.abort_config,
                timeout_config: request.timeout_config,
                job_template_arn: request.job_template_arn,
                document_parameters: request.document_parameters,
                created_at: now,
                last_updated_at: now,
                completed_at: None,
                pending_targets: things,
                window_start: 0,
            };
            txn.put_job(scope, job.clone())?;
            txn.roll_out(scope, job)?;
            Ok(())
        })?;
        self.describe_job(scope, job_id).map(|(job, _)| job)
    }

    /// DescribeJob: the job and its execution counts by status.
    pub fn describe_job(
        &self,
        scope: &Scope,
        job_id: &str,
    ) -> Result<(Job, BTreeMap<ExecutionStatus, u64>), JobsError> {
        let state = self.state.lock();
        let job = state
            .jobs
            .get(&(scope.clone(), job_id.to_string()))
            .cloned()
            .ok_or_else(|| job_not_found(job_id))?;
        let counts = counts(state.of_job(scope, job_id));
        Ok((job, counts))
    }

    /// ListJobs, by job id, filtered as asked.
    pub fn list_jobs(
        &self,
        scope: &Scope,
        status: Option<&str>,
        target_selection: Option<&str>,
        thing_group: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<Job>, Option<String>) {
        let state = self.state.lock();
        let jobs: Vec<Job> = state
            .jobs
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, j)| j)
            .filter(|j| status.is_none_or(|s| j.status.as_str() == s))
            .filter(|j| target_selection.is_none_or(|t| j.target_selection.as_str() == t))
            .filter(|j| {
                thing_group
                    .is_none_or(|g| j.targets.iter().any(|t| arn_resource(t) == Some(("thinggroup", g))))
            })
            .cloned()
            .collect();
        page(jobs, |j| j.job_id.clone(), max, token)
    }

    /// UpdateJob: description and configurations.
    pub fn update_job(&self, scope: &Scope, job_id: &str, request: UpdateJob) -> Result<(), JobsError> {
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
        )?;
        self.change(|txn| {
            let mut job = txn
                .st
                .jobs
                .get(&(scope.clone(), job_id.to_string()))
                .cloned()
                .ok_or_else(|| job_not_found(job_id))?;
            if let Some(d) = request.description {
                job.description = Some(d);
            }
            if request.presigned_url_config.is_some() {
                job.presigned_url_config = request.presigned_url_config;
            }
            if request.job_executions_rollout_config.is_some() {
                job.job_executions_rollout_config = request.job_executions_rollout_config;
            }
            if request.abort_config.is_some() {
                job.abort_config = request.abort_config;
            }
            if request.timeout_config.is_some() {
                job.timeout_config = request.timeout_config;
            }
            job.last_updated_at = txn.now;
            txn.put_job(scope, job)
        })
    }

    /// CancelJob: the job becomes CANCELED; its QUEUED executions are CANCELED, and its
    /// IN_PROGRESS ones too with `force`. A canceled job can be canceled again with `force` (to
    /// reach the IN_PROGRESS executions); a COMPLETED one cannot be canceled.
    pub fn cancel_job(
        &self,
        scope: &Scope,
        job_id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
    ) -> Result<Job, JobsError> {
        self.change(|txn| {
            let mut job = txn
                .st
                .jobs
                .get(&(scope.clone(), job_id.to_string()))
                .cloned()
                .ok_or_else(|| job_not_found(job_id))?;
            match job.status {
                JobStatus::InProgress | JobStatus::Canceled => {}
                other => {
                    return Err(JobsError::InvalidStateTransition(format!(
                        "Job {job_id} is {} and cannot be canceled",
                        other.as_str()
                    )));
                }
            }
            job.status = JobStatus::Canceled;
            job.force_canceled |= force;
            job.reason_code = reason_code.or(job.reason_code);
            job.comment = comment.or(job.comment);
            job.pending_targets.clear();
            job.last_updated_at = txn.now;
            txn.cancel_executions(scope, job_id, force)?;
            txn.put_job(scope, job.clone())?;
            Ok(job)
        })
    }

    /// DeleteJob: with its executions. A job IN_PROGRESS, or with executions IN_PROGRESS, needs
    /// `force` (InvalidStateTransitionException otherwise).
    pub fn delete_job(&self, scope: &Scope, job_id: &str, force: bool) -> Result<(), JobsError> {
        self.change(|txn| {
            let key = (scope.clone(), job_id.to_string());
            let job = txn.st.jobs.get(&key).cloned().ok_or_else(|| job_not_found(job_id))?;
            let running = txn.st.of_job(scope, job_id).any(|e| e.status == ExecutionStatus::InProgress);
            if !force && (job.status == JobStatus::InProgress || running) {
                return Err(JobsError::InvalidStateTransition(format!(
                    "Job {job_id} is in progress: delete it with force=true"
                )));
            }
            let things: Vec<String> = txn.st.of_job(scope, job_id).map(|e| e.thing_name.clone()).collect();
            for thing in things {
                txn.remove_exec(scope, &thing, job_id)?;
            }
            txn.jobs.store.delete(JOB, scope, job_id)?;
            txn.jobs.job_event(scope, &job, "deletion_in_progress", []);
            txn.jobs.job_event(scope, &job, "deleted", []);
            txn.st.jobs.remove(&key);
            Ok(())
        })
    }

    /// GetJobDocument: the document with its `documentParameters` substituted, or as given
    /// with `before_substitution`.
    pub fn job_document(
        &self,
        scope: &Scope,
        job_id: &str,
        before_substitution: bool,
    ) -> Result<String, JobsError> {
        let (job, _) = self.describe_job(scope, job_id)?;
        Ok(match before_substitution {
            true => job.document.unwrap_or_else(|| "{}".into()),
            false => job.device_document(),
        })
    }

    // ---- executions (control plane) ----

    /// DescribeJobExecution (`iot`).
    pub fn describe_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        execution_number: Option<i64>,
    ) -> Result<Execution, JobsError> {
        let state = self.state.lock();
        state
            .executions
            .get(&(scope.clone(), thing.to_string(), job_id.to_string()))
            .filter(|e| execution_number.is_none_or(|n| n == e.execution_number))
            .cloned()
            .ok_or_else(|| execution_not_found(job_id, thing))
    }

    /// ListJobExecutionsForJob, by thing name.
    pub fn list_executions_for_job(
        &self,
        scope: &Scope,
        job_id: &str,
        status: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> Result<(Vec<Execution>, Option<String>), JobsError> {
        let state = self.state.lock();
        if !state.jobs.contains_key(&(scope.clone(), job_id.to_string())) {
            return Err(job_not_found(job_id));
        }
        let execs: Vec<Execution> = state
            .of_job(scope, job_id)
            .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
            .cloned()
            .collect();
        Ok(page(execs, |e| e.thing_name.clone(), max, token))
    }

    /// ListJobExecutionsForThing, by job id.
    pub fn list_executions_for_thing(
        &self,
        scope: &Scope,
        thing: &str,
        status: Option<&str>,
        job_id: Option<&str>,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<Execution>, Option<String>) {
        let state = self.state.lock();
        let execs: Vec<Execution> = state
            .of_thing(scope, thing)
            .filter(|e| status.is_none_or(|s| e.status.as_str() == s))
            .filter(|e| job_id.is_none_or(|j| e.job_id == j))
            .cloned()
            .collect();
        page(execs, |e| e.job_id.clone(), max, token)
    }

    /// CancelJobExecution: QUEUED -> CANCELED; IN_PROGRESS -> CANCELED only with `force`;
    /// a terminal execution cannot be canceled (InvalidStateTransitionException).
    pub fn cancel_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        force: bool,
        expected_version: Option<i64>,
        status_details: Option<BTreeMap<String, String>>,
    ) -> Result<(), JobsError> {
        if let Some(details) = &status_details {
            crate::state::check_status_details(details).map_err(|e| JobsError::InvalidRequest(e.message))?;
        }
        self.change(|txn| {
            let key = (scope.clone(), thing.to_string(), job_id.to_string());
            let mut exec =
                txn.st.executions.get(&key).cloned().ok_or_else(|| execution_not_found(job_id, thing))?;
            if expected_version.is_some_and(|v| v != exec.version_number) {
                return Err(JobsError::VersionConflict(format!(
                    "The expected version does not match the job execution's version {}",
                    exec.version_number
                )));
            }
            match exec.status {
                ExecutionStatus::Queued => {}
                ExecutionStatus::InProgress if force => exec.force_canceled = true,
                ExecutionStatus::InProgress => {
                    return Err(JobsError::InvalidStateTransition(
                        "The job execution is IN_PROGRESS: cancel it with force=true".into(),
                    ));
                }
                other => {
                    return Err(JobsError::InvalidStateTransition(format!(
                        "The job execution is {} and cannot be canceled",
                        other.as_str()
                    )));
                }
            }
            if let Some(details) = status_details {
                exec.status_details = details;
            }
            exec.set_status(ExecutionStatus::Canceled, txn.now);
            txn.put_exec(scope, exec)
        })
    }

    /// DeleteJobExecution: a terminal execution, or any with `force`.
    pub fn delete_execution(
        &self,
        scope: &Scope,
        job_id: &str,
        thing: &str,
        execution_number: i64,
        force: bool,
    ) -> Result<(), JobsError> {
        self.change(|txn| {
            let key = (scope.clone(), thing.to_string(), job_id.to_string());
            let exec = txn
                .st
                .executions
                .get(&key)
                .filter(|e| e.execution_number == execution_number)
                .cloned()
                .ok_or_else(|| execution_not_found(job_id, thing))?;
            if !force && !exec.status.is_terminal() {
                return Err(JobsError::InvalidStateTransition(format!(
                    "The job execution is {}: delete it with force=true",
                    exec.status.as_str()
                )));
            }
            txn.remove_exec(scope, thing, job_id)
        })
    }

    // ---- templates ----

    /// CreateJobTemplate: from a document, a documentSource, or an existing job (`jobArn`).
    pub fn create_template(
        &self,
        scope: &Scope,
        id: &str,
        request: CreateJobTemplate,
    ) -> Result<JobTemplate, JobsError> {
        check_id("jobTemplateId", id)?;
        let description = request
            .description
            .ok_or_else(|| JobsError::InvalidRequest("Missing required parameter: description".into()))?;
        check_configs(
            request.job_executions_rollout_config.as_ref(),
            request.timeout_config.as_ref(),
            request.abort_config.as_ref(),
        )?;
        let mut state = self.state.lock();
        if state.templates.contains_key(&(scope.clone(), id.to_string())) {
            return Err(JobsError::Conflict(format!("Job template {id} already exists.")));
        }
        let mut template = JobTemplate {
            job_template_id: id.to_string(),
            arn: format!("arn:aws:iot:{}:{}:jobtemplate/{id}", scope.region, scope.account),
            description,
            document: request.document,
            document_source: request.document_source,
            presigned_url_config: request.presigned_url_config,
            job_executions_rollout_config: request.job_executions_rollout_config,
            abort_config: request.abort_config,
            timeout_config: request.timeout_config,
            created_at: self.now(),
        };
        if let Some(job_arn) = &request.job_arn {
            let job_id = match arn_resource(job_arn) {
                Some(("job", id)) => id,
                _ => return Err(JobsError::InvalidRequest(format!("{job_arn} is not a job ARN"))),
            };
            let job =
                state.jobs.get(&(scope.clone(), job_id.to_string())).ok_or_else(|| job_not_found(job_id))?;
            template.document = template.document.or(job.document.clone());
            template.document_source = template.document_source.or(job.document_source.clone());
            template.presigned_url_config =
                template.presigned_url_config.or(job.presigned_url_config.clone());
            template.job_executions_rollout_config =
                template.job_executions_rollout_config.or(job.job_executions_rollout_config.clone());
            template.abort_config = template.abort_config.or(job.abort_config.clone());
            template.timeout_config = template.timeout_config.or(job.timeout_config.clone());
        }
        match (&template.document, &template.document_source) {
            (None, None) => {
                return Err(JobsError::InvalidRequest(
                    "A document, documentSource or jobArn is required".into(),
                ));
            }
            (Some(doc), _) => check_document(doc)?,
            _ => {}
        }
        let value = serde_json::to_value(&template).map_err(|e| JobsError::Internal(e.to_string()))?;
        self.store.put(TEMPLATE, scope, id, &value)?;
        state.templates.insert((scope.clone(), id.to_string()), template.clone());
        Ok(template)
    }

    /// DescribeJobTemplate.
    pub fn describe_template(&self, scope: &Scope, id: &str) -> Result<JobTemplate, JobsError> {
        self.state
            .lock()
            .templates
            .get(&(scope.clone(), id.to_string()))
            .cloned()
            .ok_or_else(|| JobsError::NotFound(format!("Job template {id} cannot be found.")))
    }

    /// ListJobTemplates, by id.
    pub fn list_templates(
        &self,
        scope: &Scope,
        max: Option<usize>,
        token: Option<&str>,
    ) -> (Vec<JobTemplate>, Option<String>) {
        let state = self.state.lock();
        let all: Vec<JobTemplate> =
            state.templates.iter().filter(|((s, _), _)| s == scope).map(|(_, t)| t.clone()).collect();
        page(all, |t| t.job_template_id.clone(), max, token)
    }

    /// DeleteJobTemplate.
    pub fn delete_template(&self, scope: &Scope, id: &str) -> Result<(), JobsError> {
        let mut state = self.state.lock();
        if state.templates.remove(&(scope.clone(), id.to_string())).is_none() {
            return Err(JobsError::NotFound(format!("Job template {id} cannot be found.")));
        }
        self.store.delete(TEMPLATE, scope, id)?;
        Ok(())
    }

    // ---- time ----

    /// Times out executions whose timers have run out, rolls out the next batch of rate-limited
    /// jobs, and brings CONTINUOUS jobs up to date with their groups (new members get a QUEUED
    /// execution; QUEUED executions of things no longer targeted become REMOVED). Called by
    /// [`Jobs::run_timers`] and by tests with a manual clock.
    pub fn sweep(&self) -> Result<(), JobsError> {
        // The continuous jobs' targets are resolved before the lock (the registry has its own).
        let continuous: Vec<(Scope, String, Vec<String>)> = {
            let state = self.state.lock();
            state
                .jobs
                .iter()
                .filter(|(_, j)| {
                    j.target_selection == TargetSelection::Continuous && j.status == JobStatus::InProgress
                })
                .map(|((s, id), j)| (s.clone(), id.clone(), j.targets.clone()))
                .collect()
        };
        let mut resolved = Vec::new();
        for (scope, id, targets) in continuous {
            if let Ok(things) = self.resolve_targets(&scope, &targets) {
                resolved.push((scope, id, things));
            }
        }
        self.change(|txn| {
            let now = txn.now;
            let expired: Vec<(Scope, Execution)> = txn
                .st
                .executions
                .iter()
                .filter(|(_, e)| {
                    e.status == ExecutionStatus::InProgress && e.deadline().is_some_and(|d| d <= now)
                })
                .map(|((s, _, _), e)| (s.clone(), e.clone()))
                .collect();
            for (scope, mut exec) in expired {
                exec.time_out(now);
                txn.put_exec(&scope, exec)?;
            }
            for (scope, id, things) in resolved {
                let Some(mut job) = txn.st.jobs.get(&(scope.clone(), id.clone())).cloned() else { continue };
                if job.status != JobStatus::InProgress {
                    continue;
                }
                let wanted: BTreeSet<&String> = things.iter().collect();
                let gone: Vec<Execution> = txn
                    .st
                    .of_job(&scope, &id)
                    .filter(|e| e.status == ExecutionStatus::Queued && !wanted.contains(&e.thing_name))
                    .cloned()
                    .collect();
                for mut exec in gone {
                    exec.set_status(ExecutionStatus::Removed, now);
                    txn.put_exec(&scope, exec)?;
                }
                let mut added = false;
                for thing in &things {
                    let has = txn.st.executions.contains_key(&(scope.clone(), thing.clone(), id.clone()));
                    if !has && !job.pending_targets.contains(thing) {
                        job.pending_targets.push(thing.clone());
                        added = true;
                    }
                }
                if added {
                    txn.put_job(&scope, job)?;
                }
            }
            let rolling: Vec<(Scope, Job)> = txn
                .st
                .jobs
                .iter()
                .filter(|(_, j)| !j.pending_targets.is_empty() && j.status == JobStatus::InProgress)
                .map(|((s, _), j)| (s.clone(), j.clone()))
                .collect();
            for (scope, job) in rolling {
                txn.roll_out(&scope, job)?;
            }
            Ok::<(), JobsError>(())
        })
    }

    /// Sweeps every `tick` until `shutdown`: the timers fire within a tick of their time.
    pub async fn run_timers(
        self: Arc<Self>,
        tick: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = interval.tick() => {
                    let jobs = self.clone();
                    match tokio::task::spawn_blocking(move || jobs.sweep()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "the jobs sweep failed"),
                        Err(e) => tracing::warn!(error = %e, "the jobs sweep panicked"),
                    }
                }
            }
        }
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

/// Checks the configurations iotemu acts on.
fn check_configs(
    rollout: Option<&Value>,
    timeout: Option<&Value>,
    abort: Option<&Value>,
) -> Result<(), JobsError> {
    let invalid = |m: &str| Err(JobsError::InvalidRequest(m.to_string()));
    if let Some(max) = rollout.and_then(|r| r.get("maximumPerMinute")) {
        if !max.as_u64().is_some_and(|m| (1..=1000).contains(&m)) {
            return invalid("jobExecutionsRolloutConfig.maximumPerMinute must be between 1 and 1000");
        }
    }
    if let Some(minutes) = timeout.and_then(|t| t.get("inProgressTimeoutInMinutes")) {
        if !minutes.as_u64().is_some_and(|m| (1..=10080).contains(&m)) {
            return invalid("timeoutConfig.inProgressTimeoutInMinutes must be between 1 and 10080");
        }
    }
    if let Some(list) = abort.and_then(|a| a.get("criteriaList")) {
        let criteria: Vec<AbortCriteria> = serde_json::from_value(list.clone())
            .map_err(|e| JobsError::InvalidRequest(format!("Invalid abortConfig: {e}")))?;
        for c in &criteria {
            if !["FAILED", "REJECTED", "TIMED_OUT", "ALL"].contains(&c.failure_type.as_str())
                || c.action != "CANCEL"
            {
                return invalid("abortConfig criteria need a failureType of FAILED, REJECTED, TIMED_OUT or ALL and the action CANCEL");
            }
        }
    }
    Ok(())
}

/// The `iot` API's `Job` shape.
pub fn job_json(job: &Job, counts: &BTreeMap<ExecutionStatus, u64>) -> Value {
    let n = |s: ExecutionStatus| counts.get(&s).copied().unwrap_or(0);
    let mut out = json!({
        "jobArn": job.arn,
        "jobId": job.job_id,
        "targetSelection": job.target_selection.as_str(),
        "status": job.status.as_str(),
        "forceCanceled": job.force_canceled,
        "targets": job.targets,
        "createdAt": api_time(job.created_at),
        "lastUpdatedAt": api_time(job.last_updated_at),
        "isConcurrent": false,
        "jobProcessDetails": {
            "processingTargets": job.pending_targets.iter().take(10).collect::<Vec<_>>(),
            "numberOfCanceledThings": n(ExecutionStatus::Canceled),
            "numberOfSucceededThings": n(ExecutionStatus::Succeeded),
            "numberOfFailedThings": n(ExecutionStatus::Failed),
            "numberOfRejectedThings": n(ExecutionStatus::Rejected),
            "numberOfQueuedThings": n(ExecutionStatus::Queued),
            "numberOfInProgressThings": n(ExecutionStatus::InProgress),
            "numberOfRemovedThings": n(ExecutionStatus::Removed),
            "numberOfTimedOutThings": n(ExecutionStatus::TimedOut),
        },
    });
    let optional = [
        ("reasonCode", job.reason_code.clone().map(Value::from)),
        ("comment", job.comment.clone().map(Value::from)),
        ("description", job.description.clone().map(Value::from)),
        ("presignedUrlConfig", job.presigned_url_config.clone()),
        ("jobExecutionsRolloutConfig", job.job_executions_rollout_config.clone()),
        ("abortConfig", job.abort_config.clone()),
        ("timeoutConfig", job.timeout_config.clone()),
        ("jobTemplateArn", job.job_template_arn.clone().map(Value::from)),
        ("documentParameters", job.document_parameters.as_ref().map(|p| json!(p))),
        ("completedAt", job.completed_at.map(|t| json!(api_time(t)))),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    out
}

/// The `iot` API's `JobSummary` shape.
pub fn job_summary_json(job: &Job) -> Value {
    let mut out = json!({
        "jobArn": job.arn,
        "jobId": job.job_id,
        "targetSelection": job.target_selection.as_str(),
        "status": job.status.as_str(),
        "createdAt": api_time(job.created_at),
        "lastUpdatedAt": api_time(job.last_updated_at),
        "isConcurrent": false,
    });
    if let Some(t) = job.completed_at {
        out["completedAt"] = json!(api_time(t));
    }
    out
}

/// The `iot` API's `JobExecution` shape.
pub fn execution_json(exec: &Execution, scope: &Scope, now: u64) -> Value {
    let mut out = json!({
        "jobId": exec.job_id,
        "status": exec.status.as_str(),
        "forceCanceled": exec.force_canceled,
        "statusDetails": { "detailsMap": exec.status_details },
        "thingArn": thing_arn(scope, &exec.thing_name),
        "queuedAt": api_time(exec.queued_at),
        "lastUpdatedAt": api_time(exec.last_updated_at),
        "executionNumber": exec.execution_number,
        "versionNumber": exec.version_number,
    });
    if let Some(t) = exec.started_at {
        out["startedAt"] = json!(api_time(t));
    }
    if let Some(left) = crate::state::seconds_before_timeout(exec, now) {
        out["approximateSecondsBeforeTimedOut"] = json!(left);
    }
    out
}

/// The `iot` API's `JobExecutionSummary` shape.
pub fn execution_summary_json(exec: &Execution) -> Value {
    let mut out = json!({
        "status": exec.status.as_str(),
        "queuedAt": api_time(exec.queued_at),
        "lastUpdatedAt": api_time(exec.last_updated_at),
        "executionNumber": exec.execution_number,
    });
    if let Some(t) = exec.started_at {
        out["startedAt"] = json!(api_time(t));
    }
    out
}

/// A thing's ARN.
pub fn thing_arn(scope: &Scope, thing: &str) -> String {
    format!("arn:aws:iot:{}:{}:thing/{thing}", scope.region, scope.account)
}
