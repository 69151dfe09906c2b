//! The `cloudwatchLogs` action (`cloudwatch-logs-rule-action.md`): one event per message (per
//! element of a JSON array with `batchMode`) into a log group of the emulator's CloudWatch Logs
//! store, in a stream named after the rule; the group must exist.

use super::run::Outcome;
use crate::actions::CloudwatchLogs;
use crate::engine::Inner;
use crate::sql::{Environment, Message, Output};
use crate::topic_rules::CachedRule;
use serde_json::Value;

pub(crate) fn cloudwatch_logs(
    inner: &Inner,
    rule: &CachedRule,
    c: &CloudwatchLogs,
    sql: &Message,
    env: &dyn Environment,
    output: &Output,
) -> Outcome {
    let rule_action = "CloudwatchLogsAction";
    let group = match c.log_group.render(sql, env) {
        Ok(g) => g,
        Err(e) => return Outcome::template_failed(rule_action, "logGroupName", e),
    };
    let resources = vec![("LogGroupName", group.clone())];
    let fail = |details| Outcome {
        rule_action,
        resources: resources.clone(),
        error: Some(("CloudwatchLogsFailed", details)),
    };
    let Some(writer) = inner.services.log_groups.as_ref() else {
        return fail("The log store is not available".into());
    };
    let now = inner.logs.now_millis() as i64;
    let events = match (c.batch_mode, output) {
        (true, Output::Json(j)) => match j.value() {
            Value::Array(items) => items
                .iter()
                .map(|item| match item.get("message") {
                    Some(Value::String(m)) => {
                        (item.get("timestamp").and_then(Value::as_i64).unwrap_or(now), m.clone())
                    }
                    _ => (now, item.to_string()),
                })
                .collect(),
            _ => return fail("batchMode needs the rule's SELECT to give a JSON array".into()),
        },
        (true, Output::Binary(_)) => {
            return fail("batchMode needs the rule's SELECT to give a JSON array".into())
        }
        (false, output) => vec![(now, String::from_utf8_lossy(&output.to_bytes()).into_owned())],
    };
    if events.is_empty() {
        return Outcome { rule_action, resources, error: None };
    }
    match writer.write(&inner.scope, &group, &rule.rule.name, events) {
        Ok(()) => Outcome { rule_action, resources, error: None },
        Err(e) => fail(format!("Failed to write to log group {group}: {e}")),
    }
}
