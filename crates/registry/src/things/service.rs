//! The thing, thing type and thing principal operations: CreateThing, DescribeThing,
//! UpdateThing, DeleteThing, ListThings, CreateThingType, DescribeThingType, ListThingTypes,
//! DeprecateThingType, DeleteThingType, AttachThingPrincipal, DetachThingPrincipal,
//! ListThingPrincipals and ListPrincipalThings. Reads come from the in-memory cache; every
//! mutation is written to the store before it returns.

use crate::paging::{paginate, Page};
use crate::things::state::{
    apply_attributes, check_attributes, check_thing_name, Thing, ThingType, EXCLUSIVE_THING,
    NON_EXCLUSIVE_THING,
};
use crate::{Registry, RegistryError};
use iotemu_core::Scope;
use std::collections::BTreeMap;

pub(crate) const THING: &str = "thing";
pub(crate) const THING_TYPE: &str = "thing-type";

/// UpdateThing's input.
#[derive(Debug, Default)]
pub struct UpdateThing {
    pub type_name: Option<String>,
    pub remove_type: bool,
    /// Attributes and whether to merge them.
    pub attributes: Option<(BTreeMap<String, String>, bool)>,
    pub expected_version: Option<i64>,
}

/// ListThings' filters and page.
#[derive(Debug, Default)]
pub struct ListThings {
    pub attribute: Option<(String, String)>,
    pub use_prefix: bool,
    pub type_name: Option<String>,
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

impl Registry {
    fn save(&self, scope: &Scope, thing: &Thing) -> Result<(), RegistryError> {
        self.put(THING, scope, &thing.name, thing)
    }

    /// CreateThing: idempotent for the same configuration, ResourceAlreadyExistsException for
    /// another (botocore documentation of CreateThing).
    pub fn create_thing(
        &self,
        scope: &Scope,
        name: &str,
        type_name: Option<String>,
        attributes: BTreeMap<String, String>,
    ) -> Result<Thing, RegistryError> {
        check_thing_name(name)?;
        check_attributes(&attributes)?;
        if let Some(type_name) = &type_name {
            self.check_type_usable(scope, type_name)?;
        }
        let mut things = self.things.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = things.get(&key) {
            if existing.type_name == type_name && existing.attributes == attributes {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExists(format!(
                "Thing {name} already exists in account with different attributes"
            )));
        }
        let thing = Thing {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thing/{name}", scope.region, scope.account),
            type_name,
            attributes,
            version: 1,
            principals: Default::default(),
            exclusive_principals: Default::default(),
            billing_group: None,
        };
        self.save(scope, &thing)?;
        things.insert(key, thing.clone());
        self.thing_event(scope, &thing, "CREATED");
        if let Some(type_name) = &thing.type_name {
            self.thing_type_association_event(scope, &thing, type_name, true);
        }
        Ok(thing)
    }

    /// DescribeThing.
    pub fn describe_thing(&self, scope: &Scope, name: &str) -> Result<Thing, RegistryError> {
        self.things.read().get(&(scope.clone(), name.to_string())).cloned().ok_or_else(|| not_found(name))
    }

    /// UpdateThing: `expectedVersion` must match; the version goes up by one.
    pub fn update_thing(&self, scope: &Scope, name: &str, update: UpdateThing) -> Result<(), RegistryError> {
        if let Some(type_name) = &update.type_name {
            self.check_type_usable(scope, type_name)?;
        }
        let mut things = self.things.write();
        let thing = things.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        check_version(thing, update.expected_version)?;
        if update.remove_type && update.type_name.is_some() {
            return Err(RegistryError::InvalidRequest(
                "removeThingType and thingTypeName cannot be given together".into(),
            ));
        }
        let mut next = thing.clone();
        if update.remove_type {
            next.type_name = None;
        } else if update.type_name.is_some() {
            next.type_name = update.type_name;
        }
        if let Some((attributes, merge)) = update.attributes {
            apply_attributes(&mut next.attributes, attributes, merge);
            check_attributes(&next.attributes)?;
        }
        next.version += 1;
        self.save(scope, &next)?;
        let old_type = std::mem::replace(thing, next).type_name;
        self.thing_event(scope, thing, "UPDATED");
        if old_type != thing.type_name {
            if let Some(old) = &old_type {
                self.thing_type_association_event(scope, thing, old, false);
            }
            if let Some(new) = &thing.type_name {
                self.thing_type_association_event(scope, thing, new, true);
            }
        }
        Ok(())
    }

