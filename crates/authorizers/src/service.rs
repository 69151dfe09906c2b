//! The authorizer operations over the store, with a cache of every account's authorizers.

use crate::invoke::{self, TestInvokeInput};
use crate::state::{check, check_name, Authorizer, AuthorizerInput};
use crate::AuthorizerError;
use iotemu_api::paging::page;
use iotemu_core::{Clock, Scope};
use iotemu_store::Store;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const AUTHORIZER: &str = "authorizer";
const DEFAULT_AUTHORIZER: &str = "default-authorizer";
/// The store key of an account's default authorizer.
const DEFAULT_KEY: &str = "default";

/// Every account's authorizers and default authorizer.
pub struct Authorizers {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    authorizers: RwLock<BTreeMap<(Scope, String), Authorizer>>,
    defaults: RwLock<HashMap<Scope, String>>,
    /// Function ARN (or `*`) -> the URL the function is reached at.
    endpoints: HashMap<String, String>,
    http: reqwest::Client,
}

impl Authorizers {
    /// Keeps a new authorizer's tags (CreateAuthorizer's `tags`, checked before it was made).
    pub fn keep_created_tags(
        &self,
        scope: &Scope,
        arn: &str,
        tags: &iotemu_api::tags::Tags,
    ) -> Result<(), iotemu_api::ApiError> {
        iotemu_api::tags::set_tags(&self.store, scope, arn, tags)
    }

