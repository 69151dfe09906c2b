//! SetV2LoggingOptions' `eventConfigurations` (botocore `iot` `LogEventConfiguration`:
//! `eventType`, `logLevel`, `logDestination`): per entry type, a level that overrides the
//! account's default level, and a CloudWatch log group that receives that type's entries
//! instead of `AWSIotLogsV2`.
//!
//! Choices where AWS is silent (`docs/aws-behaviour.md` §5): a per-target level
//! (SetV2LoggingLevel) still wins over an event type's level, as the more specific setting; an
//! event type's level applies whatever the target; the entries AWS writes only when opted into
//! ([`OPT_IN`]) are written only when their type has a level here.

use crate::LevelFilter;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

/// Entry types AWS writes only when `eventConfigurations` names them: Ping and
/// Connection.AuthNError, both "off by default" and opted into per event type (AWS's log-entry
/// page and its June 2026 announcement of the two; `docs/aws-behaviour.md`).
pub const OPT_IN: [&str; 2] = ["Ping", "Connection.AuthNError"];

/// One event type's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventConfiguration {
    /// Overrides the default level for this type.
    pub level: Option<LevelFilter>,
    /// The log group of this type's entries.
    pub destination: Option<String>,
}

/// Every event type's configuration, read on every entry: an atomic for the common case of none.
#[derive(Debug, Default)]
pub struct EventConfigurations {
    any: AtomicBool,
    by_type: RwLock<BTreeMap<String, EventConfiguration>>,
}

impl EventConfigurations {
    /// Replaces every configuration (SetV2LoggingOptions sets the whole list).
    pub fn set_all(&self, configurations: BTreeMap<String, EventConfiguration>) {
        let mut by_type = self.by_type.write().unwrap_or_else(|e| e.into_inner());
        self.any.store(!configurations.is_empty(), Ordering::Relaxed);
        *by_type = configurations;
    }

    /// Every configuration, by event type.
    pub fn all(&self) -> BTreeMap<String, EventConfiguration> {
        self.by_type.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The level configured for `event_type`.
    pub fn level(&self, event_type: &str) -> Option<LevelFilter> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.by_type.read().unwrap_or_else(|e| e.into_inner()).get(event_type).and_then(|c| c.level)
    }

    /// The log group configured for `event_type`.
    pub fn destination(&self, event_type: &str) -> Option<String> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let by_type = self.by_type.read().unwrap_or_else(|e| e.into_inner());
        by_type.get(event_type).and_then(|c| c.destination.clone())
    }

    /// The configured levels (for the policy's "might anything pass").
    pub fn levels(&self) -> Vec<LevelFilter> {
        let by_type = self.by_type.read().unwrap_or_else(|e| e.into_inner());
        by_type.values().filter_map(|c| c.level).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_has_its_level_and_destination_until_replaced() {
        let configurations = EventConfigurations::default();
        assert_eq!(configurations.level("Connect"), None);
        let connect = EventConfiguration { level: Some(LevelFilter::Error), destination: Some("g".into()) };
        configurations.set_all([("Connect".to_string(), connect)].into());
        assert_eq!(configurations.level("Connect"), Some(LevelFilter::Error));
        assert_eq!(configurations.destination("Connect").as_deref(), Some("g"));
        assert_eq!(configurations.destination("Subscribe"), None);
        configurations.set_all(BTreeMap::new());
        assert_eq!(configurations.level("Connect"), None);
    }
}
