//! Which entries are written: the default level (configuration, SetV2LoggingOptions'
//! `defaultLogLevel` and `disableAllLogs`) and per-target levels (SetV2LoggingLevel).
//!
//! When several targets match an entry, the most specific wins: CLIENT_ID (one connection),
//! then PRINCIPAL_ID (one certificate, maybe several clients), then SOURCE_IP (maybe several
//! principals), then THING_GROUP (many things), then the default. AWS does not document an
//! order; this one follows how many connections each target can name. A THING_GROUP target
//! matches the clients whose client id names a thing in the group or in one of its descendants;
//! the nearest group wins (a thing's own group before its ancestors). The groups of a client
//! come from the resolver the registry installs ([`LevelPolicy::set_thing_groups`]). Between the
//! targets and the default comes the entry type's level of `eventConfigurations`
//! ([`crate::event_config`]).

use crate::event_config::{EventConfiguration, EventConfigurations, OPT_IN};
use crate::{LevelFilter, LogLevel};
use iotemu_core::ClientInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

/// botocore `LogTargetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetType {
    ClientId,
    PrincipalId,
    SourceIp,
    ThingGroup,
}

/// A log target: a client id, principal, source IP or thing group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogTarget {
    #[serde(rename = "targetType")]
    pub target_type: TargetType,
    #[serde(rename = "targetName")]
    pub name: String,
}

/// The level rules, read on every event: atomics for the common case of no targets.
pub struct LevelPolicy {
    default: AtomicU8,
    /// The most verbose of the default and every target: a cheap "might any entry pass".
    loosest: AtomicU8,
    disable_all: AtomicBool,
    has_targets: AtomicBool,
    has_group_targets: AtomicBool,
    targets: RwLock<BTreeMap<LogTarget, LevelFilter>>,
    thing_groups: std::sync::OnceLock<ThingGroupResolver>,
    /// Shared with the log store, which routes entries to their type's log group.
    events: Arc<EventConfigurations>,
}

/// The thing groups of a client's thing, nearest first (its groups, then their ancestors).
pub type ThingGroupResolver = Box<dyn Fn(&ClientInfo) -> Vec<String> + Send + Sync>;

impl LevelPolicy {
    pub fn new(default: LevelFilter) -> Self {
        Self::with_events(default, Arc::default())
    }

    /// A policy whose `eventConfigurations` are `events` (shared with the log store).
    pub fn with_events(default: LevelFilter, events: Arc<EventConfigurations>) -> Self {
        LevelPolicy {
            default: AtomicU8::new(default.to_u8()),
            loosest: AtomicU8::new(default.to_u8()),
            disable_all: AtomicBool::new(false),
            has_targets: AtomicBool::new(false),
            has_group_targets: AtomicBool::new(false),
            targets: RwLock::default(),
            thing_groups: std::sync::OnceLock::new(),
            events,
        }
    }

    /// Installs how THING_GROUP targets find a client's groups (once; the registry's).
    pub fn set_thing_groups(&self, resolver: impl Fn(&ClientInfo) -> Vec<String> + Send + Sync + 'static) {
        let _ = self.thing_groups.set(Box::new(resolver));
    }

    /// Whether an entry at `level` might pass for some client (check before building one).
    #[inline]
    pub fn might_allow(&self, level: LogLevel) -> bool {
        !self.disable_all.load(Ordering::Relaxed)
            && LevelFilter::from_u8(self.loosest.load(Ordering::Relaxed)).allows(level)
    }

    /// Whether an entry of `event_type` at `level` about `client` passes.
    pub fn allows(&self, level: LogLevel, client: Option<&ClientInfo>, event_type: &str) -> bool {
        if self.disable_all.load(Ordering::Relaxed) {
            return false;
        }
        let default = match self.events.level(event_type) {
            Some(level) => level,
            None if OPT_IN.contains(&event_type) => return false,
            None => LevelFilter::from_u8(self.default.load(Ordering::Relaxed)),
        };
        let (true, Some(client)) = (self.has_targets.load(Ordering::Relaxed), client) else {
            return default.allows(level);
        };
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let lookup = |target_type, name: &str| {
            targets.get(&LogTarget { target_type, name: name.to_string() }).copied()
        };
        lookup(TargetType::ClientId, &client.client_id)
            .or_else(|| lookup(TargetType::PrincipalId, &client.principal_id))
            .or_else(|| lookup(TargetType::SourceIp, &client.source_ip))
            .or_else(|| {
                if !self.has_group_targets.load(Ordering::Relaxed) {
                    return None;
                }
                let groups = self.thing_groups.get().map(|resolve| resolve(client)).unwrap_or_default();
                groups.iter().find_map(|group| lookup(TargetType::ThingGroup, group))
            })
            .unwrap_or(default)
            .allows(level)
    }

    pub fn default_level(&self) -> LevelFilter {
        LevelFilter::from_u8(self.default.load(Ordering::Relaxed))
    }

    pub fn set_default(&self, filter: LevelFilter) {
        self.default.store(filter.to_u8(), Ordering::Relaxed);
        self.recompute();
    }

    pub fn disable_all(&self) -> bool {
        self.disable_all.load(Ordering::Relaxed)
    }

    pub fn set_disable_all(&self, disabled: bool) {
        self.disable_all.store(disabled, Ordering::Relaxed);
    }

    /// Sets (`Some`) or removes (`None`) the level of a target.
    pub fn set_target(&self, target: LogTarget, level: Option<LevelFilter>) {
        {
            let mut targets = self.targets.write().unwrap_or_else(|e| e.into_inner());
            match level {
                Some(level) => targets.insert(target, level),
                None => targets.remove(&target),
            };
            self.has_targets.store(!targets.is_empty(), Ordering::Relaxed);
            let groups = targets.keys().any(|t| t.target_type == TargetType::ThingGroup);
            self.has_group_targets.store(groups, Ordering::Relaxed);
        }
        self.recompute();
    }

