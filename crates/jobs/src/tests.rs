//! The service with a manual clock, a recording broker and a registry stand-in.

use crate::device::service::{DeviceCall, DeviceOp};
use crate::executions::state::{DeviceUpdate, DocumentForm, ExecutionStatus, RejectCode};
use crate::{CreateJob, CreateJobTemplate, Jobs, JobsError, Targets};
use iotemu_core::Scope;
use iotemu_core::{ClientInfo, Clock, OutboundMessage, Protocol, PublishRefused, Publisher, TraceId};
use iotemu_logs::{LevelFilter, LiveTail, LogPipeline, PipelineHandle, TailFilter};
use iotemu_store::Store;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct ManualClock(AtomicU64);

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct Recorder {
    /// (client id or "" for subscribers, topic, payload).
    messages: Mutex<Vec<(String, String, Value)>>,
}

impl Recorder {
    fn take(&self) -> Vec<(String, String, Value)> {
        std::mem::take(&mut *self.messages.lock())
    }
    fn record(&self, to: &str, m: &OutboundMessage) {
        let payload = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
        self.messages.lock().push((to.to_string(), m.topic.to_string(), payload));
    }
}

impl Publisher for Recorder {
    fn check(&self, _: &OutboundMessage) -> Result<(), PublishRefused> {
        Ok(())
    }
    fn publish(&self, _: &Arc<ClientInfo>, m: OutboundMessage) -> Result<(), PublishRefused> {
        self.record("", &m);
        Ok(())
    }
    fn deliver(&self, _: &Arc<ClientInfo>, m: OutboundMessage) -> Result<(), PublishRefused> {
        self.record("", &m);
        Ok(())
    }
    fn deliver_to_client(&self, client_id: &str, m: OutboundMessage) -> Result<bool, PublishRefused> {
        self.record(client_id, &m);
        Ok(true)
    }
}

#[derive(Default)]
struct FakeRegistry {
    things: Mutex<Vec<String>>,
    groups: Mutex<BTreeMap<String, Vec<String>>>,
}

impl Targets for FakeRegistry {
    fn thing_exists(&self, _: &Scope, thing: &str) -> bool {
        self.things.lock().iter().any(|t| t == thing)
    }
    fn group_things(&self, _: &Scope, group: &str) -> Option<Vec<String>> {
        self.groups.lock().get(group).cloned()
    }
}

struct Fixture {
    jobs: Arc<Jobs>,
    clock: Arc<ManualClock>,
    broker: Arc<Recorder>,
    registry: Arc<FakeRegistry>,
    store: Arc<Store>,
    tail: LiveTail,
    pipeline: PipelineHandle,
}

const MINUTE: u64 = 60_000;

fn scope() -> Scope {
    Scope::new("123456789012", "us-east-1")
}

fn fixture_with(store: Arc<Store>) -> Fixture {
    let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000_000)));
    let broker = Arc::new(Recorder::default());
    let registry = Arc::new(FakeRegistry::default());
    *registry.things.lock() = ["t1", "t2", "t3", "solo"].map(String::from).to_vec();
    registry.groups.lock().insert("fleet".into(), ["t1", "t2", "t3"].map(String::from).to_vec());
    let (tail_sink, tail) = iotemu_logs::live_tail(1000);
    let (logs, pipeline) =
        LogPipeline::new("123456789012", LevelFilter::Debug).sink(Box::new(tail_sink)).start().unwrap();
    let jobs =
        Jobs::load(store.clone(), clock.clone(), registry.clone(), broker.clone(), logs, MINUTE).unwrap();
    Fixture { jobs: Arc::new(jobs), clock, broker, registry, store, tail, pipeline }
}

fn fixture() -> Fixture {
    fixture_with(Arc::new(Store::in_memory().unwrap()))
}

