//! Things and thing types as stored, and the checks AWS applies to their fields.

use crate::RegistryError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A thing, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub type_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub version: i64,
    /// Principals (certificate ARNs) attached with AttachThingPrincipal.
    #[serde(default)]
    pub principals: std::collections::BTreeSet<String>,
    /// Those of `principals` attached with `thingPrincipalType` EXCLUSIVE_THING (the others are
    /// NON_EXCLUSIVE_THING, the default).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub exclusive_principals: std::collections::BTreeSet<String>,
    /// The billing group the thing is in (a thing is in at most one, thing-billing-groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group: Option<String>,
}

impl Thing {
    /// The `thingPrincipalType` `principal` is attached with.
    pub fn principal_type(&self, principal: &str) -> &'static str {
        if self.exclusive_principals.contains(principal) {
            EXCLUSIVE_THING
        } else {
            NON_EXCLUSIVE_THING
        }
    }
}

/// botocore `ThingPrincipalType`.
pub const EXCLUSIVE_THING: &str = "EXCLUSIVE_THING";
pub const NON_EXCLUSIVE_THING: &str = "NON_EXCLUSIVE_THING";

/// botocore `ThingName`: 1-128 of `[a-zA-Z0-9:_-]`.
pub fn check_thing_name(name: &str) -> Result<(), RegistryError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        RegistryError::InvalidRequest(format!(
            "thingName {name:?} must be 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'"
        ))
    })
}

/// botocore `AttributeName` (1-128) and `Value` (0-800) of `[a-zA-Z0-9_.,@/:#=\[\]-]`.
pub fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), RegistryError> {
    let allowed = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.,@/:#=[]-".contains(&b));
    if attributes.len() > 50 {
        return Err(RegistryError::InvalidRequest("a thing has at most 50 attributes".into()));
    }
    for (name, value) in attributes {
        if !(1..=128).contains(&name.len()) || !allowed(name) {
            return Err(RegistryError::InvalidRequest(format!("invalid attribute name {name:?}")));
        }
        if value.len() > 800 || !allowed(value) {
            return Err(RegistryError::InvalidRequest(format!("invalid value of attribute {name:?}")));
        }
    }
    Ok(())
}

/// Merges an attribute payload as UpdateThing does: with `merge`, an empty value removes the
/// attribute and the others are added or replaced; without it, the payload replaces them all.
pub fn apply_attributes(
    current: &mut BTreeMap<String, String>,
    payload: BTreeMap<String, String>,
    merge: bool,
) {
    if !merge {
        *current = payload.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        return;
    }
    for (name, value) in payload {
        if value.is_empty() {
            current.remove(&name);
        } else {
            current.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes_follow_botocore_patterns() {
        assert!(check_thing_name("lamp-1:a_b").is_ok());
        assert!(check_thing_name("").is_err());
        assert!(check_thing_name("no spaces").is_err());
        assert!(check_thing_name(&"x".repeat(129)).is_err());
        let ok: BTreeMap<_, _> = [("room".to_string(), "kitchen/2".to_string())].into();
        assert!(check_attributes(&ok).is_ok());
        let bad: BTreeMap<_, _> = [("room".to_string(), "a b".to_string())].into();
        assert!(check_attributes(&bad).is_err());
    }

    #[test]
    fn merging_adds_replaces_and_removes() {
        let mut current: BTreeMap<_, _> =
            [("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())].into();
        apply_attributes(&mut current, [("a".into(), "".into()), ("c".into(), "3".into())].into(), true);
        assert_eq!(current, [("b".to_string(), "2".to_string()), ("c".to_string(), "3".to_string())].into());
        apply_attributes(&mut current, [("z".into(), "9".into())].into(), false);
        assert_eq!(current, [("z".to_string(), "9".to_string())].into());
    }
}

/// A thing type (botocore `DescribeThingTypeResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThingType {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub searchable_attributes: Vec<String>,
    pub deprecated: bool,
    /// Epoch seconds.
    pub deprecation_date: Option<i64>,
    pub created: i64,
}
