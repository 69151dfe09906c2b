//! The shadow operations. Reads come from the in-memory cache; every accepted update and
//! deletion is committed to the store before it returns (DESIGN.md, "Persistence").

use crate::state::{
    apply_update, check_shadow_name, check_thing_name, delete_answer, parse_request, Limits, ShadowDocument,
    UpdateOutcome,
};
use crate::ShadowError;
use iotemu_store::{Scope, Store};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The store kind of shadows; the key is `<thing>\u{1}<shadow name, empty for the classic one>`.
const SHADOW: &str = "shadow";
const SEPARATOR: char = '\u{1}';

/// (scope, thing name, shadow name or "" for the classic shadow).
type Key = (Scope, String, String);

/// Every shadow of every account and region, deleted ones included as tombstones.
pub struct Shadows {
    store: Arc<Store>,
    limits: Limits,
    shadows: RwLock<BTreeMap<Key, ShadowDocument>>,
}

impl Shadows {
    /// Loads the shadows from `store`.
    pub fn load(store: Arc<Store>, limits: Limits) -> Result<Self, ShadowError> {
        let mut shadows = BTreeMap::new();
        for doc in store.all(SHADOW)? {
            let Some((thing, name)) = doc.key.split_once(SEPARATOR) else { continue };
            let shadow: ShadowDocument =
                serde_json::from_value(doc.value).map_err(|_| ShadowError::internal())?;
            shadows.insert((doc.scope, thing.to_string(), name.to_string()), shadow);
        }
        Ok(Shadows { store, limits, shadows: RwLock::new(shadows) })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The shadow `name` (`None`: the classic shadow) of `thing`; 404 if there is none or it was
    /// deleted. Render it with [`crate::get_document`].
    pub fn get(&self, scope: &Scope, thing: &str, name: Option<&str>) -> Result<ShadowDocument, ShadowError> {
        let key = key(scope, thing, name)?;
        match self.shadows.read().get(&key) {
            Some(doc) if !doc.deleted => Ok(doc.clone()),
            _ => Err(ShadowError::not_found(name.unwrap_or(thing))),
        }
    }

    /// Applies the update request `payload` at `now` (epoch seconds), creating the shadow if
    /// needed (no registered thing is required), and commits it before returning.
    pub fn update(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        payload: &[u8],
        now: u64,
    ) -> Result<UpdateOutcome, ShadowError> {
        let key = key(scope, thing, name)?;
        let request = parse_request(payload)?;
        let mut shadows = self.shadows.write();
        let outcome = apply_update(shadows.get(&key), &request, now, &self.limits)?;
        self.persist(&key, &outcome.document)?;
        shadows.insert(key, outcome.document.clone());
        Ok(outcome)
    }

    /// Deletes a shadow and returns the `/delete/accepted` payload (`{version, timestamp}`, with
    /// `client_token` if given); the version goes on at the next update. 404 if there is none.
    pub fn delete(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
        client_token: Option<&str>,
        now: u64,
    ) -> Result<serde_json::Value, ShadowError> {
        let key = key(scope, thing, name)?;
        let mut shadows = self.shadows.write();
        let version = match shadows.get(&key) {
            Some(doc) if !doc.deleted => doc.version,
            _ => return Err(ShadowError::not_found(name.unwrap_or(thing))),
        };
        let tombstone = ShadowDocument { version, timestamp: now, deleted: true, ..Default::default() };
        self.persist(&key, &tombstone)?;
        shadows.insert(key, tombstone);
        Ok(delete_answer(version, client_token, now))
    }

    /// ListNamedShadowsForThing: the names of `thing`'s named shadows in order, at most
    /// `page_size` (1-100, default 100), after `next_token` (the last name of the previous
    /// page), and the token of the next page if there is one. The classic shadow is not listed;
    /// an unknown thing has none.
    pub fn list_named(
        &self,
        scope: &Scope,
        thing: &str,
        page_size: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), ShadowError> {
        check_thing_name(thing)?;
        let size = page_size.unwrap_or(100);
        if !(1..=100).contains(&size) {
            return Err(ShadowError::invalid_page_size());
        }
        let shadows = self.shadows.read();
        let mut names = shadows
            .iter()
            .filter(|((s, t, n), doc)| s == scope && t == thing && !n.is_empty() && !doc.deleted)
            .map(|((_, _, n), _)| n)
            .filter(|n| next_token.is_none_or(|token| n.as_str() > token));
        let page: Vec<String> = names.by_ref().take(size).cloned().collect();
        let next = names.next().and(page.last().cloned());
        Ok((page, next))
    }

    /// Forgets every shadow (`POST /_iotemu/reset`), in the store too.
    pub fn reset(&self) -> Result<(), ShadowError> {
        let mut shadows = self.shadows.write();
        for (scope, thing, name) in shadows.keys() {
            self.store.delete(SHADOW, scope, &store_key(thing, name))?;
        }
        shadows.clear();
        Ok(())
    }

    fn persist(&self, (scope, thing, name): &Key, doc: &ShadowDocument) -> Result<(), ShadowError> {
        let value = serde_json::to_value(doc).map_err(|_| ShadowError::internal())?;
        self.store.put(SHADOW, scope, &store_key(thing, name), &value)?;
        Ok(())
    }
}

fn key(scope: &Scope, thing: &str, name: Option<&str>) -> Result<Key, ShadowError> {
    check_thing_name(thing)?;
    if let Some(n) = name {
        check_shadow_name(n)?;
    }
    Ok((scope.clone(), thing.to_string(), name.unwrap_or_default().to_string()))
}

fn store_key(thing: &str, name: &str) -> String {
    format!("{thing}{SEPARATOR}{name}")
}