impl Fixture {
    fn advance(&self, ms: u64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    fn create(&self, id: &str, targets: &[&str], extra: Value) -> Result<crate::Job, JobsError> {
        let mut body = json!({ "targets": targets, "document": r#"{"operation":"upgrade"}"# });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let request: CreateJob = serde_json::from_value(body).unwrap();
        self.jobs.create_job(&scope(), id, request)
    }

    fn call(&self, thing: &str) -> DeviceCall {
        let client = Arc::new(ClientInfo::new(Protocol::Mqtt, thing, "p", "127.0.0.1:1".parse().unwrap()));
        DeviceCall {
            scope: scope(),
            thing: thing.to_string(),
            client_id: client.client_id.clone(),
            client,
            topic: format!("$aws/things/{thing}/jobs/x"),
            client_token: Some("tok".into()),
            trace_id: TraceId::new(),
            form: DocumentForm::Object,
        }
    }

    fn device(&self, thing: &str, op: DeviceOp) -> Result<Value, crate::device::service::Refusal> {
        let outcome = self.jobs.device_request(&self.call(thing), &op);
        self.jobs.publish(outcome.notices);
        outcome.result
    }

    fn update(
        &self,
        thing: &str,
        job: &str,
        status: ExecutionStatus,
    ) -> Result<Value, crate::device::service::Refusal> {
        let update = DeviceUpdate { status: Some(status), ..Default::default() };
        self.device(
            thing,
            DeviceOp::UpdateJobExecution {
                job_id: job.into(),
                update,
                include_state: true,
                include_document: false,
            },
        )
    }

    fn status(&self, thing: &str, job: &str) -> ExecutionStatus {
        self.jobs.describe_job_execution(&scope(), job, thing, None).unwrap().status
    }

    fn entries(&self) -> Vec<Value> {
        self.pipeline.flush(Duration::from_secs(2));
        self.tail
            .recent(&TailFilter::default())
            .iter()
            .map(|l| serde_json::from_str(&l.line).unwrap())
            .collect()
    }
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iot:us-east-1:123456789012:{kind}/{name}")
}

#[test]
fn a_group_job_reaches_every_member_and_completes_with_its_final_count() {
    let f = fixture();
    let job = f.create("j1", &[&arn("thinggroup", "fleet"), &arn("thing", "t1")], json!({})).unwrap();
    assert_eq!(job.arn, arn("job", "j1"));
    let notices = f.broker.take();
    for thing in ["t1", "t2", "t3"] {
        assert_eq!(f.status(thing, "j1"), ExecutionStatus::Queued);
        let next =
            notices.iter().find(|(_, t, _)| t == &format!("$aws/things/{thing}/jobs/notify-next")).unwrap();
        assert_eq!(next.2["execution"]["jobDocument"], json!({"operation": "upgrade"}));
        assert_eq!(next.2["execution"]["versionNumber"], 1);
        let notify =
            notices.iter().find(|(_, t, _)| t == &format!("$aws/things/{thing}/jobs/notify")).unwrap();
        assert_eq!(notify.2["jobs"]["QUEUED"][0]["jobId"], "j1");
    }
    let started = f.device("t1", DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default())).unwrap();
    assert_eq!(started["execution"]["status"], "IN_PROGRESS");
    assert_eq!(started["execution"]["versionNumber"], 2);
    assert!(f.broker.take().is_empty(), "IN_PROGRESS changes neither the pending set nor the next job");
    for thing in ["t1", "t2", "t3"] {
        f.update(thing, "j1", ExecutionStatus::Succeeded).unwrap();
    }
    let (job, counts) = f.jobs.describe_job(&scope(), "j1").unwrap();
    assert_eq!(job.status, crate::executions::state::JobStatus::Completed);
    assert_eq!(counts[&ExecutionStatus::Succeeded], 3);
    let notices = f.broker.take();
    let next = notices.iter().find(|(_, t, _)| t == "$aws/things/t2/jobs/notify-next").unwrap();
    assert_eq!(next.2.get("execution"), None, "nothing is next any more");
    let entries = f.entries();
    let finals: Vec<&Value> =
        entries.iter().filter(|e| e["eventType"] == "ReportFinalJobExecutionCount").collect();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0]["logLevel"], "INFO");
    assert!(finals[0]["details"].as_str().unwrap().contains("SUCCEEDED job execution count: 3"));
    let update = entries.iter().find(|e| e["eventType"] == "UpdateJobExecution").unwrap();
    assert_eq!(update["details"], "The destination status is SUCCEEDED. The request status is SUCCESS.");
    assert_eq!(update["versionNumber"], "2");
    assert_eq!(update["clientToken"], "tok");
}

