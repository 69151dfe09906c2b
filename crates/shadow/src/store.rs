//! The shadow operations. Reads come from the in-memory cache; every accepted update and
//! deletion is committed to the store before it returns (`docs/architecture.md`, "Persistence").

use crate::state::{
    apply_update, check_shadow_name, check_thing_name, delete_answer, parse_request, Limits, ShadowDocument,
    UpdateOutcome,
};
use crate::ShadowError;
use iotemu_api::paging::page;
use iotemu_core::Scope;
use iotemu_store::Store;
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
    /// deleted (GetThingShadow). Render it with [`crate::get_document`].
    pub fn get_thing_shadow(
        &self,
        scope: &Scope,
        thing: &str,
        name: Option<&str>,
    ) -> Result<ShadowDocument, ShadowError> {
        let key = key(scope, thing, name)?;
        match self.shadows.read().get(&key) {
            Some(doc) if !doc.deleted => Ok(doc.clone()),
            _ => Err(ShadowError::not_found(name.unwrap_or(thing))),
        }
    }

    /// Applies the update request `payload` at `now` (epoch seconds), creating the shadow if
    /// needed (no registered thing is required), and commits it before returning.
    pub fn update_thing_shadow(
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
    pub fn delete_thing_shadow(
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
    pub fn list_named_shadows_for_thing(
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
        let names = shadows
            .iter()
            .filter(|((s, t, n), doc)| s == scope && t == thing && !n.is_empty() && !doc.deleted)
            .map(|((_, _, n), _)| n);
        let (names, next) = page(names, |n| n.as_str(), next_token, size);
        Ok((names.into_iter().cloned().collect(), next))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::get_document;
    use serde_json::json;

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn shadows() -> Shadows {
        Shadows::load(Arc::new(Store::in_memory().unwrap()), Limits::default()).unwrap()
    }

    #[test]
    fn an_update_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iotemu.db");
        {
            let s = Shadows::load(Arc::new(Store::open(&path).unwrap()), Limits::default()).unwrap();
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"on": true}}}"#, 1)
                .unwrap();
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"on": false}}}"#, 2)
                .unwrap();
            s.update_thing_shadow(&scope(), "lamp", Some("cfg"), br#"{"state": {"desired": {"x": 1}}}"#, 3)
                .unwrap();
        }
        let s = Shadows::load(Arc::new(Store::open(&path).unwrap()), Limits::default()).unwrap();
        let doc = s.get_thing_shadow(&scope(), "lamp", None).unwrap();
        assert_eq!(doc.version, 2);
        assert_eq!(get_document(&doc, None, 9)["state"]["delta"], json!({"on": false}));
        assert_eq!(s.get_thing_shadow(&scope(), "lamp", Some("cfg")).unwrap().version, 1);
        let next = s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 4).unwrap();
        assert_eq!(next.document.version, 3);
    }

    #[test]
    fn a_deleted_shadow_is_gone_but_its_version_goes_on() {
        let s = shadows();
        for t in 1..=4 {
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"t": 1}}}"#, t)
                .unwrap();
        }
        assert_eq!(
            s.delete_thing_shadow(&scope(), "lamp", None, None, 5).unwrap(),
            json!({"version": 4, "timestamp": 5})
        );
        assert_eq!(s.get_thing_shadow(&scope(), "lamp", None).unwrap_err(), ShadowError::not_found("lamp"));
        assert_eq!(s.delete_thing_shadow(&scope(), "lamp", None, Some("c"), 6).unwrap_err().code, 404);
        let out =
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"t": 2}}}"#, 7).unwrap();
        assert_eq!(out.document.version, 5);
        assert_eq!(out.document.state(), json!({"desired": {"t": 2}}));
    }

    #[test]
    fn a_shadow_needs_no_thing_and_named_shadows_are_apart() {
        let s = shadows();
        assert_eq!(
            s.get_thing_shadow(&scope(), "nobody", None).unwrap_err().message,
            "No shadow exists with name: 'nobody'"
        );
        assert_eq!(
            s.get_thing_shadow(&scope(), "nobody", Some("cfg")).unwrap_err().message,
            "No shadow exists with name: 'cfg'"
        );
        s.update_thing_shadow(&scope(), "nobody", Some("cfg"), br#"{"state": {"reported": {"a": 1}}}"#, 1)
            .unwrap();
        assert!(s.get_thing_shadow(&scope(), "nobody", None).is_err());
        assert!(s.get_thing_shadow(&Scope::new("123456789012", "eu-west-1"), "nobody", Some("cfg")).is_err());
        assert_eq!(s.get_thing_shadow(&scope(), "nobody", Some("cfg")).unwrap().version, 1);
    }

    #[test]
    fn names_and_requests_are_checked_before_anything_is_stored() {
        let s = shadows();
        let long_thing = "t".repeat(129);
        let long_shadow = "s".repeat(65);
        let body = br#"{"state": {}}"#;
        assert_eq!(
            s.update_thing_shadow(&scope(), &long_thing, None, body, 1).unwrap_err(),
            ShadowError::invalid_thing_name()
        );
        assert_eq!(
            s.update_thing_shadow(&scope(), "lamp", Some(&long_shadow), body, 1).unwrap_err(),
            ShadowError::invalid_shadow_name()
        );
        assert_eq!(
            s.update_thing_shadow(&scope(), "lamp", None, b"nope", 1).unwrap_err(),
            ShadowError::invalid_json()
        );
        assert!(s.get_thing_shadow(&scope(), "lamp", None).is_err());
    }

    #[test]
    fn a_conflicting_update_changes_nothing() {
        let s = shadows();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"desired": {"a": 1}}}"#, 1).unwrap();
        let err = s.update_thing_shadow(
            &scope(),
            "lamp",
            None,
            br#"{"state": {"desired": {"a": 2}}, "version": 7}"#,
            2,
        );
        assert_eq!(err.unwrap_err(), ShadowError::version_conflict());
        let doc = s.get_thing_shadow(&scope(), "lamp", None).unwrap();
        assert_eq!((doc.version, doc.state()), (1, json!({"desired": {"a": 1}})));
    }

    #[test]
    fn named_shadows_are_listed_in_pages() {
        let s = shadows();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 1).unwrap();
        for name in ["c", "a", "b", "d"] {
            s.update_thing_shadow(&scope(), "lamp", Some(name), br#"{"state": {}}"#, 1).unwrap();
        }
        s.update_thing_shadow(&scope(), "other", Some("z"), br#"{"state": {}}"#, 1).unwrap();
        s.delete_thing_shadow(&scope(), "lamp", Some("d"), None, 2).unwrap();
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(2), None).unwrap(),
            (vec!["a".to_string(), "b".to_string()], Some("b".to_string()))
        );
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(2), Some("b")).unwrap(),
            (vec!["c".to_string()], None)
        );
        assert_eq!(s.list_named_shadows_for_thing(&scope(), "ghost", None, None).unwrap(), (vec![], None));
        assert_eq!(
            s.list_named_shadows_for_thing(&scope(), "lamp", Some(0), None).unwrap_err(),
            ShadowError::invalid_page_size()
        );
        assert_eq!(s.list_named_shadows_for_thing(&scope(), "lamp", Some(101), None).unwrap_err().code, 400);
    }

    #[test]
    fn reset_forgets_every_shadow_in_the_store_too() {
        let store = Arc::new(Store::in_memory().unwrap());
        let s = Shadows::load(store.clone(), Limits::default()).unwrap();
        s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 1).unwrap();
        s.reset().unwrap();
        assert!(s.get_thing_shadow(&scope(), "lamp", None).is_err());
        let again = Shadows::load(store, Limits::default()).unwrap();
        assert!(again.get_thing_shadow(&scope(), "lamp", None).is_err());
        assert_eq!(
            again
                .update_thing_shadow(&scope(), "lamp", None, br#"{"state": {}}"#, 2)
                .unwrap()
                .document
                .version,
            1
        );
    }

    #[test]
    fn limits_are_configurable() {
        let limits = Limits { max_document_bytes: 10, max_depth: 6 };
        let s = Shadows::load(Arc::new(Store::in_memory().unwrap()), limits).unwrap();
        let err =
            s.update_thing_shadow(&scope(), "lamp", None, br#"{"state": {"reported": {"abc": "defgh"}}}"#, 1);
        assert_eq!(err.unwrap_err(), ShadowError::payload_too_large());
        assert_eq!(s.limits().max_document_bytes, 10);
    }
}
