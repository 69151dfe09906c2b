//! Topic rules through the `iot` API (botocore `iot/2015-05-28`): CreateTopicRule, GetTopicRule,
//! ListTopicRules, ReplaceTopicRule, DeleteTopicRule, EnableTopicRule, DisableTopicRule. A rule's
//! SQL is parsed when it is created or replaced, so an invalid statement is refused with
//! SqlParseException (400) and a message that points at the problem. Rules are kept per account
//! and region in the SQLite store.
//!
//! AWS answers GetTopicRule, DeleteTopicRule, EnableTopicRule and DisableTopicRule for a rule
//! that does not exist with UnauthorizedException (401), not a 404; so does iotemu. Every action
//! of botocore's `Action` shape is accepted and kept as given (`actions`, `errorAction`); an
//! action that is not one object with one type, or whose templates do not parse, is refused
//! with InvalidRequestException.

use crate::actions::Action;
use crate::sql::{SqlVersion, Statement};
use iotemu_api::paging::page;
use iotemu_core::Scope;
use iotemu_core::{Clock, ServiceError};
use iotemu_store::Store;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const TOPIC_RULE: &str = "topic-rule";

/// A topic rule, as stored (botocore `TopicRule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRule {
    pub name: String,
    pub arn: String,
    pub sql: String,
    pub description: Option<String>,
    pub actions: Vec<Value>,
    pub error_action: Option<Value>,
    pub disabled: bool,
    /// As given; `None` means the default, 2015-10-08.
    pub sql_version: Option<String>,
    /// Epoch seconds.
    pub created: i64,
}

/// CreateTopicRule's and ReplaceTopicRule's `topicRulePayload`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRulePayload {
    pub sql: Option<String>,
    pub description: Option<String>,
    pub actions: Option<Vec<Value>>,
    #[serde(default)]
    pub rule_disabled: bool,
    pub aws_iot_sql_version: Option<String>,
    pub error_action: Option<Value>,
}

/// A rule with its statement and actions parsed, as the cache holds it (cheap to clone).
#[derive(Debug, Clone)]
pub struct CachedRule {
    pub rule: Arc<TopicRule>,
    /// The rule's name, shared by its entries.
    pub name: Arc<str>,
    pub statement: Arc<Statement>,
    pub actions: Arc<[Action]>,
    pub error_action: Option<Arc<Action>>,
    /// Whether the statement or an action may call `traceid()` (the name appears anywhere in
    /// them, in any case): only then is the trace id formatted for the SQL of each message.
    pub uses_trace_id: bool,
}

impl CachedRule {
    /// Parses the statement and the actions of `rule`.
    fn parse(rule: TopicRule) -> Result<CachedRule, RuleError> {
        let version = match rule.sql_version.as_deref() {
            None => SqlVersion::default(),
            Some(v) => SqlVersion::parse(v)
                .ok_or_else(|| RuleError::InvalidRequest(format!("unknown awsIotSqlVersion {v:?}")))?,
        };
        let statement =
            Statement::parse(&rule.sql, version).map_err(|e| RuleError::SqlParse(e.to_string()))?;
        let actions = rule
            .actions
            .iter()
            .map(|a| Action::parse(a, version))
            .collect::<Result<Vec<_>, _>>()
            .map_err(RuleError::InvalidRequest)?;
        let error_action = match &rule.error_action {
            Some(a) => Some(Arc::new(Action::parse(a, version).map_err(RuleError::InvalidRequest)?)),
            None => None,
        };
        let mentions = |text: &str| text.to_ascii_lowercase().contains("traceid");
        let uses_trace_id = mentions(&rule.sql)
            || rule.actions.iter().chain(&rule.error_action).any(|a| mentions(&a.to_string()));
        Ok(CachedRule {
            uses_trace_id,
            name: rule.name.as_str().into(),
            rule: Arc::new(rule),
            statement: Arc::new(statement),
            actions: actions.into(),
            error_action,
        })
    }
}

