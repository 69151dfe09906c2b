//! Dynamic thing groups (developer guide `dynamic-thing-groups.md`): groups whose members the
//! fleet index (`iotemu-index`) chooses by a query. The registry keeps them beside the static
//! groups (a [`ThingGroup`] with `dynamic` set) and their members beside static members, so
//! DescribeThingGroup, ListThingGroups, ListThingsInThingGroup, job targets and THING_GROUP log
//! levels treat them as static groups. The index parses queries and decides who matches; this
//! file only applies its decisions under the guide's limits and conflict rules:
//! - a thing is in at most [`MAX_GROUPS_PER_THING`] groups, dynamic or static;
//! - "Older dynamic thing groups take priority over newer ones": a thing at the limit that
//!   matches an older dynamic group leaves its newest dynamic group for it;
//! - "With `overrideDynamicGroups` enabled, static groups take priority" (see
//!   `change_groups_of_thing`);
//! - dynamic groups have no parent or children, take no policies, and take no explicit members
//!   (AddThingToThingGroup, RemoveThingFromThingGroup and UpdateThingGroupsForThing refuse them
//!   with InvalidRequestException).

use crate::thing_groups::state::{
    check_description, check_group_name, check_group_version, group_not_found, DynamicQuery, Groups,
    ThingGroup, ThingGroupProperties, MAX_GROUPS_PER_THING, THING_GROUP,
};
use crate::things::state::{apply_attributes, check_attributes, Thing};
use crate::{Registry, RegistryError};
use iotemu_core::{IndexChange, IndexFeed, Scope};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The dynamic groups a thing matched but could not join (or left to make room): the content
/// of one AddThingToDynamicThingGroupsFailed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicGroupsFailed {
    pub thing: String,
    pub groups: Vec<String>,
}

fn dynamic_only(name: &str) -> RegistryError {
    RegistryError::InvalidRequest(format!("Thing group {name} is not a dynamic thing group."))
}

/// Refuses explicit membership changes of a dynamic group (guide: "Thing membership is not
/// explicitly defined").
pub(crate) fn check_static(groups: &Groups, scope: &Scope, name: &str) -> Result<(), RegistryError> {
    match groups.get(&(scope.clone(), name.to_string())) {
        Some(g) if g.dynamic.is_some() => Err(RegistryError::InvalidRequest(format!(
            "Cannot add or remove things explicitly to or from dynamic thing group {name}."
        ))),
        _ => Ok(()),
    }
}

/// The dynamic groups among `names`, newest first (the ones a thing leaves first).
pub(crate) fn newest_dynamic_first(groups: &Groups, scope: &Scope, names: &BTreeSet<String>) -> Vec<String> {
    let mut dynamic: Vec<&ThingGroup> = names
        .iter()
        .filter_map(|n| groups.get(&(scope.clone(), n.clone())))
        .filter(|g| g.dynamic.is_some())
        .collect();
    dynamic.sort_by(|a, b| (b.created_ms, &b.name).cmp(&(a.created_ms, &a.name)));
    dynamic.into_iter().map(|g| g.name.clone()).collect()
}

impl Registry {
    /// Tells `index` of every change of a thing's registry data from now on.
    pub fn attach_index(&self, index: Arc<dyn IndexFeed>) {
        let _ = self.index.set(index);
    }

    /// Queues a change of `thing` for the fleet index (one bounded channel send).
    pub(crate) fn index_thing(&self, scope: &Scope, thing: &str) {
        if let Some(index) = self.index.get() {
            index.changed(IndexChange::Thing { scope: scope.clone(), thing: thing.to_string() });
        }
    }

    /// Queues a failed dynamic membership for the index to write its entry.
    pub(crate) fn report_dynamic_failure(&self, scope: &Scope, failed: DynamicGroupsFailed) {
        if let Some(index) = self.index.get() {
            index.changed(IndexChange::DynamicGroupsFailed {
                scope: scope.clone(),
                thing: failed.thing,
                groups: failed.groups,
            });
        }
    }

