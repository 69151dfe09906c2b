//! The registry's event messages (`registry-events.md`), handed to core's [`ResourceEvents`],
//! which publishes the types UpdateEventConfigurations enabled. Each builder gives AWS's
//! resource fields; the publisher adds `eventType`, `eventId`, `timestamp`, `operation` and
//! `accountId`.
//!
//! Choices where AWS is silent: `membershipId` is derived from the group and thing ids, so the
//! ADDED and REMOVED events of one membership carry the same id; `deprecationDate` is in epoch
//! milliseconds like `timestamp`. A thing that leaves its groups because it or the group was
//! deleted, or loses its type because it was deleted, gets the membership or association REMOVED
//! event, before the DELETED event: the page publishes them "when a thing is ... removed from a
//! thing group" and says nothing of the cause, and a subscriber tracking memberships from the
//! events would otherwise keep members that are gone.

use crate::thing_groups::state::{ancestors, Groups, ThingGroup};
use crate::things::state::{Thing, ThingType};
use crate::Registry;
use iotemu_core::{EventConfigurationType as Kind, ResourceEvent, ResourceEvents};
use iotemu_store::Scope;
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A stable UUID-shaped id for the membership of `thing_id` in `group_id`.
fn membership_id(group_id: &str, thing_id: &str) -> String {
    let h = iotemu_core::certificate_id(format!("{group_id}/{thing_id}").as_bytes());
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Registry {
    /// Where registry events go (the `iotemu` crate wires the broker-backed publisher).
    pub fn on_events(&self, events: Arc<dyn ResourceEvents>) {
        let _ = self.events.set(events);
    }

    fn emit(
        &self,
        scope: &Scope,
        kind: Kind,
        topic: String,
        event_type: &'static str,
        operation: &'static str,
        build: impl FnOnce() -> Value,
    ) {
        let Some(events) = self.events.get() else { return };
        if !events.enabled(&scope.account, &scope.region, kind) {
            return;
        }
        let with_account = kind != Kind::ThingTypeAssociation;
        let event = ResourceEvent {
            kind,
            topic,
            event_type,
            operation: Some(operation),
            with_account,
            fields: object(build()),
        };
        events.publish(&scope.account, &scope.region, event);
    }

    /// `$aws/events/thing/{thingName}/created|updated|deleted`.
    pub(crate) fn thing_event(&self, scope: &Scope, thing: &Thing, operation: &'static str) {
        self.index_thing(scope, &thing.name);
        let topic = format!("$aws/events/thing/{}/{}", thing.name, operation.to_ascii_lowercase());
        self.emit(scope, Kind::Thing, topic, "THING_EVENT", operation, || {
            json!({
                "thingId": thing.id,
                "thingName": thing.name,
                "versionNumber": thing.version,
                "thingTypeName": thing.type_name,
                "attributes": thing.attributes,
            })
        });
    }

    /// `$aws/events/thingTypeAssociation/thing/{thing}/thingType/{type}/added|removed`.
    pub(crate) fn thing_type_association_event(
        &self,
        scope: &Scope,
        thing: &Thing,
        type_name: &str,
        added: bool,
    ) {
        self.index_thing(scope, &thing.name);
        let (operation, tail) = if added { ("ADDED", "added") } else { ("REMOVED", "removed") };
        let topic =
            format!("$aws/events/thingTypeAssociation/thing/{}/thingType/{type_name}/{tail}", thing.name);
        self.emit(
            scope,
            Kind::ThingTypeAssociation,
            topic,
            "THING_TYPE_ASSOCIATION_EVENT",
            operation,
            || json!({ "thingId": thing.id, "thingName": thing.name, "thingTypeName": type_name }),
        );
    }

    /// `$aws/events/thingType/{thingTypeName}/created|updated|deleted`.
    pub(crate) fn thing_type_event(&self, scope: &Scope, thing_type: &ThingType, operation: &'static str) {
        let topic = format!("$aws/events/thingType/{}/{}", thing_type.name, operation.to_ascii_lowercase());
        self.emit(scope, Kind::ThingType, topic, "THING_TYPE_EVENT", operation, || {
            json!({
                "thingTypeId": thing_type.id,
                "thingTypeName": thing_type.name,
                "isDeprecated": thing_type.deprecated,
                "deprecationDate": thing_type.deprecation_date.map(|s| s * 1000),
                "searchableAttributes": thing_type.searchable_attributes,
                "description": thing_type.description,
            })
        });
    }

    /// `$aws/events/thingGroup/{groupName}/created|updated|deleted`.
    pub(crate) fn thing_group_event(
        &self,
        scope: &Scope,
        groups: &Groups,
        group: &ThingGroup,
        operation: &'static str,
    ) {
        let topic = format!("$aws/events/thingGroup/{}/{}", group.name, operation.to_ascii_lowercase());
        self.emit(scope, Kind::ThingGroup, topic, "THING_GROUP_EVENT", operation, || {
            let mut line = ancestors(groups, scope, &group.name);
            line.reverse();
            let parent = line.last();
            let root_to_parent: Vec<Value> =
                line.iter().map(|g| json!({ "groupArn": g.arn, "groupId": g.id })).collect();
            json!({
                "thingGroupId": group.id,
                "thingGroupName": group.name,
                "versionNumber": group.version,
                "parentGroupName": parent.map(|g| g.name.clone()),
                "parentGroupId": parent.map(|g| g.id.clone()),
                "description": group.description,
                "rootToParentThingGroups": root_to_parent,
                "attributes": group.attributes,
                "dynamicGroupMappingId": null,
            })
        });
    }

    /// `$aws/events/thingGroupHierarchy/thingGroup/{parent}/childThingGroup/{child}/added|removed`.
    pub(crate) fn thing_group_hierarchy_event(
        &self,
        scope: &Scope,
        parent: &ThingGroup,
        child: &ThingGroup,
        added: bool,
    ) {
        let (operation, tail) = if added { ("ADDED", "added") } else { ("REMOVED", "removed") };
        let topic = format!(
            "$aws/events/thingGroupHierarchy/thingGroup/{}/childThingGroup/{}/{tail}",
            parent.name, child.name
        );
        self.emit(scope, Kind::ThingGroupHierarchy, topic, "THING_GROUP_HIERARCHY_EVENT", operation, || {
            json!({
                "thingGroupId": parent.id,
                "thingGroupName": parent.name,
                "childGroupId": child.id,
                "childGroupName": child.name,
            })
        });
    }

    /// `$aws/events/thingGroupMembership/thingGroup/{group}/thing/{thing}/added|removed`.
    pub(crate) fn thing_group_membership_event(
        &self,
        scope: &Scope,
        group: &ThingGroup,
        thing: &Thing,
        added: bool,
    ) {
        let (operation, tail) = if added { ("ADDED", "added") } else { ("REMOVED", "removed") };
        let topic =
            format!("$aws/events/thingGroupMembership/thingGroup/{}/thing/{}/{tail}", group.name, thing.name);
        self.emit(
            scope,
            Kind::ThingGroupMembership,
            topic,
            "THING_GROUP_MEMBERSHIP_EVENT",
            operation,
            || {
                json!({
                    "groupArn": group.arn,
                    "groupId": group.id,
                    "thingArn": thing.arn,
                    "thingId": thing.id,
                    "membershipId": membership_id(&group.id, &thing.id),
                })
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_keeps_its_id() {
        let id = membership_id("g", "t");
        assert_eq!(id, membership_id("g", "t"));
        assert_ne!(id, membership_id("g", "u"));
        assert_eq!(id.len(), 36);
    }
}