#[test]
fn refusals_are_answered_and_logged_as_failures() {
    let f = fixture();
    f.create("j1", &[&arn("thing", "solo")], json!({})).unwrap();
    let update = DeviceUpdate {
        status: Some(ExecutionStatus::InProgress),
        expected_version: Some(9),
        ..Default::default()
    };
    let refusal = f
        .device(
            "solo",
            DeviceOp::UpdateJobExecution {
                job_id: "j1".into(),
                update,
                include_state: false,
                include_document: false,
            },
        )
        .unwrap_err();
    assert_eq!(refusal.error.code, RejectCode::VersionMismatch);
    let payload = refusal.payload(Some("tok"), 5);
    assert_eq!(payload["executionState"], json!({"status": "QUEUED", "versionNumber": 1}));
    assert_eq!(payload["clientToken"], "tok");
    f.update("solo", "j1", ExecutionStatus::Failed).unwrap();
    let refusal = f.update("solo", "j1", ExecutionStatus::InProgress).unwrap_err();
    assert_eq!(refusal.error.code, RejectCode::InvalidStateTransition);
    let missing = f.update("solo", "nope", ExecutionStatus::InProgress).unwrap_err();
    assert_eq!(missing.error.code, RejectCode::ResourceNotFound);
    let entries = f.entries();
    let failures: Vec<&Value> = entries.iter().filter(|e| e["status"] == "Failure").collect();
    assert_eq!(failures.len(), 3);
    assert_eq!(failures[0]["reason"], "VersionMismatch");
    assert_eq!(failures[0]["logLevel"], "ERROR");
    assert!(failures[0]["details"]
        .as_str()
        .unwrap()
        .starts_with("The destination status is IN_PROGRESS. The request status is REJECTED."));
}

#[test]
fn step_and_in_progress_timeouts_fire_on_the_injected_clock() {
    let f = fixture();
    f.create("step", &[&arn("thing", "t1")], json!({})).unwrap();
    f.create("whole", &[&arn("thing", "t2")], json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 2}}))
        .unwrap();
    let start = DeviceUpdate { step_timeout_minutes: Some(1), ..Default::default() };
    let answer = f.device("t1", DeviceOp::StartNextPendingJobExecution(start)).unwrap();
    assert_eq!(answer["execution"]["approximateSecondsBeforeTimedOut"], 60);
    f.device("t2", DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default())).unwrap();
    f.advance(MINUTE - 1);
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t1", "step"), ExecutionStatus::InProgress);
    f.advance(1);
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t1", "step"), ExecutionStatus::TimedOut);
    assert_eq!(f.status("t2", "whole"), ExecutionStatus::InProgress);
    f.advance(MINUTE);
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t2", "whole"), ExecutionStatus::TimedOut);
    let (job, _) = f.jobs.describe_job(&scope(), "whole").unwrap();
    assert_eq!(job.status, crate::executions::state::JobStatus::Completed);
    let refusal = f.update("t1", "step", ExecutionStatus::Succeeded).unwrap_err();
    assert_eq!(refusal.error.code, RejectCode::TerminalStateReached);
}