    /// CreateDynamicThingGroup's registry part: the group, with status BUILDING until the index
    /// has filled it ([`Registry::set_dynamic_status`]). The index has checked the query.
    pub fn create_dynamic_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        properties: ThingGroupProperties,
        query: DynamicQuery,
    ) -> Result<ThingGroup, RegistryError> {
        check_group_name(name)?;
        if let Some(description) = &properties.description {
            check_description(description)?;
        }
        let attributes = properties.attributes.map(|(a, _)| a).unwrap_or_default();
        check_attributes(&attributes)?;
        let mut groups = self.thing_groups.write();
        let key = (scope.clone(), name.to_string());
        if groups.contains_key(&key) {
            return Err(RegistryError::AlreadyExists(format!("Thing group {name} already exists")));
        }
        let group = ThingGroup {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thinggroup/{name}", scope.region, scope.account),
            description: properties.description,
            attributes,
            parent: None,
            version: 1,
            created_ms: self.now_millis(),
            dynamic: Some(query),
        };
        self.put(THING_GROUP, scope, name, &group)?;
        groups.insert(key, group.clone());
        self.thing_group_event(scope, &groups, &group, "CREATED");
        Ok(group)
    }

    /// UpdateDynamicThingGroup's registry part: properties as UpdateThingGroup, and a new query
    /// (status REBUILDING until the index has refilled the group). Returns the new version.
    pub fn update_dynamic_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        properties: ThingGroupProperties,
        expected_version: Option<i64>,
        query: Option<(String, Option<String>)>,
    ) -> Result<i64, RegistryError> {
        if let Some(description) = &properties.description {
            check_description(description)?;
        }
        let mut groups = self.thing_groups.write();
        let key = (scope.clone(), name.to_string());
        let group = groups.get(&key).ok_or_else(|| group_not_found(name))?;
        let Some(dynamic) = &group.dynamic else { return Err(dynamic_only(name)) };
        check_group_version(group, expected_version)?;
        let mut next = group.clone();
        let mut dynamic = dynamic.clone();
        if let Some((query_string, query_version)) = query {
            dynamic.query_string = query_string;
            if let Some(version) = query_version {
                dynamic.query_version = version;
            }
            dynamic.status = "REBUILDING".into();
        }
        next.dynamic = Some(dynamic);
        if properties.description.is_some() {
            next.description = properties.description;
        }
        if let Some((attributes, merge)) = properties.attributes {
            apply_attributes(&mut next.attributes, attributes, merge);
            check_attributes(&next.attributes)?;
        }
        next.version += 1;
        self.put(THING_GROUP, scope, name, &next)?;
        let version = next.version;
        self.thing_group_event(scope, &groups, &next, "UPDATED");
        groups.insert(key, next);
        Ok(version)
    }

    /// DeleteDynamicThingGroup: as DeleteThingGroup, for dynamic groups only.
    pub fn delete_dynamic_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        let dynamic = match self.thing_groups.read().get(&(scope.clone(), name.to_string())) {
            None => return Ok(()),
            Some(g) => g.dynamic.is_some(),
        };
        if !dynamic {
            return Err(dynamic_only(name));
        }
        self.delete_thing_group(scope, name, expected_version)
    }

    /// Sets the status of a dynamic group (BUILDING/REBUILDING -> ACTIVE once filled).
    pub fn set_dynamic_status(&self, scope: &Scope, name: &str, status: &str) -> Result<(), RegistryError> {
        let mut groups = self.thing_groups.write();
        let Some(group) = groups.get_mut(&(scope.clone(), name.to_string())) else { return Ok(()) };
        if group.dynamic.as_ref().is_none_or(|d| d.status == status) {
            return Ok(());
        }
        let mut next = group.clone();
        if let Some(d) = next.dynamic.as_mut() {
            d.status = status.to_string();
        }
        self.put(THING_GROUP, scope, name, &next)?;
        *group = next;
        Ok(())
    }

    /// Every dynamic group of every account and region.
    pub fn dynamic_thing_groups(&self) -> Vec<(Scope, ThingGroup)> {
        let groups = self.thing_groups.read();
        groups.iter().filter(|(_, g)| g.dynamic.is_some()).map(|((s, _), g)| (s.clone(), g.clone())).collect()
    }

    /// Whether `name` is a dynamic group of `scope`.
    pub fn is_dynamic_group(&self, scope: &Scope, name: &str) -> bool {
        self.thing_groups.read().get(&(scope.clone(), name.to_string())).is_some_and(|g| g.dynamic.is_some())
    }

    /// A thing and the names of its direct groups, as the index reads them.
    pub fn indexed_thing(&self, scope: &Scope, name: &str) -> Option<(Thing, Vec<String>)> {
        let things = self.things.read();
        let thing = things.get(&(scope.clone(), name.to_string()))?.clone();
        let memberships = self.group_memberships.read();
        let groups = memberships.get(&(scope.clone(), name.to_string())).cloned().unwrap_or_default();
        Some((thing, groups.into_iter().collect()))
    }

    /// Every thing of every account and region with its direct groups (the index's rebuild).
    pub fn indexed_things(&self) -> Vec<(Scope, Thing, Vec<String>)> {
        let things = self.things.read();
        let memberships = self.group_memberships.read();
        things
            .iter()
            .map(|((scope, name), thing)| {
                let groups = memberships.get(&(scope.clone(), name.clone())).cloned().unwrap_or_default();
                (scope.clone(), thing.clone(), groups.into_iter().collect())
            })
            .collect()
    }

    /// Makes `thing`'s dynamic memberships follow `matching` (the dynamic groups whose query it
    /// matches): it leaves those it no longer matches and joins the others as the limit allows,
    /// older groups first. Returns the thing's direct groups afterwards and the groups it could
    /// not join or had to leave (AddThingToDynamicThingGroupsFailed), if any.
    pub fn set_dynamic_memberships(
        &self,
        scope: &Scope,
        thing: &str,
        matching: &BTreeSet<String>,
    ) -> Result<(Vec<String>, Option<DynamicGroupsFailed>), RegistryError> {
        let things = self.things.read();
        let Some(thing_doc) = things.get(&(scope.clone(), thing.to_string())) else {
            return Ok((Vec::new(), None));
        };
        let groups = self.thing_groups.read();
        let mut memberships = self.group_memberships.write();
        let current = memberships.get(&(scope.clone(), thing.to_string())).cloned().unwrap_or_default();
        let is_dynamic =
            |n: &String| groups.get(&(scope.clone(), n.clone())).is_some_and(|g| g.dynamic.is_some());
        let mut next: BTreeSet<String> =
            current.iter().filter(|n| !is_dynamic(n) || matching.contains(*n)).cloned().collect();
        let mut joining: Vec<&ThingGroup> = matching
            .iter()
            .filter(|n| !next.contains(*n))
            .filter_map(|n| groups.get(&(scope.clone(), n.clone())))
            .filter(|g| g.dynamic.is_some())
            .collect();
        joining.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
        let mut failed: Vec<String> = Vec::new();
        for group in joining {
            if next.len() < MAX_GROUPS_PER_THING {
                next.insert(group.name.clone());
                continue;
            }
            // At the limit: an older group displaces the newest dynamic group, if newer.
            let newest = newest_dynamic_first(&groups, scope, &next).into_iter().next();
            let newer = newest.filter(|n| {
                groups
                    .get(&(scope.clone(), n.clone()))
                    .is_some_and(|g| (g.created_ms, &g.name) > (group.created_ms, &group.name))
            });
            match newer {
                Some(evicted) => {
                    next.remove(&evicted);
                    next.insert(group.name.clone());
                    failed.push(evicted);
                }
                None => failed.push(group.name.clone()),
            }
        }
        if next != current {
            let added: Vec<String> = next.difference(&current).cloned().collect();
            let removed: Vec<String> = current.difference(&next).cloned().collect();
            self.save_memberships(&mut memberships, scope, thing, next.clone())?;
            let changes = added.iter().map(|g| (g, true)).chain(removed.iter().map(|g| (g, false)));
            for (group, was_added) in changes {
                if let Some(group) = groups.get(&(scope.clone(), group.clone())) {
                    self.thing_group_membership_event(scope, group, thing_doc, was_added);
                }
            }
        }
        let failed =
            (!failed.is_empty()).then(|| DynamicGroupsFailed { thing: thing.to_string(), groups: failed });
        Ok((next.into_iter().collect(), failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertAuthority;
    use crate::NameOrArn;
    use iotemu_core::{Clock, SystemClock};
    use iotemu_store::Store;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock that moves one millisecond per reading, so that groups have distinct ages.
    struct Ticking(AtomicU64);
    impl Clock for Ticking {
        fn now_millis(&self) -> u64 {
            self.0.fetch_add(1, Ordering::SeqCst)
        }
        fn now_secs(&self) -> u64 {
            SystemClock.now_secs()
        }
    }

    fn registry() -> (Registry, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(CertAuthority::load_or_create(dir.path()).unwrap());
        let store = Arc::new(Store::in_memory().unwrap());
        let r = Registry::load(store, ca).unwrap().with_clock(Arc::new(Ticking(AtomicU64::new(1000))));
        (r, dir)
    }

    fn query() -> DynamicQuery {
        DynamicQuery {
            query_string: "*".into(),
            index_name: "AWS_Things".into(),
            query_version: "2017-09-30".into(),
            status: "BUILDING".into(),
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// dynamic-thing-groups.md, "Limitations and conflicts": the limit, older groups first, and
    /// static groups first with overrideDynamicGroups.
    #[test]
    fn the_limit_follows_the_documented_conflict_rules() {
        let (r, _dir) = registry();
        let s = Scope::new("123456789012", "us-east-1");
        r.create_thing(&s, "t", None, BTreeMap::new()).unwrap();
        let statics: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        for g in &statics {
            r.create_thing_group(&s, g, None, Default::default()).unwrap();
        }
        for d in ["old", "mid", "new"] {
            r.create_dynamic_thing_group(&s, d, Default::default(), query()).unwrap();
        }
        r.update_thing_groups_for_thing(&s, "t", &statics[..8], &[], false).unwrap();
        // Room for two: the two oldest join, the newest fails.
        let (groups, failed) = r.set_dynamic_memberships(&s, "t", &set(&["old", "mid", "new"])).unwrap();
        assert!(groups.contains(&"old".to_string()) && groups.contains(&"mid".to_string()));
        assert_eq!(failed.unwrap().groups, ["new"]);
        // Explicit members of a dynamic group are refused.
        let add = r.add_thing_to_thing_group(
            &s,
            &NameOrArn::Name("old".into()),
            &NameOrArn::Name("t".into()),
            false,
        );
        assert!(matches!(add, Err(RegistryError::InvalidRequest(_))));
        // A static group at the limit: refused, unless the newest dynamic group gives way.
        let name = |n: &str| NameOrArn::Name(n.into());
        assert!(r.add_thing_to_thing_group(&s, &name("s8"), &name("t"), false).is_err());
        r.add_thing_to_thing_group(&s, &name("s8"), &name("t"), true).unwrap();
        let now = r.thing_group_hierarchy(&s, "t");
        assert!(now.contains(&"old".to_string()) && !now.contains(&"mid".to_string()));
        // Leaving a static group makes room; no longer matching empties the dynamic ones.
        r.remove_thing_from_thing_group(&s, &name("s0"), &name("t")).unwrap();
        let (groups, failed) = r.set_dynamic_memberships(&s, "t", &set(&["mid"])).unwrap();
        assert!(failed.is_none());
        assert!(groups.contains(&"mid".to_string()) && !groups.contains(&"old".to_string()));
    }
}
