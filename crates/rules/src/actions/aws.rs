//! The actions that call another AWS service (SQS, SNS, DynamoDB v1 and v2, Kinesis, Firehose,
//! S3, Step Functions, CloudWatch metric and alarm) at the endpoint of the config's
//! `[aws_services]` section (`iotemu_awsclient`). Their substitution templates are rendered on
//! the dispatcher ([`AwsAction::prepare`]); the call is made off it ([`run_aws`]), one file per
//! action. Each gives AWS's `resources` and, on failure, AWS's error message in the form the
//! rules engine writes it: "Failed to ... The error received was <message> (Service: ...;
//! Status Code: ...; Error Code: ...)" (`docs/aws-behaviour.md`).

use super::run::Outcome;
use super::{
    cloudwatch_alarm, cloudwatch_metric, dynamodb, dynamodbv2, firehose, kinesis, s3, sns, sqs, stepfunctions,
};
use crate::engine::Inner;
use crate::sql::{Environment, Message, Output, SqlVersion, Template};
use bytes::Bytes;
use iotemu_awsclient::{AwsClient, AwsError};
use serde_json::Value;

/// The action types run through `iotemu_awsclient`, with the members that take substitution
/// templates (`putItem.tableName`: a member of a member).
const TEMPLATED: &[(&str, &[&str])] = &[
    ("sqs", &["queueUrl"]),
    ("sns", &["targetArn"]),
    (
        "dynamoDB",
        &[
            "tableName",
            "hashKeyField",
            "hashKeyValue",
            "hashKeyType",
            "rangeKeyField",
            "rangeKeyValue",
            "rangeKeyType",
            "payloadField",
            "operation",
        ],
    ),
    ("dynamoDBv2", &["putItem.tableName"]),
    ("kinesis", &["streamName", "partitionKey"]),
    ("firehose", &["deliveryStreamName"]),
    ("s3", &["bucketName", "key"]),
    ("stepFunctions", &["stateMachineName", "executionNamePrefix"]),
    ("cloudwatchMetric", &["metricNamespace", "metricName", "metricValue", "metricUnit", "metricTimestamp"]),
    ("cloudwatchAlarm", &["alarmName", "stateReason", "stateValue"]),
];

/// One action of a type in [`TEMPLATED`], parsed.
#[derive(Debug, Clone)]
pub struct AwsAction {
    /// botocore's member name (`sqs`, `dynamoDBv2`, ...).
    pub key: &'static str,
    templates: Vec<(&'static str, Template)>,
    /// The action's members as given (flags such as `useBase64`, `batchMode`, `cannedAcl`).
    pub body: Value,
}

/// A call ready to make: the templates rendered, the SELECT's output.
pub(crate) struct AwsCall {
    pub key: &'static str,
    fields: Vec<(&'static str, String)>,
    pub body: Value,
    /// The SELECT's output when it is JSON.
    pub json: Option<Value>,
    pub payload: Bytes,
    pub account: String,
}

impl AwsAction {
    /// `None` when `key` is not run through `iotemu_awsclient`.
    pub fn parse(key: &str, body: &Value, version: SqlVersion) -> Option<Result<AwsAction, String>> {
        let (key, members) = TEMPLATED.iter().find(|(k, _)| *k == key)?;
        let mut templates = Vec::new();
        for member in members.iter() {
            let text = member.split('.').try_fold(body, |v, m| v.get(m)).and_then(Value::as_str);
            if let Some(text) = text {
                match Template::parse(text, version) {
                    Ok(t) => templates.push((*member, t)),
                    Err(e) => return Some(Err(format!("{key}.{member}: {e}"))),
                }
            }
        }
        Some(Ok(AwsAction { key, templates, body: body.clone() }))
    }

