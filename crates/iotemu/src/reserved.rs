//! The one place where `$aws/...` publishes meet the services (`docs/architecture.md`, "The way
//! of one publish"). Shadow requests (`$aws/things/T/shadow/[name/N/]get|update|delete`) go to the
//! Device Shadow service; Basic Ingest publishes (`$aws/rules/R/...`) go to the rules engine
//! only; Jobs requests (`$aws/things/T/jobs/...`) go to the Jobs service, which answers the
//! requester alone; fleet provisioning requests (`$aws/certificates/create[-from-csr]/F`,
//! `$aws/provisioning-templates/T/provision/F`) go to the provisioning service, which answers the
//! requester alone; every other reserved topic, answers included, is routed like any other.

use bytes::Bytes;
use iotemu_core::Scope;
use iotemu_core::{Disposition, RequestContext, ReservedTopic, ReservedTopicHandler};
use iotemu_rules::RulesEngine;
use iotemu_shadow::mqtt::ShadowRequest;
use iotemu_shadow::ShadowRequests;
use std::sync::{Arc, OnceLock};

/// Dispatches reserved-topic publishes to the services that own them.
pub struct ReservedTopicRouter {
    /// The account and region of MQTT clients.
    scope: Scope,
    /// Set once the broker exists: the shadow service publishes its answers through it.
    shadows: OnceLock<Arc<ShadowRequests>>,
    /// Set once the broker exists: the jobs service answers through it.
    jobs: OnceLock<Arc<iotemu_jobs::Jobs>>,
    /// Set once the rules engine exists (it republishes through the broker).
    rules: OnceLock<RulesEngine>,
    /// Set once the broker exists: the provisioning service answers through it.
    provisioning: OnceLock<Arc<iotemu_provisioning::Provisioning>>,
}

impl ReservedTopicRouter {
    pub fn new(scope: Scope) -> Self {
        ReservedTopicRouter {
            scope,
            shadows: OnceLock::new(),
            jobs: OnceLock::new(),
            rules: OnceLock::new(),
            provisioning: OnceLock::new(),
        }
    }

    /// Attaches the shadow service.
    pub fn attach_shadows(&self, shadows: Arc<ShadowRequests>) {
        let _ = self.shadows.set(shadows);
    }

    /// Attaches the jobs service.
    pub fn attach_jobs(&self, jobs: Arc<iotemu_jobs::Jobs>) {
        let _ = self.jobs.set(jobs);
    }

    /// Attaches the fleet provisioning service.
    pub fn attach_provisioning(&self, provisioning: Arc<iotemu_provisioning::Provisioning>) {
        let _ = self.provisioning.set(provisioning);
    }

    /// Attaches the rules engine (Basic Ingest).
    pub fn attach_rules(&self, rules: RulesEngine) {
        let _ = self.rules.set(rules);
    }
}

/// Runs `f`, which blocks on SQLite, so that the runtime's other tasks move to another worker
/// meanwhile (`block_in_place`, on the multi-threaded runtime the binary uses); elsewhere, as is.
/// The connection that sent the (jobs) request waits, as it must: its answer follows the commit.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl ReservedTopicHandler for ReservedTopicRouter {
    /// A shadow request is handed to the shadow service, which answers it once its update is
    /// committed (`/accepted` only after the commit); the request itself still reaches the
    /// subscribers of its topic, as on AWS. A Basic Ingest message reaches its rule and nothing else.
    fn on_publish(&self, ctx: &RequestContext, topic: &ReservedTopic<'_>, payload: &Bytes) -> Disposition {
        if let (ReservedTopic::BasicIngest { rule, topic }, Some(rules)) = (topic, self.rules.get()) {
            rules.ingest(&ctx.client, ctx.trace_id, rule, topic, payload);
            return Disposition::Consumed;
        }
        // Only AWS IoT publishes events (`reserved-topics.md`: clients may subscribe only); a
        // client's message on `$aws/events/...` reaches nobody, so it cannot forge one.
        if let ReservedTopic::Events { .. } = topic {
            return Disposition::Consumed;
        }
        if let ReservedTopic::Shadow { thing, rest } = topic {
            if let (Some(request), Some(shadows)) = (ShadowRequest::parse(thing, rest), self.shadows.get()) {
                // Answered from the shadow writer once committed; the connection goes on.
                shadows.handle_without_waiting(&self.scope, &ctx.client, ctx.trace_id, &request, payload);
            }
        }
        // A jobs request is answered (to its requester only) before it is routed on like any
        // message; `jobs/notify*` and the answers' topics pass through untouched.
        if let (ReservedTopic::Jobs { thing, rest }, Some(jobs)) = (topic, self.jobs.get()) {
            off_the_runtime(|| {
                iotemu_jobs::device::mqtt::handle_publish(jobs, &self.scope, ctx, thing, rest, payload)
            });
        }
        // A fleet provisioning request is served off the connection's task (key generation, a
        // pre-provisioning hook) and answered to its requester alone; it is routed on meanwhile.
        if let (ReservedTopic::Provisioning { rest }, Some(provisioning)) = (topic, self.provisioning.get()) {
            iotemu_provisioning::mqtt::handle_publish(provisioning, &self.scope, ctx, rest, payload);
        }
        Disposition::Deliver
    }
}