/// The errors of the topic-rule operations.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{0}")]
    SqlParse(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ServiceError for RuleError {
    fn http_status(&self) -> u16 {
        match self {
            RuleError::SqlParse(_) | RuleError::InvalidRequest(_) => 400,
            RuleError::AlreadyExists(_) => 409,
            RuleError::Unauthorized(_) => 401,
            RuleError::Internal(_) => 500,
        }
    }

    fn error_type(&self) -> &'static str {
        match self {
            RuleError::SqlParse(_) => "SqlParseException",
            RuleError::InvalidRequest(_) => "InvalidRequestException",
            RuleError::AlreadyExists(_) => "ResourceAlreadyExistsException",
            RuleError::Unauthorized(_) => "UnauthorizedException",
            RuleError::Internal(_) => "InternalException",
        }
    }
}

impl From<iotemu_store::StoreError> for RuleError {
    fn from(e: iotemu_store::StoreError) -> Self {
        RuleError::Internal(e.to_string())
    }
}

/// botocore `RuleName`: 1-128 of `[a-zA-Z0-9_]`.
fn check_rule_name(name: &str) -> Result<(), RuleError> {
    let ok = (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(()).ok_or_else(|| {
        RuleError::InvalidRequest(format!(
            "ruleName {name:?} must be 1 to 128 characters of a-z, A-Z, 0-9 and _"
        ))
    })
}

fn not_found(name: &str) -> RuleError {
    RuleError::Unauthorized(format!("Access to topic rule '{name}' was denied"))
}

/// Parses a payload into a rule named `name` (the SQL checked as its version says).
fn rule_of(
    scope: &Scope,
    name: &str,
    payload: TopicRulePayload,
    created: i64,
) -> Result<CachedRule, RuleError> {
    let sql =
        payload.sql.ok_or_else(|| RuleError::InvalidRequest("topicRulePayload.sql is required".into()))?;
    let actions = payload.actions.unwrap_or_default();
    if actions.len() > 10 {
        return Err(RuleError::InvalidRequest("a rule has at most 10 actions".into()));
    }
    let rule = TopicRule {
        name: name.to_string(),
        arn: format!("arn:aws:iot:{}:{}:rule/{name}", scope.region, scope.account),
        sql,
        description: payload.description,
        actions,
        error_action: payload.error_action,
        disabled: payload.rule_disabled,
        sql_version: payload.aws_iot_sql_version,
        created,
    };
    CachedRule::parse(rule)
}

/// The topic rules of every account and region.
pub struct TopicRules {
    store: Arc<Store>,
    /// Creation dates.
    clock: Arc<dyn Clock>,
    /// Each rule shared, so that a message's matching rules are one reference count each.
    rules: RwLock<BTreeMap<(Scope, String), Arc<CachedRule>>>,
    /// The enabled rules as [`TopicRules::matching`] reads them, rebuilt at every change.
    enabled: RwLock<Arc<Enabled>>,
    /// `enabled`'s generation: each thread keeps the snapshot it last read and only takes the
    /// lock again once this moved, so that messages on every core do not contend on it.
    generation: AtomicU64,
}

/// The enabled rules of each scope, in name order (the order of `TopicRules::rules`).
struct Enabled {
    /// Unique in the process ([`NEXT_GENERATION`]), so that one thread's cached snapshot is
    /// never taken for another `TopicRules`'s.
    generation: u64,
    by_scope: Vec<(Scope, Vec<Arc<CachedRule>>)>,
}

/// The next [`Enabled::generation`].
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The snapshot of enabled rules this thread last matched against.
    static ENABLED: RefCell<Option<Arc<Enabled>>> = const { RefCell::new(None) };
}

impl Enabled {
    fn of(rules: &BTreeMap<(Scope, String), Arc<CachedRule>>) -> Enabled {
        let mut by_scope: Vec<(Scope, Vec<Arc<CachedRule>>)> = Vec::new();
        for ((scope, _), rule) in rules.iter().filter(|(_, r)| !r.rule.disabled) {
            match by_scope.last_mut() {
                Some((s, list)) if s == scope => list.push(rule.clone()),
                _ => by_scope.push((scope.clone(), vec![rule.clone()])),
            }
        }
        Enabled { generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed), by_scope }
    }
}

