//! The rules engine at run time: messages in, rule entries and actions out.
//!
//! The broker hands every routed message to [`RulesEngine`] through the core [`RulesFeed`] seam,
//! and the reserved-topic router hands it Basic Ingest messages ([`RulesEngine::ingest`]). On
//! that hot path the engine only matches topics and queues: each message that matches a rule goes,
//! with the rules it matched, to one of [`EngineConfig::workers`] worker tasks, chosen by a hash
//! of its topic, so that the messages of one topic are evaluated and acted on in the order they
//! came while different topics use every core. A worker builds the SQL view of the message once
//! (its payload shared, not copied, and parsed as JSON once for every rule and substitution
//! template that reads it), evaluates each rule's SQL (parsed at CreateTopicRule) and runs the
//! local actions (republish, cloudwatchLogs) in order. Actions that wait on the network (http,
//! lambda) run on their own tasks, at most [`EngineConfig::max_in_flight`] at once; when they
//! are all busy the worker waits, its queue fills, and a message that finds it full is written
//! as a RuleExecution Failure (reason `RuleQueueFull`) for each action of each rule it matched:
//! never lost without a trace, never delaying MQTT delivery.
//!
//! Entries, all with the message's Publish-In traceId: RuleMatch once the WHERE clause holds,
//! StartingRuleExecution before each action, RuleExecution after it (Failure with reason and
//! details when it failed), FunctionExecution for `get_thing_shadow`, RuleNotFound for Basic
//! Ingest to a missing or disabled rule, RuleMessageThrottled past a rule's rate.
//!
//! Choices where AWS is silent (documented in the README too):
//! - Loops: a message that a rule republished never triggers that same rule again (its
//!   `rule_chain` names it), and a chain of republishes stops after
//!   [`EngineConfig::max_republish_depth`] hops with a RuleExecution Failure (`RepublishLoop`).
//! - Republished messages come from the client id `N/A` (so an MQTT 5 No Local subscription of
//!   the original publisher still receives them) with the original principal and address.
//! - `http`: AWS calls only confirmed topic rule destinations; iotemu has no destinations and
//!   skips the confirmation for every URL (loopback or not). Up to three tries, retrying only on
//!   429 and 5xx, as `https-rule-action.md` says; each try times out after
//!   [`EngineConfig::http_timeout`].
//! - `lambda`: POSTs the payload to the URL configured for the function ARN (exact ARN, then the
//!   ARN without its version or alias, then `*`), with `X-Amz-Invocation-Type: Event` as AWS
//!   invokes rule functions asynchronously. No URL: a Failure saying how to configure one.
//! - `cloudwatchLogs`: the log group must exist (AWS's rule role creates streams, not groups);
//!   events go to a stream named after the rule (AWS does not document the stream's name).
//! - An SQL evaluation error fails every action of the rule (reason `SqlEvaluationError`) and
//!   reaches the error action.

use crate::actions::remote::run_remote;
use crate::actions::run::{start_action, Outcome, Started};
use crate::actions::Action;
use crate::sql::{Environment, FunctionExecution, Message, Output, ParsedPayload};
use crate::topic_rules::{CachedRule, TopicRules};
use base64::Engine as _;
use bytes::Bytes;
use iotemu_core::{
    ClientInfo, LogGroupWriter, Publisher, ReservedTopic, RoutedMessage, RulesFeed, Scope, ShadowReader,
    TraceId,
};
use iotemu_logs::{EventSink, LogEntry, LogLevel, RuleEntry};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// What the engine may use: the broker for republish, the shadow store for
/// `get_thing_shadow`, and the log store for the cloudwatchLogs action.
pub struct Services {
    pub publisher: Arc<dyn Publisher>,
    pub shadows: Option<Arc<dyn ShadowReader>>,
    pub log_groups: Option<Arc<dyn LogGroupWriter>>,
}

/// The engine's settings (config section `[rules]`).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Messages waiting for the workers, in all (each worker queues its share).
    pub queue_capacity: usize,
    /// Worker tasks evaluating rules; 0: one per core (at most 8).
    pub workers: usize,
    /// http and lambda actions running at once.
    pub max_in_flight: usize,
    /// Messages per second each rule takes before RuleMessageThrottled; 0: no limit (the default;
    /// AWS's own quota is 20,000 rule evaluations per second per account).
    pub messages_per_second: u32,
    /// Per-rule limits, overriding `messages_per_second`.
    pub rule_messages_per_second: HashMap<String, u32>,
    /// Function ARN (or `*`) -> URL, for the lambda action.
    pub lambda_endpoints: HashMap<String, String>,
    pub http_timeout: Duration,
    pub max_republish_depth: usize,
    /// Where the SQS, SNS, DynamoDB, ... actions (and `lambda` without a URL) are sent.
    pub aws: iotemu_awsclient::AwsServicesConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            queue_capacity: 10_000,
            workers: 0,
            max_in_flight: 64,
            messages_per_second: 0,
            rule_messages_per_second: HashMap::new(),
            lambda_endpoints: HashMap::new(),
            http_timeout: Duration::from_secs(3),
            max_republish_depth: 8,
            aws: Default::default(),
        }
    }
}

