//! The service's tables, as every operation sees them under the one lock: jobs, executions
//! and templates of every account and region, with the checks they all share.

use crate::executions::state::{pending_order, Execution};
use crate::jobs::state::Job;
use crate::templates::state::JobTemplate;
use crate::JobsError;
use iotemu_core::Scope;
use std::collections::{BTreeMap, BTreeSet};

/// (scope, thing, job id).
pub(crate) type ExecKey = (Scope, String, String);

/// A thing's pending executions as (job id, execution number), and the next one.
pub(crate) type Snapshot = (BTreeSet<(String, i64)>, Option<(String, i64)>);

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

    /// (the pending executions as (job id, execution number), the next one): a retry replaces
    /// an execution of the same job with a new number, which counts as a change.
    pub(crate) fn snapshot(&self, scope: &Scope, thing: &str) -> Snapshot {
        let pending = pending_order(self.of_thing(scope, thing));
        let next = pending.first().map(|e| (e.job_id.clone(), e.execution_number));
        (pending.into_iter().map(|e| (e.job_id.clone(), e.execution_number)).collect(), next)
    }

    /// One thing's execution of one job: the current one, or with `number` that one, earlier
    /// (retried) executions included.
    pub fn find_execution(
        &self,
        scope: &Scope,
        thing: &str,
        job: &str,
        number: Option<i64>,
    ) -> Option<&Execution> {
        let current = self.executions.get(&(scope.clone(), thing.to_string(), job.to_string()))?;
        current.attempts().find(|e| number.is_none_or(|n| n == e.execution_number))
    }
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

/// The resource part of an IoT ARN: (`thing` | `thinggroup` | `job` | `jobtemplate`, name).
pub(crate) fn arn_resource(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let resource = rest.splitn(5, ':').nth(4)?;
    resource.split_once('/')
}

/// The page size of the Jobs list operations: `maxResults`, 50 by default, clamped to 1-250.
pub(crate) fn max_results(max: Option<usize>) -> usize {
    max.unwrap_or(50).clamp(1, 250)
}
