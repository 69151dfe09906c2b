//! Time in the Jobs service: step and in-progress timeouts, the rollout rate and CONTINUOUS
//! jobs' new targets, swept several times per timer "minute" ([`Jobs::run_timers`]).

use crate::executions::state::{Execution, ExecutionStatus, JobStatus, TargetSelection};
use crate::jobs::state::Job;
use crate::{Jobs, JobsError};
use iotemu_core::Scope;
use std::collections::BTreeSet;
use std::sync::Arc;

impl Jobs {
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
}