/// The rules engine; cheap to clone.
#[derive(Clone)]
pub struct RulesEngine {
    inner: Arc<Inner>,
}

/// The engine's state, shared by the workers and the actions (`crate::actions`).
pub(crate) struct Inner {
    rules: Arc<TopicRules>,
    /// The account and region whose rules see the broker's messages.
    pub scope: Scope,
    /// `scope.account`, shared by every message's `accountid()`.
    account: Arc<str>,
    pub logs: EventSink,
    pub services: Services,
    pub config: EngineConfig,
    /// One queue per worker; a message goes to `queues[hash(topic) % len]`.
    queues: Vec<mpsc::Sender<Work>>,
    /// Messages waiting per worker queue.
    worker_capacity: usize,
    /// (rule, message) pairs refused because a queue was full, since start.
    overflowed: AtomicU64,
    buckets: Mutex<HashMap<Arc<str>, Bucket>>,
    in_flight: Arc<Semaphore>,
    pub http: reqwest::Client,
}

/// A message as the rules see it.
pub(crate) struct Incoming {
    /// The topic it was published to: the entries' `topicName` (with a Basic Ingest prefix).
    pub topic_name: Arc<str>,
    /// What `topic()` and the FROM filter see (without a Basic Ingest prefix).
    pub topic: Arc<str>,
    pub payload: Bytes,
    pub client: Arc<ClientInfo>,
    pub trace_id: TraceId,
    pub rule_chain: Vec<Arc<str>>,
    pub received_ms: i64,
}

/// One message and the rules it triggers, in the order they are evaluated.
struct Work {
    rules: Vec<Arc<CachedRule>>,
    message: Arc<Incoming>,
}

/// A token bucket of one rule.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RulesEngine {
    /// Starts the workers (inside a tokio runtime).
    pub fn start(
        rules: Arc<TopicRules>,
        scope: Scope,
        logs: EventSink,
        services: Services,
        config: EngineConfig,
    ) -> RulesEngine {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
            n => n,
        };
        let worker_capacity = (config.queue_capacity / workers).max(1);
        let (queues, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::channel(worker_capacity)).unzip();
        let http = reqwest::Client::builder().timeout(config.http_timeout).build().unwrap_or_default();
        let inner = Arc::new(Inner {
            rules,
            account: scope.account.as_str().into(),
            scope,
            logs,
            services,
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
            queues,
            worker_capacity,
            overflowed: AtomicU64::new(0),
            buckets: Mutex::new(HashMap::new()),
            http,
        });
        for rx in receivers {
            tokio::spawn(work(inner.clone(), rx));
        }
        RulesEngine { inner }
    }

    /// (rule, message) pairs refused since start because the queue was full: each also wrote
    /// RuleExecution Failures, which the log pipeline may itself drop under overload, so the
    /// health route reports this count too.
    pub fn overflowed(&self) -> u64 {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    /// A Basic Ingest publish (`$aws/rules/{rule}/{topic}`): to that rule only, whatever its
    /// FROM clause; RuleNotFound when it is missing or disabled.
    pub fn ingest(
        &self,
        client: &Arc<ClientInfo>,
        trace_id: TraceId,
        rule: &str,
        topic: &str,
        payload: &Bytes,
    ) {
        let full = ReservedTopic::basic_ingest_topic(rule, topic);
        let message = Arc::new(Incoming {
            topic_name: full.into(),
            topic: topic.into(),
            payload: payload.clone(),
            client: client.clone(),
            trace_id,
            rule_chain: Vec::new(),
            received_ms: self.inner.logs.now_millis() as i64,
        });
        match self.inner.rules.enabled_rule(&self.inner.scope, rule) {
            Some(rule) => self.inner.enqueue(vec![rule], message),
            None => {
                if self.inner.logs.enabled(LogLevel::Error) {
                    let entry = LogEntry::RuleNotFound(self.inner.entry(rule.into(), &message, None, None));
                    self.inner.logs.failure(
                        trace_id,
                        entry,
                        "RuleNotFound",
                        format!("Rule {rule} not found"),
                    );
                }
            }
        }
    }
}