impl TopicRules {
    /// Loads the rules from `store`, parsing each statement again.
    pub fn load(store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Self, RuleError> {
        let mut rules = BTreeMap::new();
        for doc in store.all(TOPIC_RULE)? {
            let rule: TopicRule =
                serde_json::from_value(doc.value).map_err(|e| RuleError::Internal(e.to_string()))?;
            let cached = CachedRule::parse(rule).map_err(|e| RuleError::Internal(e.to_string()))?;
            rules.insert((doc.scope, doc.key), Arc::new(cached));
        }
        let enabled = Enabled::of(&rules);
        Ok(TopicRules {
            store,
            clock,
            generation: AtomicU64::new(enabled.generation),
            enabled: RwLock::new(Arc::new(enabled)),
            rules: RwLock::new(rules),
        })
    }

    /// Rebuilds the snapshot of enabled rules after a change; called with the rules still
    /// locked for writing, so that snapshots follow one another in the order of the changes.
    fn changed(&self, rules: &BTreeMap<(Scope, String), Arc<CachedRule>>) {
        let enabled = Enabled::of(rules);
        let generation = enabled.generation;
        *self.enabled.write() = Arc::new(enabled);
        self.generation.store(generation, Ordering::Release);
    }

    fn now_secs(&self) -> i64 {
        self.clock.now_secs() as i64
    }

    fn save(&self, scope: &Scope, rule: &TopicRule) -> Result<(), RuleError> {
        let value = serde_json::to_value(rule).map_err(|e| RuleError::Internal(e.to_string()))?;
        Ok(self.store.put(TOPIC_RULE, scope, &rule.name, &value)?)
    }

    /// CreateTopicRule.
    /// Keeps a new rule's tags (CreateTopicRule's `x-amz-tagging`, checked before it was made).
    pub fn keep_created_tags(
        &self,
        scope: &Scope,
        name: &str,
        tags: &iotemu_api::tags::Tags,
    ) -> Result<(), iotemu_api::ApiError> {
        let arn = format!("arn:aws:iot:{}:{}:rule/{name}", scope.region, scope.account);
        iotemu_api::tags::set_tags(&self.store, scope, &arn, tags)
    }

    pub fn create_topic_rule(
        &self,
        scope: &Scope,
        name: &str,
        payload: TopicRulePayload,
    ) -> Result<(), RuleError> {
        check_rule_name(name)?;
        let cached = rule_of(scope, name, payload, self.now_secs())?;
        let mut rules = self.rules.write();
        let key = (scope.clone(), name.to_string());
        if rules.contains_key(&key) {
            return Err(RuleError::AlreadyExists(format!("Rule {name} already exists")));
        }
        self.save(scope, &cached.rule)?;
        rules.insert(key, Arc::new(cached));
        self.changed(&rules);
        Ok(())
    }

    /// GetTopicRule.
    pub fn get_topic_rule(&self, scope: &Scope, name: &str) -> Result<CachedRule, RuleError> {
        self.rules
            .read()
            .get(&(scope.clone(), name.to_string()))
            .map(|r| CachedRule::clone(r))
            .ok_or_else(|| not_found(name))
    }

    /// ListTopicRules: by name, optionally only rules whose FROM filter is `topic` and those
    /// enabled or disabled; `next_token` is the last name of the previous page.
    pub fn list_topic_rules(
        &self,
        scope: &Scope,
        topic: Option<&str>,
        disabled: Option<bool>,
        max: Option<usize>,
        next_token: Option<&str>,
    ) -> Result<(Vec<CachedRule>, Option<String>), RuleError> {
        let max = max.unwrap_or(1000);
        if !(1..=10_000).contains(&max) {
            return Err(RuleError::InvalidRequest("maxResults must be between 1 and 10000".into()));
        }
        let rules = self.rules.read();
        let matching = rules
            .iter()
            .filter(|((s, _), _)| s == scope)
            .map(|(_, r)| r)
            .filter(|r| topic.is_none_or(|t| r.statement.topic_filter() == t))
            .filter(|r| disabled.is_none_or(|d| r.rule.disabled == d));
        let (rules, next) = page(matching, |r| r.rule.name.as_str(), next_token, max);
        Ok((rules.into_iter().map(|r| CachedRule::clone(r)).collect(), next))
    }

    /// ReplaceTopicRule: a new definition, keeping the creation date.
    pub fn replace_topic_rule(
        &self,
        scope: &Scope,
        name: &str,
        payload: TopicRulePayload,
    ) -> Result<(), RuleError> {
        let mut rules = self.rules.write();
        let key = (scope.clone(), name.to_string());
        let created = rules.get(&key).map(|r| r.rule.created).ok_or_else(|| not_found(name))?;
        let cached = rule_of(scope, name, payload, created)?;
        self.save(scope, &cached.rule)?;
        rules.insert(key, Arc::new(cached));
        self.changed(&rules);
        Ok(())
    }

    /// DeleteTopicRule.
    pub fn delete_topic_rule(&self, scope: &Scope, name: &str) -> Result<(), RuleError> {
        let mut rules = self.rules.write();
        let key = (scope.clone(), name.to_string());
        if !rules.contains_key(&key) {
            return Err(not_found(name));
        }
        self.store.delete(TOPIC_RULE, scope, name)?;
        rules.remove(&key);
        self.changed(&rules);
        Ok(())
    }

    /// EnableTopicRule.
    pub fn enable_topic_rule(&self, scope: &Scope, name: &str) -> Result<(), RuleError> {
        self.set_enabled(scope, name, true)
    }

    /// DisableTopicRule.
    pub fn disable_topic_rule(&self, scope: &Scope, name: &str) -> Result<(), RuleError> {
        self.set_enabled(scope, name, false)
    }

    fn set_enabled(&self, scope: &Scope, name: &str, enabled: bool) -> Result<(), RuleError> {
        let mut rules = self.rules.write();
        let cached = rules.get_mut(&(scope.clone(), name.to_string())).ok_or_else(|| not_found(name))?;
        let mut next = TopicRule::clone(&cached.rule);
        next.disabled = !enabled;
        self.save(scope, &next)?;
        Arc::make_mut(cached).rule = Arc::new(next);
        self.changed(&rules);
        Ok(())
    }

    /// Every enabled rule of `scope` (the engine reads them for each message).
    pub fn enabled(&self, scope: &Scope) -> Vec<CachedRule> {
        self.rules
            .read()
            .iter()
            .filter(|((s, _), r)| s == scope && !r.rule.disabled)
            .map(|(_, r)| CachedRule::clone(r))
            .collect()
    }

    /// The enabled rules of `scope` whose FROM filter matches `topic`, except those named in
    /// `skip`, into `out` (the rules feed calls it for every message: no allocation unless a
    /// rule matches).
    pub fn matching(&self, scope: &Scope, topic: &str, skip: &[Arc<str>], out: &mut Vec<Arc<CachedRule>>) {
        let generation = self.generation.load(Ordering::Acquire);
        ENABLED.with(|cached| {
            let mut cached = cached.borrow_mut();
            let enabled = match &*cached {
                Some(e) if e.generation == generation => e,
                _ => cached.insert(self.enabled.read().clone()),
            };
            let Some((_, rules)) = enabled.by_scope.iter().find(|(s, _)| s == scope) else { return };
            for r in rules {
                if r.statement.matches_topic(topic) && !skip.iter().any(|n| **n == *r.name) {
                    out.push(r.clone());
                }
            }
        })
    }

    /// The rule a Basic Ingest topic names, if it exists and is enabled.
    pub fn enabled_rule(&self, scope: &Scope, name: &str) -> Option<Arc<CachedRule>> {
        self.rules.read().get(&(scope.clone(), name.to_string())).filter(|r| !r.rule.disabled).cloned()
    }

    /// Creates the rule, or replaces it when it exists (rules given in the config file).
    pub fn put(&self, scope: &Scope, name: &str, payload: TopicRulePayload) -> Result<(), RuleError> {
        check_rule_name(name)?;
        let mut rules = self.rules.write();
        let key = (scope.clone(), name.to_string());
        let created = rules.get(&key).map(|r| r.rule.created).unwrap_or_else(|| self.now_secs());
        let cached = rule_of(scope, name, payload, created)?;
        self.save(scope, &cached.rule)?;
        rules.insert(key, Arc::new(cached));
        self.changed(&rules);
        Ok(())
    }

    /// Forgets every rule (`POST /_iotemu/reset`).
    pub fn reset(&self) -> Result<(), RuleError> {
        let mut rules = self.rules.write();
        for ((scope, name), _) in rules.iter() {
            self.store.delete(TOPIC_RULE, scope, name)?;
        }
        rules.clear();
        self.changed(&rules);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(sql: &str, topic: &str, error_topic: Option<&str>) -> CachedRule {
        let republish =
            |t: &str| json!({"republish": {"topic": t, "roleArn": "arn:aws:iam::123456789012:role/r"}});
        let scope = Scope { account: "123456789012".into(), region: "us-east-1".into() };
        let payload = TopicRulePayload {
            sql: Some(sql.into()),
            actions: Some(vec![republish(topic)]),
            error_action: error_topic.map(republish),
            ..Default::default()
        };
        rule_of(&scope, "r", payload, 0).unwrap()
    }

    fn names(rules: &TopicRules, scope: &Scope, topic: &str, skip: &[Arc<str>]) -> Vec<String> {
        let mut out = Vec::new();
        rules.matching(scope, topic, skip, &mut out);
        out.iter().map(|r| r.name.to_string()).collect()
    }

    /// `matching` reads a per-thread snapshot: every change shows at the next message, and two
    /// sets of rules used on one thread never answer for each other.
    #[test]
    fn matching_follows_every_change_and_each_set_of_rules() {
        let clock: Arc<dyn Clock> = Arc::new(iotemu_core::SystemClock);
        let store = || Arc::new(Store::in_memory().unwrap());
        let (rules, other) =
            (TopicRules::load(store(), clock.clone()).unwrap(), TopicRules::load(store(), clock).unwrap());
        let scope = Scope { account: "123456789012".into(), region: "us-east-1".into() };
        let elsewhere = Scope { region: "eu-west-1".into(), ..scope.clone() };
        let payload = |sql: &str| TopicRulePayload {
            sql: Some(sql.into()),
            actions: Some(vec![json!({"republish": {"topic": "out", "roleArn": "r"}})]),
            ..Default::default()
        };
        assert!(names(&rules, &scope, "a/1", &[]).is_empty());
        rules.create_topic_rule(&scope, "b", payload("SELECT * FROM 'a/+'")).unwrap();
        rules.create_topic_rule(&scope, "a", payload("SELECT * FROM 'a/#'")).unwrap();
        other.create_topic_rule(&scope, "c", payload("SELECT * FROM 'a/+'")).unwrap();
        assert_eq!(names(&rules, &scope, "a/1", &[]), ["a", "b"], "in name order");
        assert_eq!(names(&other, &scope, "a/1", &[]), ["c"]);
        assert_eq!(names(&rules, &scope, "a/1", &["a".into()]), ["b"], "the rule chain is skipped");
        assert!(names(&rules, &elsewhere, "a/1", &[]).is_empty(), "another region's rules");
        rules.disable_topic_rule(&scope, "a").unwrap();
        assert_eq!(names(&rules, &scope, "a/1", &[]), ["b"]);
        rules.enable_topic_rule(&scope, "a").unwrap();
        rules.replace_topic_rule(&scope, "b", payload("SELECT * FROM 'x'")).unwrap();
        assert_eq!(names(&rules, &scope, "a/1", &[]), ["a"]);
        rules.delete_topic_rule(&scope, "a").unwrap();
        assert!(names(&rules, &scope, "a/1", &[]).is_empty());
        rules.put(&scope, "d", payload("SELECT * FROM 'a/1'")).unwrap();
        assert_eq!(names(&rules, &scope, "a/1", &[]), ["d"]);
        rules.reset().unwrap();
        assert!(names(&rules, &scope, "a/1", &[]).is_empty());
        assert_eq!(names(&other, &scope, "a/1", &[]), ["c"]);
    }

    /// The trace id is formatted for the SQL only for rules that may read it.
    #[test]
    fn rules_that_may_call_traceid_are_marked() {
        assert!(
            !rule("SELECT temp FROM 'a/+' WHERE temp > 30", "out/${topic(2)}", Some("err")).uses_trace_id
        );
        assert!(rule("SELECT TraceId() AS t FROM 'a/+'", "out", None).uses_trace_id);
        assert!(rule("SELECT * FROM 'a/+'", "out/${traceid()}", None).uses_trace_id);
        assert!(rule("SELECT * FROM 'a/+'", "out", Some("err/${TRACEID()}")).uses_trace_id);
    }
}
