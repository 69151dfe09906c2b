//! Registry operations. Reads come from the in-memory cache; every mutation is written to the
//! store before it returns.

use crate::state::{apply_attributes, check_attributes, check_thing_name, Thing};
use crate::RegistryError;
use iotemu_store::{Scope, Store};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

const THING: &str = "thing";

/// The registry of every account and region.
pub struct Registry {
    store: Arc<Store>,
    things: RwLock<BTreeMap<(Scope, String), Thing>>,
}

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
    /// Loads the registry from `store`.
    pub fn load(store: Arc<Store>) -> Result<Self, RegistryError> {
        let mut things = BTreeMap::new();
        for doc in store.all(THING)? {
            let thing: Thing =
                serde_json::from_value(doc.value).map_err(|e| RegistryError::Internal(e.to_string()))?;
            things.insert((doc.scope, doc.key), thing);
        }
        Ok(Registry { store, things: RwLock::new(things) })
    }

    fn save(&self, scope: &Scope, thing: &Thing) -> Result<(), RegistryError> {
        let value = serde_json::to_value(thing).map_err(|e| RegistryError::Internal(e.to_string()))?;
        Ok(self.store.put(THING, scope, &thing.name, &value)?)
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
        };
        self.save(scope, &thing)?;
        things.insert(key, thing.clone());
        Ok(thing)
    }

    /// DescribeThing.
    pub fn describe_thing(&self, scope: &Scope, name: &str) -> Result<Thing, RegistryError> {
        self.things.read().get(&(scope.clone(), name.to_string())).cloned().ok_or_else(|| not_found(name))
    }

    /// UpdateThing: `expectedVersion` must match; the version goes up by one.
    pub fn update_thing(&self, scope: &Scope, name: &str, update: UpdateThing) -> Result<(), RegistryError> {
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
        *thing = next;
        Ok(())
    }

    /// DeleteThing: deleting a thing that does not exist succeeds, as on AWS.
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
        self.store.delete(THING, scope, name)?;
        things.remove(&key);
        Ok(())
    }

    /// ListThings, by name, one page: the things and the token of the next page.
    pub fn list_things(
        &self,
        scope: &Scope,
        query: &ListThings,
    ) -> Result<(Vec<Thing>, Option<String>), RegistryError> {
        let max = query.max_results.unwrap_or(50);
        if !(1..=250).contains(&max) {
            return Err(RegistryError::InvalidRequest("maxResults must be between 1 and 250".into()));
        }
        let things = self.things.read();
        let start = (scope.clone(), query.next_token.clone().unwrap_or_default());
        let mut page = Vec::new();
        let mut matching = things
            .range(start..)
            .take_while(|((s, _), _)| s == scope)
            // The token is the last name of the previous page.
            .filter(|((_, name), _)| query.next_token.as_deref() != Some(name.as_str()))
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
        for thing in matching.by_ref().take(max) {
            page.push(thing.clone());
        }
        let next = matching.next().and(page.last().map(|t| t.name.clone()));
        Ok((page, next))
    }

    /// Forgets everything (`POST /_iotemu/reset`).
    pub fn reset(&self) -> Result<(), RegistryError> {
        let mut things = self.things.write();
        for (scope, name) in things.keys() {
            self.store.delete(THING, scope, name)?;
        }
        things.clear();
        Ok(())
    }
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
