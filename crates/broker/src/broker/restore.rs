//! Reading back, at start, what the store keeps (see `persist`): retained messages and the
//! persistent sessions with their subscriptions and queued messages.

use super::{Broker, Retained};
use crate::persist::{instant_of, Journal};
use crate::router::Target;
use crate::session::Session;
use crate::topic::parse_filter;
use std::sync::Arc;
use std::time::Instant;

impl Broker {
    /// Keeps retained messages and persistent sessions in `store` (for the account and region
    /// of `scope`) from now on, after loading what it holds: call once, before the listeners
    /// start. Sessions whose expiry passed while the emulator was stopped are ended.
    pub fn attach_store(&self, store: Arc<iotemu_store::Store>, scope: iotemu_store::Scope) {
        let journal = Journal::new(store, scope);
        {
            let mut retained = self.shared.retained.lock();
            for r in journal.load_retained() {
                retained
                    .insert(r.message.topic.clone(), Retained { message: r.message, stored_at: r.stored_at });
            }
        }
        let now = Instant::now();
        let mut sessions = self.shared.sessions.lock();
        let mut tree = self.shared.tree.write();
        for stored in journal.load_sessions() {
            // Online when the emulator stopped: the session's expiry starts now.
            let disconnected_at = stored.disconnected_at_ms.map_or(now, instant_of);
            if stored.expiry.is_zero() || now.duration_since(disconnected_at) >= stored.expiry {
                journal.delete_session(&stored.client_id);
                continue;
            }
            let session = Arc::new(Session::new(stored.client_id.clone(), stored.version, stored.expiry));
            {
                let mut state = session.state.lock();
                state.disconnected_at = Some(disconnected_at);
                state.persisted = true;
                state.owner = stored.owner;
                state.next_seq = stored.queue.last().map_or(0, |(seq, _)| *seq);
                for (seq, mut delivery) in stored.queue {
                    delivery.stored = Some(seq);
                    state.queue.push_back(delivery);
                }
                for (filter, options) in &stored.subscriptions {
                    if let Ok(parsed) = parse_filter(filter, &self.shared.config.limits) {
                        let target = Target { session: session.clone(), options: *options };
                        tree.insert(parsed.share_group, parsed.filter, target);
                    }
                }
                state.subscriptions = stored.subscriptions;
            }
            sessions.insert(stored.client_id, session);
        }
        drop(tree);
        drop(sessions);
        let _ = self.shared.journal.set(journal);
    }
}
