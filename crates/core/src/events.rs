//! The seam through which the registry and the Jobs service publish the event messages of
//! `iot-events.md` (`$aws/events/thing/...`, `thingGroup`, `thingType`, memberships, hierarchy,
//! type associations, `job`, `jobExecution`) without knowing the broker or the account's event
//! configuration. The `iotemu` crate implements [`ResourceEvents`]: it publishes only the types
//! that UpdateEventConfigurations enabled (all are off until then, as on AWS).

use serde_json::{Map, Value};

/// The `eventConfigurations` keys of UpdateEventConfigurations (botocore `iot` `EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventConfigurationType {
    Thing,
    ThingGroup,
    ThingType,
    ThingGroupMembership,
    ThingGroupHierarchy,
    ThingTypeAssociation,
    Job,
    JobExecution,
    Policy,
    Certificate,
    CaCertificate,
}

impl EventConfigurationType {
    /// Every type, in botocore's order.
    pub const ALL: [EventConfigurationType; 11] = [
        Self::Thing,
        Self::ThingGroup,
        Self::ThingType,
        Self::ThingGroupMembership,
        Self::ThingGroupHierarchy,
        Self::ThingTypeAssociation,
        Self::Job,
        Self::JobExecution,
        Self::Policy,
        Self::Certificate,
        Self::CaCertificate,
    ];

    /// The key as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Thing => "THING",
            Self::ThingGroup => "THING_GROUP",
            Self::ThingType => "THING_TYPE",
            Self::ThingGroupMembership => "THING_GROUP_MEMBERSHIP",
            Self::ThingGroupHierarchy => "THING_GROUP_HIERARCHY",
            Self::ThingTypeAssociation => "THING_TYPE_ASSOCIATION",
            Self::Job => "JOB",
            Self::JobExecution => "JOB_EXECUTION",
            Self::Policy => "POLICY",
            Self::Certificate => "CERTIFICATE",
            Self::CaCertificate => "CA_CERTIFICATE",
        }
    }

    /// The type named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One event message: the resource's own fields go in `fields`; the publisher adds `eventType`,
/// `eventId`, `timestamp`, `operation` and (unless `with_account` is false) `accountId`.
#[derive(Debug, Clone)]
pub struct ResourceEvent {
    pub kind: EventConfigurationType,
    pub topic: String,
    /// `THING_EVENT`, `THING_GROUP_MEMBERSHIP_EVENT`, `JOB`, ...
    pub event_type: &'static str,
    /// `CREATED`, `UPDATED`, `DELETED`, `ADDED`, `REMOVED`, ...; `None` where AWS's payload has
    /// no `operation` (jobs).
    pub operation: Option<&'static str>,
    /// Whether AWS's payload has `accountId` (the thing type association's has not).
    pub with_account: bool,
    pub fields: Map<String, Value>,
}

/// Publishes registry and jobs events, if the account and region enabled their type.
pub trait ResourceEvents: Send + Sync + 'static {
    /// Whether `kind` is enabled, so a caller can skip building an event nobody gets.
    fn enabled(&self, account: &str, region: &str, kind: EventConfigurationType) -> bool;
    /// Publishes `event` if its type is enabled.
    fn publish(&self, account: &str, region: &str, event: ResourceEvent);
}

/// Publishes nothing (tests, and a registry with no broker).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl ResourceEvents for NoEvents {
    fn enabled(&self, _: &str, _: &str, _: EventConfigurationType) -> bool {
        false
    }
    fn publish(&self, _: &str, _: &str, _: ResourceEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventConfigurationType::ALL {
            assert_eq!(EventConfigurationType::parse(t.name()), Some(t));
        }
        assert_eq!(EventConfigurationType::parse("THINGS"), None);
    }
}