impl RulesFeed for RulesEngine {
    fn on_message(&self, routed: &RoutedMessage<'_>) {
        // Basic Ingest messages come through `ingest`; the broker never routes them here.
        let mut matched = Vec::new();
        self.inner.rules.matching(&self.inner.scope, routed.topic, routed.rule_chain, &mut matched);
        if matched.is_empty() {
            return;
        }
        let message = Arc::new(Incoming {
            topic_name: routed.topic.clone(),
            topic: routed.topic.clone(),
            payload: routed.payload.clone(),
            client: routed.source.clone(),
            trace_id: routed.trace_id,
            rule_chain: routed.rule_chain.to_vec(),
            received_ms: self.inner.logs.now_millis() as i64,
        });
        if message.rule_chain.len() >= self.inner.config.max_republish_depth {
            let details = format!(
                "The message was republished {} times by rules ({}); iotemu stops republish loops there",
                message.rule_chain.len(),
                message.rule_chain.join(" -> ")
            );
            for rule in &matched {
                self.inner.fail_all(rule, &message, "RepublishLoop", &details);
            }
            return;
        }
        self.inner.enqueue(matched, message);
    }
}

impl Inner {
    fn entry(
        &self,
        rule_name: Arc<str>,
        message: &Incoming,
        rule_action: Option<&'static str>,
        resources: Option<Vec<(&'static str, String)>>,
    ) -> RuleEntry {
        RuleEntry {
            client_id: message.client.client_id.clone(),
            principal_id: message.client.principal_id.clone(),
            topic_name: message.topic_name.clone(),
            rule_name,
            rule_action,
            resources,
            client: Some(message.client.clone()),
        }
    }

    /// Throttles each rule, then queues the message with the rules left to the worker of its
    /// topic; a full queue fails their actions at once.
    fn enqueue(&self, mut rules: Vec<Arc<CachedRule>>, message: Arc<Incoming>) {
        rules.retain(|rule| {
            if !self.throttled(&rule.rule.name) {
                return true;
            }
            if self.logs.enabled(LogLevel::Error) {
                let name = rule.rule.name.as_str();
                let entry =
                    LogEntry::RuleMessageThrottled(self.entry(rule.name.clone(), &message, None, None));
                let details = format!("Message for Rule {name} throttled");
                self.logs.failure(message.trace_id, entry, "RuleExecutionThrottled", details);
            }
            false
        });
        if rules.is_empty() {
            return;
        }
        let queue = &self.queues[self.worker_of(&message.topic_name)];
        if let Err(mpsc::error::TrySendError::Full(work) | mpsc::error::TrySendError::Closed(work)) =
            queue.try_send(Work { rules, message })
        {
            let details = format!(
                "The rules engine's queue ({} messages, [rules] queue_capacity, {} per worker) is full; the message was not processed",
                self.config.queue_capacity, self.worker_capacity
            );
            self.overflowed.fetch_add(work.rules.len() as u64, Ordering::Relaxed);
            for rule in &work.rules {
                self.fail_all(rule, &work.message, "RuleQueueFull", &details);
            }
        }
    }

    /// The worker of a topic: every message of one topic goes to the same worker, in order.
    fn worker_of(&self, topic: &str) -> usize {
        if self.queues.len() == 1 {
            return 0;
        }
        // FNV-1a: the topic only picks a worker, so any spread will do, and SipHash cost more
        // than the rest of the hand-off.
        let hash = topic
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        (hash % self.queues.len() as u64) as usize
    }

    /// Whether `rule` is over its messages-per-second limit (a token bucket one second deep).
    fn throttled(&self, rule: &str) -> bool {
        // No limit anywhere (the default): no lookup per message.
        if self.config.messages_per_second == 0 && self.config.rule_messages_per_second.is_empty() {
            return false;
        }
        let limit = self
            .config
            .rule_messages_per_second
            .get(rule)
            .copied()
            .unwrap_or(self.config.messages_per_second);
        if limit == 0 {
            return false;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(rule.into()).or_insert(Bucket { tokens: f64::from(limit), at: now });
        let refill = now.duration_since(bucket.at).as_secs_f64() * f64::from(limit);
        bucket.tokens = (bucket.tokens + refill).min(f64::from(limit));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            false
        } else {
            true
        }
    }

    /// A RuleExecution Failure for every action of `rule` that could not run.
    fn fail_all(&self, rule: &CachedRule, message: &Incoming, reason: &'static str, details: &str) {
        if !self.logs.enabled(LogLevel::Error) {
            return;
        }
        for action in rule.actions.iter() {
            let entry = self.entry(rule.name.clone(), message, Some(action.rule_action()), Some(Vec::new()));
            self.logs.failure(message.trace_id, LogEntry::RuleExecution(entry), reason, details.to_string());
        }
    }

    /// The message as the SQL sees it, built once for every rule it triggers (its trace id
    /// only when one of them may call `traceid()`).
    fn sql_message(&self, message: &Incoming, rules: &[Arc<CachedRule>]) -> Message {
        Message {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            client_id: Some(message.client.client_id.clone()),
            principal: Some(message.client.principal_id.clone()),
            trace_id: rules.iter().any(|r| r.uses_trace_id).then(|| message.trace_id.to_string()),
            account_id: self.account.clone(),
            timestamp_ms: message.received_ms,
            parsed: ParsedPayload::default(),
        }
    }

    fn starting(&self, name: &Arc<str>, message: &Incoming, action: &Action) {
        if self.logs.enabled(LogLevel::Debug) {
            let entry = self.entry(name.clone(), message, Some(action.rule_action()), None);
            self.logs.success(message.trace_id, LogEntry::StartingRuleExecution(entry));
        }
    }

    /// RuleExecution for one action; gives the outcome back when the action failed (for the
    /// rule's error action), and moves a success's resources into its entry instead of copying.
    fn finished(&self, name: &Arc<str>, message: &Incoming, outcome: Outcome) -> Option<Outcome> {
        let level = if outcome.error.is_some() { LogLevel::Error } else { LogLevel::Info };
        if !self.logs.enabled(level) {
            return outcome.error.is_some().then_some(outcome);
        }
        match &outcome.error {
            None => {
                let entry =
                    self.entry(name.clone(), message, Some(outcome.rule_action), Some(outcome.resources));
                self.logs.success(message.trace_id, LogEntry::RuleExecution(entry));
                None
            }
            Some((reason, details)) => {
                let resources = Some(outcome.resources.clone());
                let entry = self.entry(name.clone(), message, Some(outcome.rule_action), resources);
                self.logs.failure(message.trace_id, LogEntry::RuleExecution(entry), *reason, details.clone());
                Some(outcome)
            }
        }
    }
}

/// One worker: reads its queue and, for each message, evaluates each of its rules in order, runs
/// their local actions in order and hands remote ones to their own tasks.
async fn work(inner: Arc<Inner>, mut rx: mpsc::Receiver<Work>) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 64).await > 0 {
        for Work { rules, message } in batch.drain(..) {
            // One SQL view (and one JSON parse) of the message for all its rules.
            let sql = Arc::new(inner.sql_message(&message, &rules));
            for rule in rules {
                run(&inner, rule, message.clone(), &sql).await;
            }
        }
    }
}