    /// Renders the templates (they may read the message).
    pub(crate) fn prepare(
        &self,
        sql: &Message,
        env: &dyn Environment,
        (output, payload): (&Output, &Bytes),
    ) -> Result<AwsCall, Outcome> {
        let mut fields = Vec::new();
        for (member, template) in &self.templates {
            match template.render(sql, env) {
                Ok(v) => fields.push((*member, v)),
                Err(e) => return Err(Outcome::template_failed(super::rule_action_name(self.key), member, e)),
            }
        }
        Ok(AwsCall {
            key: self.key,
            fields,
            body: self.body.clone(),
            json: match output {
                Output::Json(j) => Some(j.value().clone()),
                Output::Binary(_) => None,
            },
            payload: payload.clone(),
            account: sql.account_id.to_string(),
        })
    }
}

impl AwsCall {
    /// A rendered templated member.
    pub fn field(&self, member: &str) -> Option<&str> {
        self.fields.iter().find(|(m, _)| *m == member).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A rendered member the action needs, or the Failure saying so.
    pub fn required(&self, member: &str, rule_action: &'static str) -> Result<&str, Outcome> {
        self.field(member).ok_or_else(|| Outcome {
            rule_action,
            resources: Vec::new(),
            error: Some(("InvalidAction", format!("{}.{member} is required", self.key))),
        })
    }

    /// A boolean member (`useBase64`, `batchMode`).
    pub fn flag(&self, member: &str) -> bool {
        self.body.get(member).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A member that takes no template.
    pub fn text(&self, member: &str) -> Option<&str> {
        self.body.get(member).and_then(Value::as_str).filter(|v| !v.is_empty())
    }
}

/// The outcome of a call: success, or AWS's error in the rules engine's words.
pub(crate) fn outcome(
    rule_action: &'static str,
    resources: Vec<(&'static str, String)>,
    result: Result<(), AwsError>,
    failed: &str,
    service: &str,
) -> Outcome {
    let error = result.err().map(|e| {
        let reason = match e.code.as_str() {
            "NotConfigured" => "ActionNotConfigured",
            "NoCredentials" => "MissingCredentials",
            "RequestFailed" if e.status == 0 => "ServiceUnreachable",
            _ if e.retryable() => "ServiceThrottledOrUnavailable",
            _ => "ServiceError",
        };
        let detail = if e.status == 0 {
            format!("{failed}. The error received was {}", e.message)
        } else {
            format!(
                "{failed}. The error received was {} (Service: {service}; Status Code: {}; Error Code: {})",
                e.message, e.status, e.code
            )
        };
        (reason, detail)
    });
    Outcome { rule_action, resources, error }
}

/// A Failure for a value of the action that cannot be sent.
pub(crate) fn invalid(
    rule_action: &'static str,
    resources: Vec<(&'static str, String)>,
    details: String,
) -> Outcome {
    Outcome { rule_action, resources, error: Some(("InvalidAction", details)) }
}

/// Makes the call, off the dispatcher.
pub(crate) async fn run_aws(inner: &Inner, call: AwsCall) -> Outcome {
    let client = AwsClient::new(&inner.http, &inner.config.aws);
    let result = match call.key {
        "sqs" => sqs::send_message(&client, &call).await,
        "sns" => sns::publish(&client, &call).await,
        "dynamoDB" => dynamodb::write(&client, &call).await,
        "dynamoDBv2" => dynamodbv2::put_item(&client, &call).await,
        "kinesis" => kinesis::put_record(&client, &call).await,
        "firehose" => firehose::put_record(&client, &call).await,
        "s3" => s3::put_object(&client, &call).await,
        "stepFunctions" => stepfunctions::start_execution(&client, &call).await,
        "cloudwatchMetric" => cloudwatch_metric::put_metric_data(&client, &call).await,
        "cloudwatchAlarm" => cloudwatch_alarm::set_alarm_state(&client, &call).await,
        other => Err(invalid(
            super::rule_action_name(other),
            Vec::new(),
            format!("iotemu does not run {other} actions"),
        )),
    };
    result.unwrap_or_else(|o| o)
}

/// A JSON value as a DynamoDB `AttributeValue`.
pub(crate) fn attribute_value(v: &Value) -> Value {
    match v {
        Value::Null => serde_json::json!({"NULL": true}),
        Value::Bool(b) => serde_json::json!({"BOOL": b}),
        Value::Number(n) => serde_json::json!({"N": n.to_string()}),
        Value::String(s) => serde_json::json!({"S": s}),
        Value::Array(items) => {
            serde_json::json!({"L": items.iter().map(attribute_value).collect::<Vec<_>>()})
        }
        Value::Object(o) => serde_json::json!({"M": o.iter()
            .map(|(k, v)| (k.clone(), attribute_value(v)))
            .collect::<serde_json::Map<_, _>>()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_becomes_dynamodb_attribute_values() {
        let v = json!({"a": 1, "b": "x", "c": [true, null], "d": {"e": 2.5}});
        assert_eq!(
            attribute_value(&v),
            json!({"M": {"a": {"N": "1"}, "b": {"S": "x"}, "c": {"L": [{"BOOL": true}, {"NULL": true}]},
                "d": {"M": {"e": {"N": "2.5"}}}}})
        );
    }

    #[test]
    fn templated_members_are_parsed_and_others_kept() {
        let body = json!({"putItem": {"tableName": "t-${topic()}"}, "roleArn": "r"});
        let a = AwsAction::parse("dynamoDBv2", &body, SqlVersion::default()).unwrap().unwrap();
        assert_eq!(a.templates.len(), 1);
        assert!(AwsAction::parse("kafka", &body, SqlVersion::default()).is_none());
        let bad = json!({"queueUrl": "${"});
        assert!(AwsAction::parse("sqs", &bad, SqlVersion::default()).unwrap().is_err());
    }
}
