//! Billing groups (tagging-iot-billing-groups.md; botocore `iot` model): CreateBillingGroup,
//! DescribeBillingGroup, ListBillingGroups, UpdateBillingGroup, DeleteBillingGroup,
//! AddThingToBillingGroup, RemoveThingFromBillingGroup, ListThingsInBillingGroup, and
//! CreateThing's `billingGroupName`. A thing is in at most one billing group; its membership is
//! kept on the thing (`Thing::billing_group`, shown by DescribeThing as `billingGroupName`).
//! Choices where AWS is silent are in docs/aws-behaviour.md §23.

pub(crate) mod http;

use crate::paging::{paginate, Page};
use crate::thing_groups::state::check_description;
use crate::{Registry, RegistryError};
use iotemu_core::Scope;
use serde::{Deserialize, Serialize};

pub(crate) const BILLING_GROUP: &str = "billing-group";

/// A billing group, as stored (botocore `DescribeBillingGroupResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingGroup {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub version: i64,
    /// Epoch seconds.
    pub created: i64,
}

/// botocore `BillingGroupName`: 1-128 of `[a-zA-Z0-9:_-]`.
fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b));
    ok.then_some(()).ok_or_else(|| {
        RegistryError::InvalidRequest(format!(
            "billingGroupName {name:?} must be 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'"
        ))
    })
}

fn not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("BillingGroup {name} cannot be found."))
}

fn thing_not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Thing {name} cannot be found."))
}

/// The last part of a `.../billinggroup/NAME` or `.../thing/NAME` ARN.
fn name_of_arn<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    arn.split_once(&format!(":{kind}/")).map(|(_, name)| name)
}

/// A name given by name or by ARN (AddThingToBillingGroup, RemoveThingFromBillingGroup).
pub(crate) fn name_or_arn(
    name: Option<String>,
    arn: Option<String>,
    kind: &str,
    member: &str,
) -> Result<String, RegistryError> {
    match (name, arn) {
        (Some(name), _) => Ok(name),
        (None, Some(arn)) => name_of_arn(&arn, kind)
            .map(str::to_string)
            .ok_or_else(|| RegistryError::InvalidRequest(format!("{arn} is not a {kind} ARN"))),
        (None, None) => {
            Err(RegistryError::InvalidRequest(format!("{member}Name or {member}Arn is required")))
        }
    }
}

impl Registry {
    /// CreateBillingGroup: idempotent for the same description, ResourceAlreadyExistsException
    /// for another.
    pub fn create_billing_group(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
    ) -> Result<BillingGroup, RegistryError> {
        check_name(name)?;
        if let Some(d) = &description {
            check_description(d)?;
        }
        let mut groups = self.billing_groups.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = groups.get(&key) {
            if existing.description == description {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExistsResource {
                message: format!("Billing Group {name} already exists with different properties"),
                id: existing.id.clone(),
                arn: existing.arn.clone(),
            });
        }
        let group = BillingGroup {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:billinggroup/{name}", scope.region, scope.account),
            description,
            version: 1,
            created: self.now_secs(),
        };
        self.put(BILLING_GROUP, scope, name, &group)?;
        groups.insert(key, group.clone());
        Ok(group)
    }