async fn run(inner: &Arc<Inner>, rule: Arc<CachedRule>, message: Arc<Incoming>, sql: &Arc<Message>) {
    let name = rule.name.clone();
    let env = RuleEnvironment { inner, rule: &name, message: &message };
    let output = match rule.statement.evaluate(sql, &env) {
        Ok(Some(output)) => output,
        Ok(None) => return,
        Err(e) => {
            let details = format!("Evaluating the rule's SQL failed: {e}");
            inner.fail_all(&rule, &message, "SqlEvaluationError", &details);
            let failures = rule
                .actions
                .iter()
                .map(|a| Outcome {
                    rule_action: a.rule_action(),
                    resources: Vec::new(),
                    error: Some(("", details.clone())),
                })
                .collect();
            after_local(inner, rule, name, message, sql.clone(), failures).await;
            return;
        }
    };
    if inner.logs.enabled(LogLevel::Info) {
        inner
            .logs
            .success(message.trace_id, LogEntry::RuleMatch(inner.entry(name.clone(), &message, None, None)));
    }
    let payload = Bytes::from(output.to_bytes());
    // Only failures: what the error action reports.
    let mut outcomes = Vec::new();
    let mut remote = Vec::new();
    for action in rule.actions.iter() {
        inner.starting(&name, &message, action);
        match start_action(inner, &rule, action, sql, &env, &message, (&output, &payload)) {
            Started::Remote(call) => remote.push(call),
            Started::Done(outcome) => outcomes.extend(inner.finished(&name, &message, outcome)),
        }
    }
    if remote.is_empty() {
        after_local(inner, rule, name, message, sql.clone(), outcomes).await;
        return;
    }
    // Wait for a slot: with every slot busy the queue fills and overflows (see the module doc).
    let Ok(permit) = inner.in_flight.clone().acquire_owned().await else {
        return;
    };
    let inner = inner.clone();
    let sql = sql.clone();
    tokio::spawn(async move {
        for prepared in remote {
            let outcome = run_remote(&inner, prepared, output_is_json(&output)).await;
            outcomes.extend(inner.finished(&name, &message, outcome));
        }
        drop(permit);
        error_action(&inner, &rule, &name, &message, &sql, outcomes).await;
    });
}

