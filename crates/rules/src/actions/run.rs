//! Running a rule's actions: [`start_action`] runs a local action (republish, cloudwatchLogs, or
//! a type iotemu does not run) on the dispatcher, or renders a remote one's templates there and
//! hands back the call to make off it ([`super::remote`]). The entries around each action
//! (StartingRuleExecution, RuleExecution) are the engine's.

use super::cloudwatch_logs::cloudwatch_logs;
use super::remote::{prepare_http, prepare_lambda};
use super::republish::republish;
use crate::actions::Action;
use crate::engine::{Incoming, Inner};
use crate::sql::{Environment, Message, Output};
use crate::topic_rules::CachedRule;
use bytes::Bytes;

/// One action's outcome: its `resources`, and why it failed.
pub(crate) struct Outcome {
    pub rule_action: &'static str,
    pub resources: Vec<(&'static str, String)>,
    pub error: Option<(&'static str, String)>,
}

impl Outcome {
    /// A substitution template of the action could not be rendered.
    pub fn template_failed(rule_action: &'static str, what: &str, e: impl std::fmt::Display) -> Outcome {
        let details = format!("The {what} template failed: {e}");
        Outcome { rule_action, resources: Vec::new(), error: Some(("TemplateError", details)) }
    }
}

/// A remote action with its templates rendered, ready to run off the dispatcher.
pub(crate) enum Remote {
    Http { url: String, headers: Vec<(String, String)>, body: Bytes },
    Lambda { arn: String, url: Option<String>, body: Bytes },
    Aws(super::aws::AwsCall),
}

/// What starting an action gave: its outcome (local actions, and remote ones whose templates
/// failed), or a remote call to make off the dispatcher.
pub(crate) enum Started {
    Done(Outcome),
    Remote(Remote),
}

/// Runs a local action (republish, cloudwatchLogs, or a type iotemu does not run) or renders
/// a remote one's templates on the dispatcher (they may read the message).
pub(crate) fn start_action(
    inner: &Inner,
    rule: &CachedRule,
    action: &Action,
    sql: &Message,
    env: &dyn Environment,
    message: &Incoming,
    (output, payload): (&Output, &Bytes),
) -> Started {
    let rule_action = action.rule_action();
    Started::Done(match action {
        Action::Republish(r) => republish(inner, rule, r, sql, env, message, payload),
        Action::CloudwatchLogs(c) => cloudwatch_logs(inner, rule, c, sql, env, output),
        Action::NotRun { key, resources } => Outcome {
            rule_action,
            resources: resources.clone(),
            error: Some((
                "ActionNotSupported",
                format!("iotemu does not run {key} actions ({rule_action}); the rule accepted it, but nothing was sent"),
            )),
        },
        Action::Http(http) => return prepare_http(http, sql, env, payload),
        Action::Lambda { function_arn } => return Started::Remote(prepare_lambda(inner, function_arn, payload)),
        Action::Aws(a) => match a.prepare(sql, env, (output, payload)) {
            Ok(call) => return Started::Remote(Remote::Aws(call)),
            Err(outcome) => outcome,
        },
    })
}
