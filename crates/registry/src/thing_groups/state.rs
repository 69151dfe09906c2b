//! Static thing groups as stored ([`ThingGroup`]), the shapes of their requests, the checks AWS
//! applies to names and descriptions, and the hierarchy (pure).

use crate::{Page, RegistryError};
use iotemu_core::Scope;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const THING_GROUP: &str = "thing-group";
pub(crate) const GROUP_MEMBERSHIP: &str = "thing-group-membership";

/// The groups a thing may belong to at once.
pub const MAX_GROUPS_PER_THING: usize = 10;

/// Groups by (scope, name).
pub(crate) type Groups = BTreeMap<(Scope, String), ThingGroup>;
/// The group names of each thing, by (scope, thing name).
pub(crate) type Memberships = BTreeMap<(Scope, String), BTreeSet<String>>;

/// A static thing group, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThingGroup {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
    /// Set at creation and never changed (AWS does not move groups).
    pub parent: Option<String>,
    pub version: i64,
    /// Epoch milliseconds.
    pub created_ms: i64,
    /// The query of a dynamic thing group (`dynamic.rs`); `None` for a static group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<DynamicQuery>,
}

/// What makes a group dynamic (botocore CreateDynamicThingGroupRequest, DescribeThingGroupResponse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicQuery {
    pub query_string: String,
    pub index_name: String,
    pub query_version: String,
    /// `BUILDING`, `REBUILDING` or `ACTIVE` (botocore `DynamicGroupStatus`).
    pub status: String,
}

/// A group's name and ARN (botocore `GroupNameAndArn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNameAndArn {
    pub name: String,
    pub arn: String,
}

impl From<&ThingGroup> for GroupNameAndArn {
    fn from(g: &ThingGroup) -> Self {
        GroupNameAndArn { name: g.name.clone(), arn: g.arn.clone() }
    }
}

/// DescribeThingGroup's answer: the group and its ancestors from the root down to the parent.
#[derive(Debug, Clone)]
pub struct ThingGroupDescription {
    pub group: ThingGroup,
    pub root_to_parent: Vec<GroupNameAndArn>,
}

/// A resource named by name or by ARN (AddThingToThingGroup, RemoveThingFromThingGroup).
#[derive(Debug, Clone)]
pub enum NameOrArn {
    Name(String),
    Arn(String),
}

impl NameOrArn {
    /// The name if given, else the ARN; `what` (e.g. "thingGroup") names the missing member.
    pub fn from_request(
        name: Option<String>,
        arn: Option<String>,
        what: &str,
    ) -> Result<Self, RegistryError> {
        match (name, arn) {
            (Some(name), _) => Ok(NameOrArn::Name(name)),
            (None, Some(arn)) => Ok(NameOrArn::Arn(arn)),
            (None, None) => {
                Err(RegistryError::InvalidRequest(format!("either {what}Name or {what}Arn is required")))
            }
        }
    }
}

/// ListThingGroups' filters.
#[derive(Debug, Default, Clone)]
pub struct ListThingGroups {
    pub parent_group: Option<String>,
    pub name_prefix: Option<String>,
    pub recursive: Option<bool>,
    pub page: Page,
}

/// The properties of CreateThingGroup and UpdateThingGroup.
#[derive(Debug, Default, Clone)]
pub struct ThingGroupProperties {
    pub description: Option<String>,
    /// Attributes and whether to merge them (UpdateThingGroup only; CreateThingGroup ignores it).
    pub attributes: Option<(BTreeMap<String, String>, bool)>,
}

/// botocore `ThingGroupName`: 1-128 of `[a-zA-Z0-9:_-]`.
pub fn check_group_name(name: &str) -> Result<(), RegistryError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        RegistryError::InvalidRequest(format!(
            "thingGroupName {name:?} must be 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'"
        ))
    })
}

/// botocore `ThingGroupDescription`: at most 2028 of `[\p{Graph}\x20]`, taken literally as
/// printable ASCII and space (Java's `\p{Graph}` is ASCII-only).
pub fn check_description(description: &str) -> Result<(), RegistryError> {
    let ok = description.len() <= 2028 && description.bytes().all(|b| (0x20..=0x7e).contains(&b));
    ok.then_some(()).ok_or_else(|| {
        RegistryError::InvalidRequest(
            "thingGroupDescription must be at most 2028 printable ASCII characters".into(),
        )
    })
}

/// The ancestors of `name`, from its parent up to the root.
pub(crate) fn ancestors<'a>(groups: &'a Groups, scope: &Scope, name: &str) -> Vec<&'a ThingGroup> {
    let mut out: Vec<&ThingGroup> = Vec::new();
    let mut next = groups.get(&(scope.clone(), name.to_string())).and_then(|g| g.parent.clone());
    while let Some(parent) = next {
        // Parents are fixed at creation, so there is no cycle; the check only guards the loop.
        let Some(group) = groups.get(&(scope.clone(), parent)) else { break };
        if out.iter().any(|g| g.name == group.name) {
            break;
        }
        out.push(group);
        next = group.parent.clone();
    }
    out
}

/// The children of `parent` (all descendants when `recursive`), by name; `None` means the roots
/// (every group when `recursive`).
pub(crate) fn descendants(
    groups: &Groups,
    scope: &Scope,
    parent: Option<&str>,
    recursive: bool,
) -> Vec<String> {
    let in_scope = || groups.iter().filter(move |((s, _), _)| s == scope).map(|(_, g)| g);
    if parent.is_none() && recursive {
        return in_scope().map(|g| g.name.clone()).collect();
    }
    let mut out = BTreeSet::new();
    let mut frontier: Vec<Option<String>> = vec![parent.map(str::to_string)];
    while let Some(current) = frontier.pop() {
        for child in in_scope().filter(|g| g.parent == current) {
            if out.insert(child.name.clone()) && recursive {
                frontier.push(Some(child.name.clone()));
            }
        }
    }
    out.into_iter().collect()
}

/// The names of the groups in `names` and all their ancestors, each once: each group followed by
/// its ancestors up to the root, in the order of `names`.
pub(crate) fn with_ancestors<'a>(
    groups: &Groups,
    scope: &Scope,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !groups.contains_key(&(scope.clone(), name.clone())) {
            continue;
        }
        let chain = std::iter::once(name.clone())
            .chain(ancestors(groups, scope, name).into_iter().map(|g| g.name.clone()));
        for group in chain {
            if !out.contains(&group) {
                out.push(group);
            }
        }
    }
    out
}

/// The name of the group `group` names, if it exists in `scope`.
pub(crate) fn resolve_group(
    groups: &Groups,
    scope: &Scope,
    group: &NameOrArn,
) -> Result<String, RegistryError> {
    match group {
        NameOrArn::Name(name) => groups
            .get(&(scope.clone(), name.clone()))
            .map(|g| g.name.clone())
            .ok_or_else(|| group_not_found(name)),
        NameOrArn::Arn(arn) => groups
            .iter()
            .find(|((s, _), g)| s == scope && &g.arn == arn)
            .map(|(_, g)| g.name.clone())
            .ok_or_else(|| group_not_found(arn)),
    }
}

pub(crate) fn check_group_version(group: &ThingGroup, expected: Option<i64>) -> Result<(), RegistryError> {
    match expected {
        Some(v) if v != group.version => Err(RegistryError::VersionConflict(format!(
            "The version for thing group {} does not match the expected version.",
            group.name
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn group_not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Thing group {name} cannot be found."))
}