#[test]
fn cancel_job_without_force_spares_running_executions_and_with_force_does_not() {
    let f = fixture();
    f.create("j", &[&arn("thinggroup", "fleet")], json!({})).unwrap();
    f.device("t1", DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default())).unwrap();
    let job = f.jobs.cancel_job(&scope(), "j", false, Some("r1".into()), Some("why".into())).unwrap();
    assert_eq!((job.status, job.force_canceled), (crate::executions::state::JobStatus::Canceled, false));
    assert_eq!(f.status("t1", "j"), ExecutionStatus::InProgress);
    assert_eq!(f.status("t2", "j"), ExecutionStatus::Canceled);
    // The device can still finish the running one.
    let job = f.jobs.cancel_job(&scope(), "j", true, None, None).unwrap();
    assert!(job.force_canceled);
    assert_eq!(f.status("t1", "j"), ExecutionStatus::Canceled);
    let exec = f.jobs.describe_job_execution(&scope(), "j", "t1", None).unwrap();
    assert!(exec.force_canceled);
    assert_eq!(f.jobs.describe_job(&scope(), "j").unwrap().0.reason_code.as_deref(), Some("r1"));
    // Deleting needs no force once nothing runs.
    f.jobs.delete_job(&scope(), "j", false).unwrap();
    assert!(matches!(f.jobs.describe_job(&scope(), "j"), Err(JobsError::NotFound(_))));
}

#[test]
fn cancel_and_delete_executions_follow_their_rules() {
    let f = fixture();
    f.create("j", &[&arn("thinggroup", "fleet")], json!({})).unwrap();
    f.device("t1", DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default())).unwrap();
    let cancel = |thing: &str, force| f.jobs.cancel_job_execution(&scope(), "j", thing, force, None, None);
    assert!(matches!(cancel("t1", false), Err(JobsError::InvalidStateTransition(_))));
    cancel("t2", false).unwrap();
    assert!(matches!(cancel("t2", false), Err(JobsError::InvalidStateTransition(_))));
    let conflict = f.jobs.cancel_job_execution(&scope(), "j", "t3", false, Some(5), None);
    assert!(matches!(conflict, Err(JobsError::VersionConflict(_))));
    cancel("t1", true).unwrap();
    assert!(matches!(
        f.jobs.delete_job_execution(&scope(), "j", "t3", 1, false),
        Err(JobsError::InvalidStateTransition(_))
    ));
    f.jobs.delete_job_execution(&scope(), "j", "t2", 1, false).unwrap();
    f.jobs.delete_job_execution(&scope(), "j", "t3", 1, true).unwrap();
    assert!(f.jobs.describe_job_execution(&scope(), "j", "t3", None).is_err());
    assert!(matches!(f.jobs.delete_job(&scope(), "j", false), Err(JobsError::InvalidStateTransition(_))));
    f.jobs.delete_job(&scope(), "j", true).unwrap();
}

#[test]
fn a_restart_in_the_middle_of_a_job_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iotemu.db");
    {
        let f = fixture_with(Arc::new(Store::open(&path).unwrap()));
        f.create("j", &[&arn("thinggroup", "fleet")], json!({})).unwrap();
        let details = BTreeMap::from([("step".to_string(), "download".to_string())]);
        let update = DeviceUpdate {
            status_details: Some(details),
            step_timeout_minutes: Some(5),
            ..Default::default()
        };
        f.device("t1", DeviceOp::StartNextPendingJobExecution(update)).unwrap();
        f.update("t2", "j", ExecutionStatus::Succeeded).unwrap();
        let template = CreateJobTemplate {
            description: Some("d".into()),
            document: Some("{}".into()),
            ..Default::default()
        };
        f.jobs.create_job_template(&scope(), "tpl", template).unwrap();
    }
    let f = fixture_with(Arc::new(Store::open(&path).unwrap()));
    let exec = f.jobs.describe_job_execution(&scope(), "j", "t1", None).unwrap();
    assert_eq!((exec.status, exec.version_number), (ExecutionStatus::InProgress, 2));
    assert_eq!(exec.status_details["step"], "download");
    assert!(exec.step_deadline.is_some());
    assert_eq!(f.status("t2", "j"), ExecutionStatus::Succeeded);
    assert_eq!(f.status("t3", "j"), ExecutionStatus::Queued);
    assert!(f.jobs.describe_job_template(&scope(), "tpl").is_ok());
    f.update("t1", "j", ExecutionStatus::Succeeded).unwrap();
    f.update("t3", "j", ExecutionStatus::Succeeded).unwrap();
    assert_eq!(
        f.jobs.describe_job(&scope(), "j").unwrap().0.status,
        crate::executions::state::JobStatus::Completed
    );
    f.jobs.reset().unwrap();
    assert!(f.store.all("job").unwrap().is_empty() && f.store.all("job-execution").unwrap().is_empty());
}

