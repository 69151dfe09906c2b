//! Static thing groups (developer guide `thing-groups.md`; botocore `CreateThingGroup` and
//! friends): the [`ThingGroup`] document, its hierarchy, memberships, and the operations.
//!
//! Memberships are stored per thing (kind `thing-group-membership`, key = thing name, value = the
//! names of its groups), so that DeleteThing drops them with the thing.
//!
//! Choices where AWS is unclear or where the emulator is simpler:
//! - DeleteThingGroup refuses a group with child groups (InvalidRequestException, as the guide
//!   shows); its things stop being members (with membership REMOVED events).
//! - ListThingGroups without `recursive`: with `parentGroup`, the direct children (as the guide's
//!   example); without it, every group. `recursive=false` without `parentGroup` lists the root
//!   groups only.
//! - A thing may be in at most 10 groups (guide, "Add a thing to a static thing group"); the
//!   guide's "not two groups of one hierarchy" rule is not enforced, because its own
//!   ListThingGroupsForThing example shows a thing in a group and in that group's child.
//! - No limits on hierarchy depth or number of children (the guide only links to the quotas).

use crate::paging::{paginate, Page};
use crate::service::load_kind;
use crate::thing_groups::dynamic::{check_static, newest_dynamic_first, DynamicGroupsFailed};
use crate::thing_groups::state::{
    ancestors, check_description, check_group_name, check_group_version, descendants, group_not_found,
    resolve_group, with_ancestors, GroupNameAndArn, Groups, ListThingGroups, Memberships, NameOrArn,
    ThingGroup, ThingGroupDescription, ThingGroupProperties, GROUP_MEMBERSHIP, MAX_GROUPS_PER_THING,
    THING_GROUP,
};
use crate::things::state::{apply_attributes, check_attributes, Thing};
use crate::{Registry, RegistryError};
use iotemu_core::Scope;
use iotemu_store::Store;
use std::collections::BTreeSet;

fn thing_not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Thing {name} cannot be found."))
}