    /// Reads the authorizers back from the store.
    pub fn load(store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Self, AuthorizerError> {
        let mut authorizers = BTreeMap::new();
        for doc in store.all(AUTHORIZER)? {
            let authorizer: Authorizer =
                serde_json::from_value(doc.value).map_err(|e| AuthorizerError::Internal(e.to_string()))?;
            authorizers.insert((doc.scope, doc.key), authorizer);
        }
        let mut defaults = HashMap::new();
        for doc in store.all(DEFAULT_AUTHORIZER)? {
            if let Some(name) = doc.value.as_str() {
                defaults.insert(doc.scope, name.to_string());
            }
        }
        Ok(Authorizers {
            store,
            clock,
            authorizers: RwLock::new(authorizers),
            defaults: RwLock::new(defaults),
            endpoints: HashMap::new(),
            http: reqwest::Client::new(),
        })
    }

    /// The functions' URLs (`[authorizers] endpoints`).
    pub fn with_endpoints(mut self, endpoints: HashMap<String, String>) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// TestInvokeAuthorizer: a signing authorizer needs the token and its signature (verified
    /// with its public keys: InvalidRequestException when no key verifies it); then the function
    /// answers (`crate::invoke`).
    pub async fn test_invoke_authorizer(
        &self,
        scope: &Scope,
        name: &str,
        input: TestInvokeInput,
    ) -> Result<serde_json::Value, AuthorizerError> {
        let authorizer = self.describe_authorizer(scope, name)?;
        let mut verified = false;
        if !authorizer.signing_disabled {
            let (Some(token), Some(signature)) = (&input.token, &input.token_signature) else {
                return Err(AuthorizerError::InvalidRequest(
                    "token and tokenSignature are required by an authorizer with signing enabled".into(),
                ));
            };
            if !invoke::signature_verified(&authorizer, token, signature) {
                return Err(AuthorizerError::InvalidRequest(
                    "The token signature could not be verified with the authorizer's public keys".into(),
                ));
            }
            verified = true;
        }
        self.invoke_function(&authorizer, &invoke::event(&input, verified)).await
    }

    /// Calls the authorizer's function at its `[authorizers] endpoints` URL with `event`: the one
    /// place the function is called, for TestInvokeAuthorizer and connecting devices.
    pub(crate) async fn invoke_function(
        &self,
        authorizer: &Authorizer,
        event: &serde_json::Value,
    ) -> Result<serde_json::Value, AuthorizerError> {
        let Some(url) = invoke::endpoint(&self.endpoints, &authorizer.authorizer_function_arn) else {
            return Err(AuthorizerError::InvalidResponse(format!(
                "No [authorizers] endpoints entry for function {}",
                authorizer.authorizer_function_arn
            )));
        };
        invoke::call(&self.http, url, event).await
    }

    fn now(&self) -> f64 {
        self.clock.now_millis() as f64 / 1000.0
    }

    fn save(&self, scope: &Scope, authorizer: &Authorizer) -> Result<(), AuthorizerError> {
        let value = serde_json::to_value(authorizer).map_err(|e| AuthorizerError::Internal(e.to_string()))?;
        Ok(self.store.put(AUTHORIZER, scope, &authorizer.authorizer_name, &value)?)
    }

    fn not_found(name: &str) -> AuthorizerError {
        AuthorizerError::NotFound(format!("Authorizer {name} not found"))
    }

    /// CreateAuthorizer: ACTIVE unless `status` says otherwise; signing unless `signingDisabled`.
    pub fn create_authorizer(
        &self,
        scope: &Scope,
        name: &str,
        input: AuthorizerInput,
    ) -> Result<Authorizer, AuthorizerError> {
        check_name(name)?;
        let Some(function_arn) = input.authorizer_function_arn else {
            return Err(AuthorizerError::InvalidRequest("authorizerFunctionArn is required".into()));
        };
        let now = self.now();
        let authorizer = Authorizer {
            authorizer_name: name.to_string(),
            authorizer_arn: format!("arn:aws:iot:{}:{}:authorizer/{name}", scope.region, scope.account),
            authorizer_function_arn: function_arn,
            token_key_name: input.token_key_name,
            token_signing_public_keys: input.token_signing_public_keys.unwrap_or_default(),
            status: input.status.unwrap_or_else(|| "ACTIVE".into()),
            creation_date: now,
            last_modified_date: now,
            signing_disabled: input.signing_disabled.unwrap_or(false),
            enable_caching_for_http: input.enable_caching_for_http.unwrap_or(false),
        };
        check(&authorizer)?;
        let mut authorizers = self.authorizers.write();
        let key = (scope.clone(), name.to_string());
        if authorizers.contains_key(&key) {
            return Err(AuthorizerError::AlreadyExists(format!("Authorizer {name} already exists")));
        }
        self.save(scope, &authorizer)?;
        authorizers.insert(key, authorizer.clone());
        Ok(authorizer)
    }

    /// DescribeAuthorizer.
    pub fn describe_authorizer(&self, scope: &Scope, name: &str) -> Result<Authorizer, AuthorizerError> {
        self.authorizers
            .read()
            .get(&(scope.clone(), name.to_string()))
            .cloned()
            .ok_or_else(|| Self::not_found(name))
    }

    /// ListAuthorizers: by name, ascending unless `ascending` is false, optionally of one
    /// `status`; at most `page_size` after the name `marker`, and the marker of the next page.
    pub fn list_authorizers(
        &self,
        scope: &Scope,
        status: Option<&str>,
        ascending: bool,
        marker: Option<&str>,
        page_size: usize,
    ) -> (Vec<Authorizer>, Option<String>) {
        let authorizers = self.authorizers.read();
        let mut mine: Vec<Authorizer> = authorizers
            .iter()
            .filter(|((s, _), a)| s == scope && status.is_none_or(|st| a.status == st))
            .map(|(_, a)| a.clone())
            .collect();
        if ascending {
            page(mine, |a| &a.authorizer_name, marker, page_size)
        } else {
            mine.reverse();
            let start =
                marker.map_or(0, |m| mine.iter().take_while(|a| a.authorizer_name.as_str() >= m).count());
            let rest: Vec<Authorizer> = mine.into_iter().skip(start).collect();
            let next = (rest.len() > page_size).then(|| rest[page_size - 1].authorizer_name.clone());
            (rest.into_iter().take(page_size).collect(), next)
        }
    }

    /// UpdateAuthorizer: the function, token key name, public keys, status and HTTP caching; the
    /// signing requirement cannot change (`config-custom-auth.md`).
    pub fn update_authorizer(
        &self,
        scope: &Scope,
        name: &str,
        input: AuthorizerInput,
    ) -> Result<Authorizer, AuthorizerError> {
        let mut authorizers = self.authorizers.write();
        let key = (scope.clone(), name.to_string());
        let mut authorizer = authorizers.get(&key).cloned().ok_or_else(|| Self::not_found(name))?;
        if input.signing_disabled.is_some_and(|d| d != authorizer.signing_disabled) {
            return Err(AuthorizerError::InvalidRequest(
                "The signing requirement of an authorizer cannot be changed".into(),
            ));
        }
        if let Some(v) = input.authorizer_function_arn {
            authorizer.authorizer_function_arn = v;
        }
        if let Some(v) = input.token_key_name {
            authorizer.token_key_name = Some(v);
        }
        if let Some(v) = input.token_signing_public_keys {
            authorizer.token_signing_public_keys = v;
        }
        if let Some(v) = input.status {
            authorizer.status = v;
        }
        if let Some(v) = input.enable_caching_for_http {
            authorizer.enable_caching_for_http = v;
        }
        authorizer.last_modified_date = self.now();
        check(&authorizer)?;
        self.save(scope, &authorizer)?;
        authorizers.insert(key, authorizer.clone());
        Ok(authorizer)
    }

    /// DeleteAuthorizer: only an INACTIVE one (DeleteConflictException otherwise); deleting the
    /// default authorizer leaves the account without one.
    pub fn delete_authorizer(&self, scope: &Scope, name: &str) -> Result<(), AuthorizerError> {
        let mut authorizers = self.authorizers.write();
        let key = (scope.clone(), name.to_string());
        let authorizer = authorizers.get(&key).ok_or_else(|| Self::not_found(name))?;
        if authorizer.status == "ACTIVE" {
            return Err(AuthorizerError::DeleteConflict(format!(
                "Authorizer {name} is ACTIVE: set it INACTIVE before deleting it"
            )));
        }
        self.store.delete(AUTHORIZER, scope, name)?;
        authorizers.remove(&key);
        let mut defaults = self.defaults.write();
        if defaults.get(scope).is_some_and(|d| d == name) {
            self.store.delete(DEFAULT_AUTHORIZER, scope, DEFAULT_KEY)?;
            defaults.remove(scope);
        }
        Ok(())
    }

    /// SetDefaultAuthorizer: the authorizer used when a client names none.
    pub fn set_default_authorizer(&self, scope: &Scope, name: &str) -> Result<Authorizer, AuthorizerError> {
        let authorizer = self.describe_authorizer(scope, name)?;
        let mut defaults = self.defaults.write();
        self.store.put(DEFAULT_AUTHORIZER, scope, DEFAULT_KEY, &serde_json::Value::from(name))?;
        defaults.insert(scope.clone(), name.to_string());
        Ok(authorizer)
    }

    /// DescribeDefaultAuthorizer: ResourceNotFoundException when the account has none.
    pub fn describe_default_authorizer(&self, scope: &Scope) -> Result<Authorizer, AuthorizerError> {
        let name = self.defaults.read().get(scope).cloned();
        match name {
            Some(name) => self.describe_authorizer(scope, &name),
            None => Err(AuthorizerError::NotFound("No default authorizer is set".into())),
        }
    }

    /// Forgets every account's authorizers (`/_iotemu/reset`).
    pub fn reset(&self) -> Result<(), AuthorizerError> {
        let mut authorizers = self.authorizers.write();
        for (scope, name) in authorizers.keys() {
            self.store.delete(AUTHORIZER, scope, name)?;
        }
        authorizers.clear();
        let mut defaults = self.defaults.write();
        for scope in defaults.keys() {
            self.store.delete(DEFAULT_AUTHORIZER, scope, DEFAULT_KEY)?;
        }
        defaults.clear();
        Ok(())
    }
}