    /// DescribeBillingGroup.
    pub fn describe_billing_group(&self, scope: &Scope, name: &str) -> Result<BillingGroup, RegistryError> {
        self.billing_groups
            .read()
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// ListBillingGroups, by name, one page (`namePrefixFilter` optional).
    pub fn list_billing_groups(
        &self,
        scope: &Scope,
        prefix: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<BillingGroup>, Option<String>), RegistryError> {
        let groups: Vec<BillingGroup> = self
            .billing_groups
            .read()
            .iter()
            .filter(|((s, name), _)| s == scope && prefix.is_none_or(|p| name.starts_with(p)))
            .map(|(_, g)| g.clone())
            .collect();
        paginate(groups, |g| g.name.as_str(), page)
    }

    /// UpdateBillingGroup: `expectedVersion` must match; the version goes up by one.
    pub fn update_billing_group(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        expected_version: Option<i64>,
    ) -> Result<i64, RegistryError> {
        if let Some(d) = &description {
            check_description(d)?;
        }
        let mut groups = self.billing_groups.write();
        let group = groups.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        check_version(group, expected_version)?;
        let mut next = group.clone();
        next.description = description;
        next.version += 1;
        self.put(BILLING_GROUP, scope, name, &next)?;
        *group = next;
        Ok(group.version)
    }

    /// DeleteBillingGroup: deleting one that does not exist succeeds (botocore lists no
    /// ResourceNotFoundException for it); its things leave it.
    pub fn delete_billing_group(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let mut groups = self.billing_groups.write();
        let key = (scope.clone(), name.to_string());
        let Some(group) = groups.get(&key) else { return Ok(()) };
        check_version(group, expected_version)?;
        for ((s, _), thing) in things.iter_mut() {
            if s == scope && thing.billing_group.as_deref() == Some(name) {
                let mut next = thing.clone();
                next.billing_group = None;
                self.put(crate::things::service::THING, scope, &next.name, &next)?;
                *thing = next;
            }
        }
        self.store.delete(BILLING_GROUP, scope, name)?;
        if let Some(group) = groups.remove(&key) {
            iotemu_api::tags::forget(&self.store, scope, &group.arn)
                .map_err(|e| RegistryError::Internal(e.message))?;
        }
        Ok(())
    }

    /// AddThingToBillingGroup (and CreateThing's `billingGroupName`): the thing leaves the
    /// billing group it was in, if any.
    pub fn add_thing_to_billing_group(
        &self,
        scope: &Scope,
        group: &str,
        thing: &str,
    ) -> Result<(), RegistryError> {
        self.set_billing_group(scope, thing, Some(group))
    }

    /// RemoveThingFromBillingGroup: a thing that is not in the group stays as it is.
    pub fn remove_thing_from_billing_group(
        &self,
        scope: &Scope,
        group: &str,
        thing: &str,
    ) -> Result<(), RegistryError> {
        let current = self.describe_thing(scope, thing)?.billing_group;
        self.describe_billing_group(scope, group)?;
        if current.as_deref() == Some(group) {
            self.set_billing_group(scope, thing, None)?;
        }
        Ok(())
    }

    fn set_billing_group(
        &self,
        scope: &Scope,
        thing: &str,
        group: Option<&str>,
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let groups = self.billing_groups.read();
        if let Some(group) = group {
            if !groups.contains_key(&(scope.clone(), group.to_string())) {
                return Err(not_found(group));
            }
        }
        let current =
            things.get_mut(&(scope.clone(), thing.to_string())).ok_or_else(|| thing_not_found(thing))?;
        let mut next = current.clone();
        next.billing_group = group.map(str::to_string);
        self.put(crate::things::service::THING, scope, thing, &next)?;
        *current = next;
        Ok(())
    }

    /// ListThingsInBillingGroup: the names of its things, one page.
    pub fn list_things_in_billing_group(
        &self,
        scope: &Scope,
        group: &str,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.describe_billing_group(scope, group)?;
        let names: Vec<String> = self
            .things
            .read()
            .iter()
            .filter(|((s, _), t)| s == scope && t.billing_group.as_deref() == Some(group))
            .map(|(_, t)| t.name.clone())
            .collect();
        paginate(names, |n| n.as_str(), page)
    }
}

fn check_version(group: &BillingGroup, expected: Option<i64>) -> Result<(), RegistryError> {
    match expected {
        Some(v) if v != group.version => Err(RegistryError::VersionConflict(format!(
            "The version for billing group {} does not match the expected version.",
            group.name
        ))),
        _ => Ok(()),
    }
}