    /// DeleteThing: deleting a thing that does not exist succeeds, as on AWS; the thing leaves
    /// its thing groups and its type (membership and type-association REMOVED events, then the
    /// thing's DELETED event).
    pub fn delete_thing(
        &self,
        scope: &Scope,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let key = (scope.clone(), name.to_string());
        let Some(thing) = things.get(&key) else { return Ok(()) };
        check_version(thing, expected_version)?;
        if !thing.principals.is_empty() {
            // AWS's wording (docs/aws-behaviour.md §16).
            return Err(RegistryError::InvalidRequest(format!(
                "Cannot delete. Thing {name} is still attached to one or more principals"
            )));
        }
        self.forget_memberships(scope, thing)?;
        self.store.delete(THING, scope, name)?;
        if let Some(thing) = things.remove(&key) {
            if let Some(type_name) = &thing.type_name {
                self.thing_type_association_event(scope, &thing, type_name, false);
            }
            self.thing_event(scope, &thing, "DELETED");
        }
        Ok(())
    }

    /// ListThings, by name, one page: the things and the token of the next page.
    pub fn list_things(
        &self,
        scope: &Scope,
        query: &ListThings,
    ) -> Result<(Vec<Thing>, Option<String>), RegistryError> {
        if query.type_name.is_some() && query.attribute.is_some() {
            return Err(RegistryError::InvalidRequest(
                "Listing things by the combination of attribute and thing type is not supported".into(),
            ));
        }
        let max = query.max_results.unwrap_or(50);
        if !(1..=250).contains(&max) {
            return Err(RegistryError::InvalidRequest("maxResults must be between 1 and 250".into()));
        }
        let things = self.things.read();
        // From the token on in the map's order; the page starts after it.
        let start = (scope.clone(), query.next_token.clone().unwrap_or_default());
        let matching = things
            .range(start..)
            .take_while(|((s, _), _)| s == scope)
            .map(|(_, t)| t)
            .filter(|t| query.type_name.as_ref().is_none_or(|ty| t.type_name.as_ref() == Some(ty)))
            .filter(|t| match &query.attribute {
                None => true,
                Some((name, value)) => t.attributes.get(name).is_some_and(|v| {
                    if query.use_prefix {
                        v.starts_with(value.as_str())
                    } else {
                        v == value
                    }
                }),
            });
        let (page, next) =
            iotemu_api::paging::page(matching, |t| t.name.as_str(), query.next_token.as_deref(), max);
        Ok((page.into_iter().cloned().collect(), next))
    }

