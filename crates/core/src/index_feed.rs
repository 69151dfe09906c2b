//! What the fleet index (`iotemu-index`) is told about: the changes that alter a thing's indexed
//! document. The registry, the shadow service and the broker call [`IndexFeed::changed`]; the
//! implementation only queues the change (one bounded channel send) and never blocks.

use crate::Scope;
use std::sync::Arc;

/// One change the fleet index must look at.
#[derive(Debug, Clone)]
pub enum IndexChange {
    /// A thing was created, updated or deleted, or its groups or type changed.
    Thing { scope: Scope, thing: String },
    /// A shadow of `thing` (classic or named) was updated or deleted.
    Shadow { scope: Scope, thing: String },
    /// A client connected to the MQTT listeners (whose account and region the index knows).
    Connected { client_id: Arc<str>, timestamp: u64 },
    /// A client's connection ended, with AWS's `disconnectReason`.
    Disconnected { client_id: Arc<str>, timestamp: u64, reason: String },
    /// `thing` matched dynamic groups it could not join, or left them for a static group
    /// (`overrideDynamicGroups`): an AddThingToDynamicThingGroupsFailed entry.
    DynamicGroupsFailed { scope: Scope, thing: String, groups: Vec<String> },
}

/// Where index changes go.
pub trait IndexFeed: Send + Sync + 'static {
    /// Queues `change`; never blocks.
    fn changed(&self, change: IndexChange);
}