impl Registry {
    /// CreateThingGroup: the parent must exist; idempotent for the same parent, description and
    /// attributes, ResourceAlreadyExistsException otherwise. Tags are not kept.
    pub fn create_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        parent: Option<String>,
        properties: ThingGroupProperties,
    ) -> Result<ThingGroup, RegistryError> {
        check_group_name(name)?;
        if let Some(parent) = &parent {
            check_group_name(parent)?;
        }
        if let Some(description) = &properties.description {
            check_description(description)?;
        }
        let attributes = properties.attributes.map(|(a, _)| a).unwrap_or_default();
        check_attributes(&attributes)?;
        let mut groups = self.thing_groups.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = groups.get(&key) {
            if existing.parent == parent
                && existing.description == properties.description
                && existing.attributes == attributes
            {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExists(format!(
                "Thing group {name} already exists with different properties"
            )));
        }
        if let Some(parent) = &parent {
            match groups.get(&(scope.clone(), parent.clone())) {
                None => return Err(group_not_found(parent)),
                // "Dynamic thing groups can't be part of a hierarchy" (dynamic-thing-groups.md).
                Some(g) if g.dynamic.is_some() => {
                    return Err(RegistryError::InvalidRequest(format!(
                        "Dynamic thing group {parent} cannot be a parent group."
                    )))
                }
                Some(_) => {}
            }
        }
        let group = ThingGroup {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thinggroup/{name}", scope.region, scope.account),
            description: properties.description,
            attributes,
            parent,
            version: 1,
            created_ms: self.now_millis(),
            dynamic: None,
        };
        self.put(THING_GROUP, scope, name, &group)?;
        groups.insert(key, group.clone());
        self.thing_group_event(scope, &groups, &group, "CREATED");
        if let Some(parent) = group.parent.as_ref().and_then(|p| groups.get(&(scope.clone(), p.clone()))) {
            self.thing_group_hierarchy_event(scope, parent, &group, true);
        }
        Ok(group)
    }

    /// DescribeThingGroup.
    pub fn describe_thing_group(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<ThingGroupDescription, RegistryError> {
        let groups = self.thing_groups.read();
        let group = groups.get(&(scope.clone(), name.to_string())).ok_or_else(|| group_not_found(name))?;
        let root_to_parent =
            ancestors(&groups, scope, name).into_iter().rev().map(GroupNameAndArn::from).collect();
        Ok(ThingGroupDescription { group: group.clone(), root_to_parent })
    }

    /// UpdateThingGroup: `expectedVersion` must match; a description replaces the old one (an
    /// absent one leaves it), attributes follow UpdateThing's merge rules. Returns the new version.
    pub fn update_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        properties: ThingGroupProperties,
        expected_version: Option<i64>,
    ) -> Result<i64, RegistryError> {
        if let Some(description) = &properties.description {
            check_description(description)?;
        }
        let mut groups = self.thing_groups.write();
        let group =
            groups.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| group_not_found(name))?;
        check_group_version(group, expected_version)?;
        let mut next = group.clone();
        if properties.description.is_some() {
            next.description = properties.description;
        }
        if let Some((attributes, merge)) = properties.attributes {
            apply_attributes(&mut next.attributes, attributes, merge);
            check_attributes(&next.attributes)?;
        }
        next.version += 1;
        self.put(THING_GROUP, scope, name, &next)?;
        *group = next;
        let version = group.version;
        if let Some(group) = groups.get(&(scope.clone(), name.to_string())) {
            self.thing_group_event(scope, &groups, group, "UPDATED");
        }
        Ok(version)
    }

    /// DeleteThingGroup: a missing group is no error (as DeleteThing); a group with child groups
    /// is refused with InvalidRequestException (developer guide, "Delete a thing group"); its
    /// things stop being members, each with a membership REMOVED event.
    pub fn delete_thing_group(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        // Lock order (see `Registry`): things before groups; the things name the members' events.
        let things = self.things.read();
        let mut groups = self.thing_groups.write();
        let key = (scope.clone(), name.to_string());
        let Some(group) = groups.get(&key) else { return Ok(()) };
        check_group_version(group, expected_version)?;
        if !descendants(&groups, scope, Some(name), false).is_empty() {
            return Err(RegistryError::InvalidRequest(format!(
                "Cannot delete thing group : {name} when there are still child groups attached to it."
            )));
        }
        // Memberships first: a crash in between leaves a group with fewer things, never members
        // of a group that is gone.
        let mut memberships = self.group_memberships.write();
        let members: Vec<String> = memberships
            .iter()
            .filter(|((s, _), set)| s == scope && set.contains(name))
            .map(|((_, thing), _)| thing.clone())
            .collect();
        for thing in &members {
            let mut set = memberships.get(&(scope.clone(), thing.clone())).cloned().unwrap_or_default();
            set.remove(name);
            self.save_memberships(&mut memberships, scope, thing, set)?;
            self.index_thing(scope, thing);
        }
        if let Some(group) = groups.get(&key) {
            for thing in members.iter().filter_map(|t| things.get(&(scope.clone(), t.clone()))) {
                self.thing_group_membership_event(scope, group, thing, false);
            }
        }
        self.store.delete(THING_GROUP, scope, name)?;
        if let Some(group) = groups.get(&key) {
            self.thing_group_event(scope, &groups, group, "DELETED");
            if let Some(parent) = group.parent.as_ref().and_then(|p| groups.get(&(scope.clone(), p.clone())))
            {
                self.thing_group_hierarchy_event(scope, parent, group, false);
            }
        }
        groups.remove(&key);
        Ok(())
    }

    /// ListThingGroups, by name (see the module documentation for `recursive`).
    pub fn list_thing_groups(
        &self,
        scope: &Scope,
        query: &ListThingGroups,
    ) -> Result<(Vec<GroupNameAndArn>, Option<String>), RegistryError> {
        let groups = self.thing_groups.read();
        if let Some(parent) = &query.parent_group {
            if !groups.contains_key(&(scope.clone(), parent.clone())) {
                return Err(group_not_found(parent));
            }
        }
        let recursive = query.recursive.unwrap_or(query.parent_group.is_none());
        let mut names = descendants(&groups, scope, query.parent_group.as_deref(), recursive);
        if let Some(prefix) = &query.name_prefix {
            names.retain(|n| n.starts_with(prefix.as_str()));
        }
        let (page, next) = paginate(names, |n| n.as_str(), &query.page)?;
        let page = page
            .iter()
            .filter_map(|n| groups.get(&(scope.clone(), n.clone())))
            .map(GroupNameAndArn::from)
            .collect();
        Ok((page, next))
    }

    /// AddThingToThingGroup: idempotent; InvalidRequestException beyond
    /// [`MAX_GROUPS_PER_THING`] unless `override_dynamic` lets the thing leave dynamic groups
    /// (`dynamic.rs`); a dynamic group takes no explicit members.
    pub fn add_thing_to_thing_group(
        &self,
        scope: &Scope,
        group: &NameOrArn,
        thing: &NameOrArn,
        override_dynamic: bool,
    ) -> Result<(), RegistryError> {
        self.change_groups_of_thing(scope, thing, override_dynamic, |groups, set| {
            let name = resolve_group(groups, scope, group)?;
            check_static(groups, scope, &name)?;
            set.insert(name);
            Ok(())
        })
    }

    /// RemoveThingFromThingGroup: removing a thing that is not a member is no error.
    pub fn remove_thing_from_thing_group(
        &self,
        scope: &Scope,
        group: &NameOrArn,
        thing: &NameOrArn,
    ) -> Result<(), RegistryError> {
        self.change_groups_of_thing(scope, thing, false, |groups, set| {
            let name = resolve_group(groups, scope, group)?;
            check_static(groups, scope, &name)?;
            set.remove(&name);
            Ok(())
        })
    }

    /// UpdateThingGroupsForThing: every named group must exist (nothing changes otherwise);
    /// removals are applied before additions, so a group in both lists ends up a member.
    pub fn update_thing_groups_for_thing(
        &self,
        scope: &Scope,
        thing: &str,
        to_add: &[String],
        to_remove: &[String],
        override_dynamic: bool,
    ) -> Result<(), RegistryError> {
        let thing = NameOrArn::Name(thing.to_string());
        self.change_groups_of_thing(scope, &thing, override_dynamic, |groups, set| {
            for name in to_add.iter().chain(to_remove) {
                resolve_group(groups, scope, &NameOrArn::Name(name.clone()))?;
                check_static(groups, scope, name)?;
            }
            for name in to_remove {
                set.remove(name);
            }
            set.extend(to_add.iter().cloned());
            Ok(())
        })
    }

    /// Applies `change` to the groups of `thing` under the locks (things, then groups, then
    /// memberships, the registry's lock order), checks the limit, and stores the result. With
    /// `override_dynamic`, a thing beyond the limit leaves its newest dynamic groups first
    /// (dynamic-thing-groups.md, "static groups take priority"), reported for the index's
    /// AddThingToDynamicThingGroupsFailed entry.
    fn change_groups_of_thing(
        &self,
        scope: &Scope,
        thing: &NameOrArn,
        override_dynamic: bool,
        change: impl FnOnce(&Groups, &mut BTreeSet<String>) -> Result<(), RegistryError>,
    ) -> Result<(), RegistryError> {
        let things = self.things.read();
        let thing = match thing {
            NameOrArn::Name(name) => things
                .get(&(scope.clone(), name.clone()))
                .map(|t| t.name.clone())
                .ok_or_else(|| thing_not_found(name))?,
            NameOrArn::Arn(arn) => things
                .iter()
                .find(|((s, _), t)| s == scope && &t.arn == arn)
                .map(|(_, t)| t.name.clone())
                .ok_or_else(|| thing_not_found(arn))?,
        };
        let groups = self.thing_groups.read();
        let mut memberships = self.group_memberships.write();
        let current = memberships.get(&(scope.clone(), thing.clone())).cloned().unwrap_or_default();
        let mut next = current.clone();
        change(&groups, &mut next)?;
        if next == current {
            return Ok(());
        }
        let mut evicted = Vec::new();
        if override_dynamic {
            for group in newest_dynamic_first(&groups, scope, &next) {
                if next.len() <= MAX_GROUPS_PER_THING {
                    break;
                }
                next.remove(&group);
                evicted.push(group);
            }
        }
        if next.len() > MAX_GROUPS_PER_THING {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing {thing} cannot be in more than {MAX_GROUPS_PER_THING} thing groups"
            )));
        }
        let (added, removed): (Vec<String>, Vec<String>) =
            (next.difference(&current).cloned().collect(), current.difference(&next).cloned().collect());
        self.save_memberships(&mut memberships, scope, &thing, next)?;
        // The removal's entry first, then the re-evaluation of the thing's dynamic groups.
        if !evicted.is_empty() {
            self.report_dynamic_failure(scope, DynamicGroupsFailed { thing: thing.clone(), groups: evicted });
        }
        self.index_thing(scope, &thing);
        if let Some(thing) = things.get(&(scope.clone(), thing)) {
            let changes = added.iter().map(|g| (g, true)).chain(removed.iter().map(|g| (g, false)));
            for (group, was_added) in changes {
                if let Some(group) = groups.get(&(scope.clone(), group.clone())) {
                    self.thing_group_membership_event(scope, group, thing, was_added);
                }
            }
        }
        Ok(())
    }

    /// Stores the groups of one thing (deleting the document when there are none).
    pub(crate) fn save_memberships(
        &self,
        memberships: &mut Memberships,
        scope: &Scope,
        thing: &str,
        set: BTreeSet<String>,
    ) -> Result<(), RegistryError> {
        let key = (scope.clone(), thing.to_string());
        if set.is_empty() {
            self.store.delete(GROUP_MEMBERSHIP, scope, thing)?;
            memberships.remove(&key);
        } else {
            self.put(GROUP_MEMBERSHIP, scope, thing, &set)?;
            memberships.insert(key, set);
        }
        Ok(())
    }

    /// Forgets the groups of a deleted thing, publishing a membership REMOVED event for each
    /// (the thing leaves them; see `events.rs`); the caller holds the `things` lock.
    pub(crate) fn forget_memberships(&self, scope: &Scope, thing: &Thing) -> Result<(), RegistryError> {
        let groups = self.thing_groups.read();
        let mut memberships = self.group_memberships.write();
        let left = memberships.get(&(scope.clone(), thing.name.clone())).cloned().unwrap_or_default();
        self.save_memberships(&mut memberships, scope, &thing.name, BTreeSet::new())?;
        for group in left.iter().filter_map(|g| groups.get(&(scope.clone(), g.clone()))) {
            self.thing_group_membership_event(scope, group, thing, false);
        }
        Ok(())
    }

    /// ListThingsInThingGroup, by thing name; with `recursive`, the things of every descendant
    /// group too (each once).
    pub fn list_things_in_thing_group(
        &self,
        scope: &Scope,
        group: &str,
        recursive: bool,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let groups = self.thing_groups.read();
        if !groups.contains_key(&(scope.clone(), group.to_string())) {
            return Err(group_not_found(group));
        }
        let mut wanted: BTreeSet<String> = [group.to_string()].into();
        if recursive {
            wanted.extend(descendants(&groups, scope, Some(group), true));
        }
        let memberships = self.group_memberships.read();
        let things: Vec<String> = memberships
            .iter()
            .filter(|((s, _), set)| s == scope && !set.is_disjoint(&wanted))
            .map(|((_, thing), _)| thing.clone())
            .collect();
        paginate(things, |n| n.as_str(), page)
    }

    /// ListThingGroupsForThing: the groups the thing is a direct member of, by name.
    pub fn list_thing_groups_for_thing(
        &self,
        scope: &Scope,
        thing: &str,
        page: &Page,
    ) -> Result<(Vec<GroupNameAndArn>, Option<String>), RegistryError> {
        let things = self.things.read();
        if !things.contains_key(&(scope.clone(), thing.to_string())) {
            return Err(thing_not_found(thing));
        }
        let groups = self.thing_groups.read();
        let memberships = self.group_memberships.read();
        let names = memberships.get(&(scope.clone(), thing.to_string())).cloned().unwrap_or_default();
        let list: Vec<GroupNameAndArn> = names
            .iter()
            .filter_map(|n| groups.get(&(scope.clone(), n.clone())))
            .map(GroupNameAndArn::from)
            .collect();
        paginate(list, |g| g.name.as_str(), page)
    }

    /// The names of every group `thing_name` belongs to and all their ancestors, each once: each
    /// direct group (by name) followed by its ancestors up to the root. Empty for an unknown thing.
    pub fn thing_group_hierarchy(&self, scope: &Scope, thing_name: &str) -> Vec<String> {
        let groups = self.thing_groups.read();
        let memberships = self.group_memberships.read();
        match memberships.get(&(scope.clone(), thing_name.to_string())) {
            Some(names) => with_ancestors(&groups, scope, names),
            None => Vec::new(),
        }
    }
}