    /// A thing may get `type_name` only if the type exists and is not deprecated.
    fn check_type_usable(&self, scope: &Scope, type_name: &str) -> Result<(), RegistryError> {
        match self.thing_types.read().get(&(scope.clone(), type_name.to_string())) {
            None => Err(RegistryError::NotFound(format!("Thing type {type_name} cannot be found."))),
            Some(t) if t.deprecated => Err(RegistryError::InvalidRequest(format!(
                "Thing type {type_name} is deprecated; new things cannot use it"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// CreateThingType (idempotent for the same properties).
    pub fn create_thing_type(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        searchable_attributes: Vec<String>,
    ) -> Result<ThingType, RegistryError> {
        check_thing_name(name)?;
        let mut types = self.thing_types.write();
        let key = (scope.clone(), name.to_string());
        if let Some(existing) = types.get(&key) {
            if existing.description == description && existing.searchable_attributes == searchable_attributes
            {
                return Ok(existing.clone());
            }
            return Err(RegistryError::AlreadyExists(format!("Thing type {name} already exists")));
        }
        let thing_type = ThingType {
            name: name.to_string(),
            id: uuid::Uuid::new_v4().to_string(),
            arn: format!("arn:aws:iot:{}:{}:thingtype/{name}", scope.region, scope.account),
            description,
            searchable_attributes,
            deprecated: false,
            deprecation_date: None,
            created: self.now_secs(),
        };
        self.put(THING_TYPE, scope, name, &thing_type)?;
        types.insert(key, thing_type.clone());
        self.thing_type_event(scope, &thing_type, "CREATED");
        Ok(thing_type)
    }

    /// DescribeThingType.
    pub fn describe_thing_type(&self, scope: &Scope, name: &str) -> Result<ThingType, RegistryError> {
        self.thing_types
            .read()
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))
    }

    /// ListThingTypes, by name, optionally one name only; one page.
    pub fn list_thing_types(
        &self,
        scope: &Scope,
        name: Option<&str>,
        page: &Page,
    ) -> Result<(Vec<ThingType>, Option<String>), RegistryError> {
        let types: Vec<ThingType> = self
            .thing_types
            .read()
            .iter()
            .filter(|((s, n), _)| s == scope && name.is_none_or(|wanted| wanted == n))
            .map(|(_, t)| t.clone())
            .collect();
        paginate(types, |t| t.name.as_str(), page)
    }

    /// DeprecateThingType (or undo it).
    pub fn deprecate_thing_type(&self, scope: &Scope, name: &str, undo: bool) -> Result<(), RegistryError> {
        let mut types = self.thing_types.write();
        let thing_type = types
            .get_mut(&(scope.clone(), name.to_string()))
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))?;
        let mut next = thing_type.clone();
        next.deprecated = !undo;
        next.deprecation_date = (!undo).then(|| self.now_secs());
        self.put(THING_TYPE, scope, name, &next)?;
        *thing_type = next;
        self.thing_type_event(scope, thing_type, "UPDATED");
        Ok(())
    }

    /// DeleteThingType: only a deprecated type that no thing uses. (AWS also makes you wait
    /// five minutes after deprecating; the emulator does not.)
    pub fn delete_thing_type(&self, scope: &Scope, name: &str) -> Result<(), RegistryError> {
        // Lock order (see `Registry`): things before thing types.
        let things = self.things.read();
        let mut types = self.thing_types.write();
        let key = (scope.clone(), name.to_string());
        let thing_type = types
            .get(&key)
            .ok_or_else(|| RegistryError::NotFound(format!("Thing type {name} cannot be found.")))?;
        if !thing_type.deprecated {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing type {name} must be deprecated before it is deleted"
            )));
        }
        let used = things.iter().any(|((s, _), t)| s == scope && t.type_name.as_deref() == Some(name));
        if used {
            return Err(RegistryError::InvalidRequest(format!("Thing type {name} is still used by things")));
        }
        self.store.delete(THING_TYPE, scope, name)?;
        if let Some(thing_type) = types.remove(&key) {
            self.thing_type_event(scope, &thing_type, "DELETED");
        }
        Ok(())
    }

    /// AttachThingPrincipal (the principal must be a known certificate ARN), NON_EXCLUSIVE_THING.
    pub fn attach_thing_principal(
        &self,
        scope: &Scope,
        thing: &str,
        principal: &str,
    ) -> Result<(), RegistryError> {
        self.attach_thing_principal_typed(scope, thing, principal, NON_EXCLUSIVE_THING)
    }

    /// AttachThingPrincipal with its `thingPrincipalType`: an EXCLUSIVE_THING principal is on
    /// this thing only, so it is refused while attached to another thing, and then no other thing
    /// may take it (botocore `ThingPrincipalType`).
    pub fn attach_thing_principal_typed(
        &self,
        scope: &Scope,
        thing: &str,
        principal: &str,
        principal_type: &str,
    ) -> Result<(), RegistryError> {
        if ![EXCLUSIVE_THING, NON_EXCLUSIVE_THING].contains(&principal_type) {
            return Err(RegistryError::InvalidRequest(format!(
                "thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING, not {principal_type:?}"
            )));
        }
        self.check_principal(scope, principal)?;
        {
            let things = self.things.read();
            let others = things
                .iter()
                .filter(|((s, n), t)| s == scope && n != thing && t.principals.contains(principal));
            for (_, other) in others {
                if principal_type == EXCLUSIVE_THING || other.exclusive_principals.contains(principal) {
                    return Err(RegistryError::InvalidRequest(format!(
                        "Principal {principal} is exclusively attached to a thing, or attached to another thing: \
                         it cannot be attached to {thing} as {principal_type}"
                    )));
                }
            }
        }
        let mut things = self.things.write();
        let t = things.get_mut(&(scope.clone(), thing.to_string())).ok_or_else(|| not_found(thing))?;
        let mut next = t.clone();
        next.principals.insert(principal.to_string());
        if principal_type == EXCLUSIVE_THING {
            next.exclusive_principals.insert(principal.to_string());
        } else {
            next.exclusive_principals.remove(principal);
        }
        self.save(scope, &next)?;
        *t = next;
        Ok(())
    }

    /// ListThingPrincipalsV2: the principals with their `thingPrincipalType`, optionally of one type.
    pub fn list_thing_principals_v2(
        &self,
        scope: &Scope,
        name: &str,
        principal_type: Option<&str>,
        page: &Page,
    ) -> Result<TypedPage, RegistryError> {
        let thing = self.describe_thing(scope, name).map_err(|_| principals_of_missing_thing(name))?;
        let typed: Vec<(String, &'static str)> = thing
            .principals
            .iter()
            .map(|p| (p.clone(), thing.principal_type(p)))
            .filter(|(_, ty)| principal_type.is_none_or(|want| want == *ty))
            .collect();
        paginate(typed, |(p, _)| p.as_str(), page)
    }

    /// ListPrincipalThingsV2: the things of a principal with its `thingPrincipalType` on each.
    pub fn list_principal_things_v2(
        &self,
        scope: &Scope,
        principal: &str,
        principal_type: Option<&str>,
        page: &Page,
    ) -> Result<TypedPage, RegistryError> {
        self.check_principal(scope, principal)?;
        let things: Vec<(String, &'static str)> = self
            .things
            .read()
            .iter()
            .filter(|((s, _), t)| s == scope && t.principals.contains(principal))
            .map(|(_, t)| (t.name.clone(), t.principal_type(principal)))
            .filter(|(_, ty)| principal_type.is_none_or(|want| want == *ty))
            .collect();
        paginate(things, |(t, _)| t.as_str(), page)
    }

    /// DetachThingPrincipal.
    pub fn detach_thing_principal(
        &self,
        scope: &Scope,
        thing: &str,
        principal: &str,
    ) -> Result<(), RegistryError> {
        self.change_principals(scope, thing, |set, exclusive| {
            set.remove(principal);
            exclusive.remove(principal);
        })
    }

    fn change_principals(
        &self,
        scope: &Scope,
        name: &str,
        change: impl FnOnce(&mut std::collections::BTreeSet<String>, &mut std::collections::BTreeSet<String>),
    ) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        let thing = things.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        let mut next = thing.clone();
        change(&mut next.principals, &mut next.exclusive_principals);
        self.save(scope, &next)?;
        *thing = next;
        Ok(())
    }

    fn check_principal(&self, scope: &Scope, principal: &str) -> Result<(), RegistryError> {
        let known = self.certificates.read().iter().any(|((s, _), c)| s == scope && c.arn == principal);
        known
            .then_some(())
            .ok_or_else(|| RegistryError::NotFound(format!("Principal {principal} cannot be found.")))
    }

    /// ListThingPrincipals, one page.
    pub fn list_thing_principals(
        &self,
        scope: &Scope,
        name: &str,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        let thing = self.describe_thing(scope, name).map_err(|_| principals_of_missing_thing(name))?;
        let principals = thing.principals.into_iter().collect();
        paginate(principals, |p| p.as_str(), page)
    }

    /// ListPrincipalThings, one page.
    pub fn list_principal_things(
        &self,
        scope: &Scope,
        principal: &str,
        page: &Page,
    ) -> Result<(Vec<String>, Option<String>), RegistryError> {
        self.check_principal(scope, principal)?;
        let things = self
            .things
            .read()
            .iter()
            .filter(|((s, _), t)| s == scope && t.principals.contains(principal))
            .map(|(_, t)| t.name.clone())
            .collect();
        paginate(things, |t| t.as_str(), page)
    }
}

/// One page of (name, `thingPrincipalType`) pairs and the next token.
type TypedPage = (Vec<(String, &'static str)>, Option<String>);

/// AWS's answer to listing the principals of a thing that does not exist.
fn principals_of_missing_thing(name: &str) -> RegistryError {
    RegistryError::NotFound(format!(
        "Failed to list principals for thing {name} because the thing does not exist in your account"
    ))
}

fn not_found(name: &str) -> RegistryError {
    RegistryError::NotFound(format!("Thing {name} cannot be found."))
}

fn check_version(thing: &Thing, expected: Option<i64>) -> Result<(), RegistryError> {
    match expected {
        Some(v) if v != thing.version => Err(RegistryError::VersionConflict(format!(
            "The version for thing {} does not match the expected version.",
            thing.name
        ))),
        _ => Ok(()),
    }
}
