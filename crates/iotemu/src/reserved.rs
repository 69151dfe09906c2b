//! The one place where `$aws/...` publishes meet the services (DESIGN.md, "The way of one
//! publish"). No service is attached yet, so every reserved topic is routed like any other; the
//! shadow, jobs, rules and provisioning services attach here as they arrive.

use bytes::Bytes;
use iotemu_core::{Disposition, RequestContext, ReservedTopic, ReservedTopicHandler};

/// Dispatches reserved-topic publishes to the services that own them.
#[derive(Debug, Default)]
pub struct ReservedTopicRouter {}

impl ReservedTopicHandler for ReservedTopicRouter {
    fn on_publish(&self, ctx: &RequestContext, topic: &ReservedTopic<'_>, payload: &Bytes) -> Disposition {
        tracing::trace!(client = %ctx.client.client_id, ?topic, bytes = payload.len(), "reserved topic");
        Disposition::Deliver
    }
}