#[test]
fn the_rollout_rate_holds_back_executions_until_the_next_minute() {
    let f = fixture();
    f.create(
        "j",
        &[&arn("thinggroup", "fleet")],
        json!({"jobExecutionsRolloutConfig": {"maximumPerMinute": 2}}),
    )
    .unwrap();
    let (job, counts) = f.jobs.describe_job(&scope(), "j").unwrap();
    assert_eq!((counts[&ExecutionStatus::Queued], job.pending_targets.clone()), (2, vec!["t3".to_string()]));
    f.advance(MINUTE / 2);
    f.jobs.sweep().unwrap();
    assert!(f.jobs.describe_job_execution(&scope(), "j", "t3", None).is_err());
    f.advance(MINUTE / 2);
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t3", "j"), ExecutionStatus::Queued);
}

#[test]
fn a_continuous_job_reaches_things_added_to_its_group_later() {
    let f = fixture();
    f.create("c", &[&arn("thinggroup", "fleet")], json!({"targetSelection": "CONTINUOUS"})).unwrap();
    for thing in ["t1", "t2", "t3"] {
        f.update(thing, "c", ExecutionStatus::Succeeded).unwrap();
    }
    assert_eq!(
        f.jobs.describe_job(&scope(), "c").unwrap().0.status,
        crate::executions::state::JobStatus::InProgress
    );
    f.registry.things.lock().push("t4".into());
    f.registry.groups.lock().insert("fleet".into(), ["t1", "t2", "t4"].map(String::from).to_vec());
    f.broker.take();
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t4", "c"), ExecutionStatus::Queued);
    assert!(f.broker.take().iter().any(|(_, t, _)| t == "$aws/things/t4/jobs/notify-next"));
    // A QUEUED execution of a thing that left the group is REMOVED.
    f.registry.groups.lock().insert("fleet".into(), ["t1"].map(String::from).to_vec());
    f.jobs.sweep().unwrap();
    assert_eq!(f.status("t4", "c"), ExecutionStatus::Removed);
}

#[test]
fn the_failed_threshold_aborts_a_job() {
    let f = fixture();
    let abort = json!({"abortConfig": {"criteriaList": [
        {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50, "minNumberOfExecutedThings": 1}
    ]}});
    f.create("j", &[&arn("thinggroup", "fleet")], abort).unwrap();
    f.update("t1", "j", ExecutionStatus::Failed).unwrap();
    assert_eq!(
        f.jobs.describe_job(&scope(), "j").unwrap().0.status,
        crate::executions::state::JobStatus::Canceled
    );
    assert_eq!(f.status("t2", "j"), ExecutionStatus::Canceled);
}

#[test]
fn create_job_checks_its_request() {
    let f = fixture();
    assert!(matches!(
        f.create("bad id", &[&arn("thing", "t1")], json!({})),
        Err(JobsError::InvalidRequest(_))
    ));
    assert!(matches!(f.create("j", &[&arn("thing", "ghost")], json!({})), Err(JobsError::NotFound(_))));
    assert!(matches!(f.create("j", &[&arn("thinggroup", "none")], json!({})), Err(JobsError::NotFound(_))));
    assert!(matches!(
        f.create("j", &[&arn("thing", "t1")], json!({"document": "{"})),
        Err(JobsError::InvalidRequest(_))
    ));
    f.create("j", &[&arn("thing", "t1")], json!({})).unwrap();
    assert!(matches!(f.create("j", &[&arn("thing", "t1")], json!({})), Err(JobsError::AlreadyExists(_))));
}