/// Runs the error action after local actions only: inline when it is local too, else on its own
/// task so that the worker never waits on the network.
async fn after_local(
    inner: &Arc<Inner>,
    rule: Arc<CachedRule>,
    name: Arc<str>,
    message: Arc<Incoming>,
    sql: Arc<Message>,
    outcomes: Vec<Outcome>,
) {
    // Nothing failed (the usual case): no error action to run.
    if outcomes.is_empty() {
        return;
    }
    if rule.error_action.as_ref().is_some_and(|a| a.is_remote()) {
        let inner = inner.clone();
        tokio::spawn(async move { error_action(&inner, &rule, &name, &message, &sql, outcomes).await });
    } else {
        error_action(inner, &rule, &name, &message, &sql, outcomes).await;
    }
}

fn output_is_json(output: &Output) -> bool {
    matches!(output, Output::Json(_))
}

/// The `errorAction` of `rule`, with AWS's error message, when any of `outcomes` failed (the
/// callers pass only failures).
async fn error_action(
    inner: &Arc<Inner>,
    rule: &CachedRule,
    name: &Arc<str>,
    message: &Arc<Incoming>,
    sql: &Message,
    outcomes: Vec<Outcome>,
) {
    let failures: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| {
            let (_, error) = o.error.as_ref()?;
            Some(json!({
                "failedAction": o.rule_action,
                "failedResource": o.resources.first().map(|(_, v)| v.as_str()).unwrap_or(""),
                "errorMessage": error,
            }))
        })
        .collect();
    let Some(action) = rule.error_action.as_ref().filter(|_| !failures.is_empty()) else {
        return;
    };
    let document = json!({
        "ruleName": name.as_ref(),
        "topic": &*message.topic_name,
        "cloudwatchTraceId": message.trace_id.to_string(),
        "clientId": &*message.client.client_id,
        "base64OriginalPayload": base64::engine::general_purpose::STANDARD.encode(&message.payload),
        "failures": failures,
    });
    let output = Output::json(document);
    let env = RuleEnvironment { inner, rule: name, message };
    inner.starting(name, message, action);
    let payload = Bytes::from(output.to_bytes());
    let outcome = match start_action(inner, rule, action, sql, &env, message, (&output, &payload)) {
        Started::Done(outcome) => outcome,
        Started::Remote(call) => run_remote(inner, call, true).await,
    };
    inner.finished(name, message, outcome);
}

/// What the SQL of one rule may call while one message is evaluated.
struct RuleEnvironment<'a> {
    inner: &'a Inner,
    rule: &'a Arc<str>,
    message: &'a Incoming,
}

impl Environment for RuleEnvironment<'_> {
    fn get_thing_shadow(
        &self,
        thing: &str,
        shadow: Option<&str>,
        _role_arn: &str,
    ) -> Result<Option<Value>, String> {
        match &self.inner.services.shadows {
            Some(reader) => {
                reader.shadow_document(&self.inner.scope, thing, shadow).map_err(|e| e.to_string())
            }
            None => Err("the shadow service is not available".into()),
        }
    }

    /// FunctionExecution: `clientId` N/A, as AWS writes it.
    fn function_executed(&self, execution: &FunctionExecution) {
        let rule_action = match execution.rule_action.as_str() {
            "GetThingShadow" => "GetThingShadow",
            _ => "UnknownFunction",
        };
        let resources = execution
            .resources
            .iter()
            .filter_map(|(k, v)| {
                let key = match k.as_str() {
                    "ThingName" => "ThingName",
                    "ShadowName" => "ShadowName",
                    _ => return None,
                };
                Some((key, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
            })
            .collect();
        let mut entry = self.inner.entry(self.rule.clone(), self.message, Some(rule_action), Some(resources));
        entry.client_id = "N/A".into();
        let entry = LogEntry::FunctionExecution(entry);
        match &execution.outcome {
            Ok(()) => self.inner.logs.success(self.message.trace_id, entry),
            Err(e) => {
                self.inner.logs.failure(self.message.trace_id, entry, "FunctionExecutionFailed", e.clone())
            }
        }
    }
}