/// Loads both kinds for [`Registry::load`].
pub(crate) fn load(store: &Store) -> Result<(Groups, Memberships), RegistryError> {
    Ok((load_kind(store, THING_GROUP)?, load_kind(store, GROUP_MEMBERSHIP)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::CertAuthority;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn registry() -> (Registry, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(CertAuthority::load_or_create(dir.path()).unwrap());
        let store = Arc::new(Store::in_memory().unwrap());
        (Registry::load(store, ca).unwrap(), dir)
    }

    fn group(name: &str, parent: Option<&str>) -> ((Scope, String), ThingGroup) {
        let g = ThingGroup {
            name: name.into(),
            id: name.into(),
            arn: format!("arn:{name}"),
            description: None,
            attributes: BTreeMap::new(),
            parent: parent.map(str::to_string),
            version: 1,
            created_ms: 0,
            dynamic: None,
        };
        ((scope(), name.into()), g)
    }

    /// a -> b -> c, a -> d, and e alone; plus a group of another region.
    fn tree() -> Groups {
        let mut groups: Groups = [
            group("a", None),
            group("b", Some("a")),
            group("c", Some("b")),
            group("d", Some("a")),
            group("e", None),
        ]
        .into();
        let mut other = group("b", None);
        other.0 .0 = Scope::new("123456789012", "eu-west-1");
        groups.insert(other.0, other.1);
        groups
    }

    #[test]
    fn ancestors_go_from_the_parent_to_the_root() {
        let groups = tree();
        let names = |v: Vec<&ThingGroup>| v.into_iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(ancestors(&groups, &scope(), "c")), ["b", "a"]);
        assert!(ancestors(&groups, &scope(), "a").is_empty());
        assert!(ancestors(&groups, &scope(), "missing").is_empty());
    }

    #[test]
    fn descendants_are_direct_or_recursive_and_scoped() {
        let groups = tree();
        let s = scope();
        assert_eq!(descendants(&groups, &s, Some("a"), false), ["b", "d"]);
        assert_eq!(descendants(&groups, &s, Some("a"), true), ["b", "c", "d"]);
        assert_eq!(descendants(&groups, &s, Some("c"), true), Vec::<String>::new());
        assert_eq!(descendants(&groups, &s, None, false), ["a", "e"]);
        assert_eq!(descendants(&groups, &s, None, true), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn hierarchy_lists_each_group_once_with_its_ancestors() {
        let groups = tree();
        let names: Vec<String> = ["c", "d", "e", "gone"].map(String::from).into();
        assert_eq!(with_ancestors(&groups, &scope(), &names), ["c", "b", "a", "d", "e"]);
    }

    #[test]
    fn membership_follows_things_and_groups() {
        let (r, _dir) = registry();
        let s = scope();
        r.create_thing_group(&s, "root", None, Default::default()).unwrap();
        r.create_thing_group(&s, "mid", Some("root".into()), Default::default()).unwrap();
        r.create_thing_group(&s, "leaf", Some("mid".into()), Default::default()).unwrap();
        r.create_thing(&s, "t1", None, BTreeMap::new()).unwrap();
        r.create_thing(&s, "t2", None, BTreeMap::new()).unwrap();
        let name = |n: &str| NameOrArn::Name(n.into());
        r.add_thing_to_thing_group(&s, &name("leaf"), &name("t1"), false).unwrap();
        r.add_thing_to_thing_group(&s, &name("root"), &name("t2"), false).unwrap();
        assert_eq!(r.thing_group_hierarchy(&s, "t1"), ["leaf", "mid", "root"]);
        let all =
            |recursive| r.list_things_in_thing_group(&s, "root", recursive, &Page::default()).unwrap().0;
        assert_eq!(all(true), ["t1", "t2"]);
        assert_eq!(all(false), ["t2"]);

        assert!(matches!(r.delete_thing_group(&s, "mid", None), Err(RegistryError::InvalidRequest(_))));
        r.delete_thing_group(&s, "leaf", None).unwrap();
        assert!(r.thing_group_hierarchy(&s, "t1").is_empty());
        r.delete_thing(&s, "t2", None).unwrap();
        assert!(all(true).is_empty());
        assert!(r.group_memberships.read().is_empty());
    }

    #[test]
    fn a_thing_is_in_at_most_ten_groups() {
        let (r, _dir) = registry();
        let s = scope();
        r.create_thing(&s, "t", None, BTreeMap::new()).unwrap();
        let names: Vec<String> = (0..11).map(|i| format!("g{i:02}")).collect();
        for n in &names {
            r.create_thing_group(&s, n, None, Default::default()).unwrap();
        }
        r.update_thing_groups_for_thing(&s, "t", &names[..10], &[], false).unwrap();
        let err = r.update_thing_groups_for_thing(&s, "t", &names[10..], &[], false);
        assert!(matches!(err, Err(RegistryError::InvalidRequest(_))));
        r.update_thing_groups_for_thing(&s, "t", &names[10..], &names[..1], false).unwrap();
        assert_eq!(r.thing_group_hierarchy(&s, "t").len(), 10);
    }
}