#[test]
fn a_job_from_a_template_takes_its_document_and_parameters() {
    let f = fixture();
    let template = CreateJobTemplate {
        description: Some("upgrade".into()),
        document: Some(r#"{"version":"${aws:iot:parameter:v}"}"#.into()),
        timeout_config: Some(json!({"inProgressTimeoutInMinutes": 3})),
        ..Default::default()
    };
    let t = f.jobs.create_job_template(&scope(), "tpl", template.clone()).unwrap();
    assert!(matches!(f.jobs.create_job_template(&scope(), "tpl", template), Err(JobsError::Conflict(_))));
    let body = json!({"jobTemplateArn": t.arn, "documentParameters": {"v": "2.1"}, "document": null});
    let request: CreateJob =
        serde_json::from_value(json!({"targets": [arn("thing", "t1")], "jobTemplateArn": body["jobTemplateArn"], "documentParameters": body["documentParameters"]})).unwrap();
    let job = f.jobs.create_job(&scope(), "from-tpl", request).unwrap();
    assert_eq!(job.in_progress_timeout_minutes(), Some(3));
    let answer = f
        .device(
            "t1",
            DeviceOp::DescribeJobExecution {
                job_id: "$next".into(),
                execution_number: None,
                include_document: true,
            },
        )
        .unwrap();
    assert_eq!(answer["execution"]["jobDocument"], json!({"version": "2.1"}));
    assert_eq!(f.jobs.list_job_templates(&scope(), None, None).0.len(), 1);
    f.jobs.delete_job_template(&scope(), "tpl").unwrap();
    assert!(f.jobs.describe_job_template(&scope(), "tpl").is_err());
}

#[test]
fn failed_and_timed_out_executions_are_retried_as_the_retry_config_allows() {
    let f = fixture();
    let retry = json!({"jobExecutionsRetryConfig": {"criteriaList": [
        {"failureType": "FAILED", "numberOfRetries": 2},
        {"failureType": "TIMED_OUT", "numberOfRetries": 1}]}});
    f.create("r", &[&arn("thing", "t1")], retry).unwrap();
    f.broker.take();
    // Two FAILED executions are retried; the third stays FAILED and the job completes.
    for number in 1..=3 {
        let exec = f.jobs.describe_job_execution(&scope(), "r", "t1", None).unwrap();
        assert_eq!(
            (exec.execution_number, exec.status, exec.retry_attempt),
            (number, ExecutionStatus::Queued, number as u32 - 1)
        );
        f.update("t1", "r", ExecutionStatus::Failed).unwrap();
        let notices = f.broker.take();
        let next: Vec<&Value> = notices
            .iter()
            .filter(|(_, t, _)| t == "$aws/things/t1/jobs/notify-next")
            .map(|(_, _, p)| p)
            .collect();
        if number < 3 {
            assert_eq!(next.len(), 1, "{notices:?}");
            assert_eq!(next[0]["execution"]["executionNumber"], number + 1);
            assert_eq!(next[0]["execution"]["status"], "QUEUED");
            assert!(notices.iter().any(|(_, t, p)| t == "$aws/things/t1/jobs/notify"
                && p["jobs"]["QUEUED"][0]["executionNumber"] == number + 1));
        } else {
            assert_eq!(next[0].get("execution"), None, "no execution is pending any more");
        }
    }
    let (job, counts) = f.jobs.describe_job(&scope(), "r").unwrap();
    assert_eq!(job.status, crate::executions::state::JobStatus::Completed);
    assert_eq!((counts[&ExecutionStatus::Failed], counts[&ExecutionStatus::Queued]), (1, 0));
    let earlier = f.jobs.describe_job_execution(&scope(), "r", "t1", Some(1)).unwrap();
    assert_eq!((earlier.status, earlier.execution_number), (ExecutionStatus::Failed, 1));
    let (all, _) = f.jobs.list_job_executions_for_thing(&scope(), "t1", None, Some("r"), None, None);
    assert_eq!(all.iter().map(|e| e.execution_number).collect::<Vec<_>>(), [1, 2, 3]);
    // Paging lands between the executions of one job.
    let (first, token) = f.jobs.list_job_executions_for_thing(&scope(), "t1", None, None, Some(2), None);
    let (rest, _) =
        f.jobs.list_job_executions_for_thing(&scope(), "t1", None, None, Some(2), token.as_deref());
    assert_eq!((first.len(), rest.len(), rest[0].execution_number), (2, 1, 3));
    // TIMED_OUT: one retry, then it stays TIMED_OUT.
    f.create(
        "slow",
        &[&arn("thing", "t2")],
        json!({"timeoutConfig": {"inProgressTimeoutInMinutes": 1},
        "jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]}}),
    )
    .unwrap();
    for number in 1..=2 {
        f.device("t2", DeviceOp::StartNextPendingJobExecution(DeviceUpdate::default())).unwrap();
        f.advance(MINUTE);
        f.jobs.sweep().unwrap();
        let exec = f.jobs.describe_job_execution(&scope(), "slow", "t2", None).unwrap();
        let want = if number == 1 { (2, ExecutionStatus::Queued) } else { (2, ExecutionStatus::TimedOut) };
        assert_eq!((exec.execution_number, exec.status), want);
    }
    // REJECTED is never retried.
    f.create(
        "no",
        &[&arn("thing", "t3")],
        json!({"jobExecutionsRetryConfig": {"criteriaList": [
        {"failureType": "ALL", "numberOfRetries": 3}]}}),
    )
    .unwrap();
    f.update("t3", "no", ExecutionStatus::Rejected).unwrap();
    assert_eq!(f.jobs.describe_job_execution(&scope(), "no", "t3", None).unwrap().execution_number, 1);
    // A restart keeps the earlier executions.
    let again = fixture_with(f.store.clone());
    assert_eq!(
        again.jobs.describe_job_execution(&scope(), "r", "t1", Some(2)).unwrap().status,
        ExecutionStatus::Failed
    );
}

#[test]
fn retry_configs_are_checked_as_botocore_and_the_guide_say() {
    let f = fixture();
    let with = |list: Value| json!({"jobExecutionsRetryConfig": {"criteriaList": list}});
    let message = |extra: Value| match f.create("bad", &[&arn("thing", "t1")], extra) {
        Err(JobsError::InvalidRequest(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(with(json!([{"failureType": "FAILED", "numberOfRetries": 11}]))),
        "1 validation error detected: Value '11' at 'jobExecutionsRetryConfig.criteriaList.1.member.numberOfRetries' \
         failed to satisfy constraint: Member must have value less than or equal to 10"
    );
    assert!(message(with(json!([{"failureType": "REJECTED", "numberOfRetries": 1}])))
        .ends_with("Member must satisfy enum value set: [FAILED, TIMED_OUT, ALL]"));
    assert!(message(with(json!([]))).ends_with("Member must have length greater than or equal to 1"));
    assert!(message(with(json!([{"failureType": "FAILED", "numberOfRetries": 6},
        {"failureType": "TIMED_OUT", "numberOfRetries": 5}])))
    .contains("up to 10 retries"));
    f.create("ok", &[&arn("thing", "t1")], with(json!([{"failureType": "ALL", "numberOfRetries": 10}])))
        .unwrap();
    let update = |n: u32| {
        let body = json!({"jobExecutionsRetryConfig": {"criteriaList": [{"failureType": "ALL", "numberOfRetries": n}]}});
        f.jobs.update_job(&scope(), "ok", serde_json::from_value(body).unwrap())
    };
    assert!(matches!(update(3), Err(JobsError::InvalidRequest(_))));
    update(0).unwrap();
    let (job, _) = f.jobs.describe_job(&scope(), "ok").unwrap();
    assert_eq!(job.retry_criteria()[0].number_of_retries, 0);
}