    /// Replaces the `eventConfigurations` (SetV2LoggingOptions).
    pub fn set_event_configurations(&self, configurations: BTreeMap<String, EventConfiguration>) {
        self.events.set_all(configurations);
        self.recompute();
    }

    /// The `eventConfigurations` in force (shared: the log store reads the destinations).
    pub fn event_configurations(&self) -> &Arc<EventConfigurations> {
        &self.events
    }

    /// Every target and its level.
    pub fn targets(&self) -> Vec<(LogTarget, LevelFilter)> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        targets.iter().map(|(t, l)| (t.clone(), *l)).collect()
    }

    fn recompute(&self) {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let events = self.events.levels();
        let loosest = targets
            .values()
            .chain(&events)
            .chain([&self.default_level()])
            .map(|f| f.to_u8())
            .min()
            .unwrap_or(4);
        self.loosest.store(loosest, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotemu_core::Protocol;

    fn client(id: &str, principal: &str, ip: &str) -> ClientInfo {
        ClientInfo::new(Protocol::Mqtt, id, principal, format!("{ip}:1000").parse().unwrap())
    }

    fn target(target_type: TargetType, name: &str) -> LogTarget {
        LogTarget { target_type, name: name.into() }
    }

    #[test]
    fn the_most_specific_target_wins() {
        let policy = LevelPolicy::new(LevelFilter::Error);
        let a = client("a", "p1", "127.0.0.1");
        let b = client("b", "p1", "127.0.0.2");
        assert!(!policy.might_allow(LogLevel::Info));
        policy.set_target(target(TargetType::PrincipalId, "p1"), Some(LevelFilter::Info));
        policy.set_target(target(TargetType::ClientId, "a"), Some(LevelFilter::Error));
        assert!(policy.might_allow(LogLevel::Info));
        assert!(!policy.allows(LogLevel::Info, Some(&a), "Connect"), "CLIENT_ID beats PRINCIPAL_ID");
        assert!(policy.allows(LogLevel::Info, Some(&b), "Connect"), "PRINCIPAL_ID beats the default");
        assert!(!policy.allows(LogLevel::Info, Some(&client("c", "p2", "127.0.0.3")), "Connect"));
        policy.set_target(target(TargetType::SourceIp, "127.0.0.3"), Some(LevelFilter::Debug));
        assert!(policy.allows(LogLevel::Debug, Some(&client("c", "p2", "127.0.0.3")), "Connect"));
        policy.set_target(target(TargetType::PrincipalId, "p1"), None);
        assert!(!policy.allows(LogLevel::Info, Some(&b), "Connect"));
        policy.set_disable_all(true);
        assert!(!policy.allows(LogLevel::Error, Some(&a), "Connect") && !policy.might_allow(LogLevel::Error));
    }

    #[test]
    fn an_event_types_level_overrides_the_default_and_opts_ping_in() {
        let policy = LevelPolicy::new(LevelFilter::Info);
        let a = client("a", "p1", "127.0.0.1");
        assert!(!policy.allows(LogLevel::Debug, Some(&a), "Ping"), "Ping is off until configured");
        assert!(
            !policy.allows(LogLevel::Error, Some(&a), "Connection.AuthNError"),
            "so is Connection.AuthNError"
        );
        assert!(!policy.might_allow(LogLevel::Debug));
        let level = |l| EventConfiguration { level: Some(l), destination: None };
        policy.set_event_configurations(
            [
                ("Ping".to_string(), level(LevelFilter::Debug)),
                ("Connect".to_string(), level(LevelFilter::Error)),
                ("Connection.AuthNError".to_string(), level(LevelFilter::Error)),
            ]
            .into(),
        );
        assert!(policy.might_allow(LogLevel::Debug));
        assert!(policy.allows(LogLevel::Debug, Some(&a), "Ping"));
        assert!(policy.allows(LogLevel::Error, Some(&a), "Connection.AuthNError"));
        assert!(!policy.allows(LogLevel::Info, Some(&a), "Connect"), "the type's level beats the default");
        assert!(policy.allows(LogLevel::Info, Some(&a), "Subscribe"));
        policy.set_target(target(TargetType::ClientId, "a"), Some(LevelFilter::Info));
        assert!(policy.allows(LogLevel::Info, Some(&a), "Connect"), "a target beats the type's level");
    }

    #[test]
    fn the_nearest_thing_group_wins_after_the_other_targets() {
        let policy = LevelPolicy::new(LevelFilter::Error);
        policy.set_thing_groups(|c: &ClientInfo| match &*c.client_id {
            "lamp" => vec!["kitchen".to_string(), "house".to_string()],
            _ => Vec::new(),
        });
        policy.set_target(target(TargetType::ThingGroup, "house"), Some(LevelFilter::Info));
        let lamp = client("lamp", "p", "127.0.0.1");
        assert!(policy.allows(LogLevel::Info, Some(&lamp), "Connect"), "through the parent group");
        assert!(!policy.allows(LogLevel::Info, Some(&client("fan", "p", "127.0.0.1")), "Connect"));
        policy.set_target(target(TargetType::ThingGroup, "kitchen"), Some(LevelFilter::Warn));
        assert!(!policy.allows(LogLevel::Info, Some(&lamp), "Connect"), "the thing's own group is nearer");
        policy.set_target(target(TargetType::ClientId, "lamp"), Some(LevelFilter::Debug));
        assert!(policy.allows(LogLevel::Debug, Some(&lamp), "Connect"), "CLIENT_ID beats THING_GROUP");
    }
}
