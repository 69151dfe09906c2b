//! A rule's actions (botocore `Action`), parsed once when the rule is created: those iotemu runs
//! (`republish`, `http`, `cloudwatchLogs`, `lambda`, and through `[aws_services]` `sqs`, `sns`,
//! `dynamoDB`, `dynamoDBv2`, `kinesis`, `firehose`, `s3`, `stepFunctions`, `cloudwatchMetric`,
//! `cloudwatchAlarm`) with their substitution templates, and every other type kept by name so
//! that running it can fail with a clear entry. Running them: `run.rs` (which action runs
//! where), `republish.rs`, `cloudwatch_logs.rs`, `remote.rs` (`http` and `lambda`) and `aws.rs`
//! (one file per AWS service action); the engine writes the entries around them.
//!
//! `ruleAction` names and `resources` keys follow `docs/aws-behaviour.md` §12: `RepublishAction`
//! {RepublishTopic} is documented; the others follow AWS's `<Service>Action` scheme
//! (unconfirmed): `HttpAction` {Url}, `CloudwatchLogsAction` {LogGroupName}, `LambdaAction`
//! {FunctionArn}, `S3Action` {BucketName, Key}, `SqsAction` {QueueUrl}, `SnsAction` {TargetArn},
//! `KinesisAction` {StreamName, PartitionKey}, `DynamoAction` {Table, ItemHashKeyField,
//! ItemHashKeyValue, Operation, IsPayloadJSON}, `DynamoActionV2` {Table}, `FirehoseAction`
//! {StreamName}, `StepFunctionsAction` {StateMachineName}, `CloudwatchMetricAction`
//! {MetricNamespace, MetricName}, `CloudwatchAlarmAction` {AlarmName}.

pub(crate) mod aws;
mod cloudwatch_alarm;
mod cloudwatch_logs;
mod cloudwatch_metric;
mod dynamodb;
mod dynamodbv2;
mod firehose;
mod kinesis;
pub(crate) mod remote;
mod republish;
pub(crate) mod run;
mod s3;
mod sns;
mod sqs;
mod stepfunctions;

use crate::sql::{SqlVersion, Template};
pub use aws::AwsAction;
use serde_json::Value;

/// One action of a rule.
#[derive(Debug, Clone)]
pub enum Action {
    Republish(Republish),
    Http(Http),
    CloudwatchLogs(CloudwatchLogs),
    Lambda {
        function_arn: String,
    },
    /// A call to another AWS service (`sqs`, `sns`, `dynamoDB`, ...): [`aws`].
    Aws(AwsAction),
    /// Accepted by CreateTopicRule, not run by iotemu: `key` is botocore's member name (`kafka`).
    NotRun {
        key: String,
        resources: Vec<(&'static str, String)>,
    },
}

/// `republish`: topic template (`$$` for a reserved `$` topic), QoS and MQTT 5 headers.
#[derive(Debug, Clone)]
pub struct Republish {
    pub topic: Template,
    pub qos: u8,
    pub headers: Option<RepublishHeaders>,
}

/// `republish.headers` (botocore `MqttHeaders`); every value is a substitution template.
#[derive(Debug, Clone, Default)]
pub struct RepublishHeaders {
    pub payload_format_indicator: Option<Template>,
    pub content_type: Option<Template>,
    pub response_topic: Option<Template>,
    /// Base64 text, as the API takes it.
    pub correlation_data: Option<Template>,
    /// Seconds, as text.
    pub message_expiry: Option<Template>,
    pub user_properties: Vec<(String, Template)>,
}

/// `http`: POST to `url` with `headers` (keys literal, values templates).
#[derive(Debug, Clone)]
pub struct Http {
    pub url: Template,
    pub headers: Vec<(String, Template)>,
}

/// `cloudwatchLogs`: one event per message (per array element with `batchMode`).
#[derive(Debug, Clone)]
pub struct CloudwatchLogs {
    pub log_group: Template,
    pub batch_mode: bool,
}

impl Action {
    /// Parses one element of `actions` (or the `errorAction`): an object with one member.
    pub fn parse(value: &Value, version: SqlVersion) -> Result<Action, String> {
        let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            "each action must be an object with exactly one action type, such as {\"republish\": {...}}"
                .to_string()
        })?;
        let Some((key, body)) = object.iter().next() else {
            return Err("an action must name its type".into());
        };
        let template = |field: &str, text: &str| {
            Template::parse(text, version).map_err(|e| format!("{key}.{field}: {e}"))
        };
        let text = |field: &str| -> Result<String, String> {
            body.get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("{key}.{field} is required"))
        };
        if let Some(aws) = AwsAction::parse(key, body, version) {
            return aws.map(Action::Aws);
        }
        Ok(match key.as_str() {
            "republish" => {
                let qos = match body.get("qos") {
                    None | Some(Value::Null) => 0,
                    Some(q) => match q.as_u64() {
                        Some(q @ 0..=1) => q as u8,
                        _ => return Err("republish.qos must be 0 or 1".into()),
                    },
                };
                let headers = match body.get("headers") {
                    Some(h) if h.is_object() => Some(republish_headers(h, &template)?),
                    _ => None,
                };
                Action::Republish(Republish { topic: template("topic", &text("topic")?)?, qos, headers })
            }
            "http" => {
                let url = text("url")?;
                let mut headers = Vec::new();
                for h in body.get("headers").and_then(Value::as_array).into_iter().flatten() {
                    let (Some(k), Some(v)) =
                        (h.get("key").and_then(Value::as_str), h.get("value").and_then(Value::as_str))
                    else {
                        return Err("http.headers entries need a key and a value".into());
                    };
                    headers.push((k.to_string(), template("headers", v)?));
                }
                Action::Http(Http { url: template("url", &url)?, headers })
            }
            "cloudwatchLogs" => Action::CloudwatchLogs(CloudwatchLogs {
                log_group: template("logGroupName", &text("logGroupName")?)?,
                batch_mode: body.get("batchMode").and_then(Value::as_bool).unwrap_or(false),
            }),
            "lambda" => Action::Lambda { function_arn: text("functionArn")? },
            other => Action::NotRun { key: other.to_string(), resources: Vec::new() },
        })
    }

    /// The entries' `ruleAction`.
    pub fn rule_action(&self) -> &'static str {
        match self {
            Action::Republish(_) => "RepublishAction",
            Action::Http(_) => "HttpAction",
            Action::CloudwatchLogs(_) => "CloudwatchLogsAction",
            Action::Lambda { .. } => "LambdaAction",
            Action::Aws(a) => rule_action_name(a.key),
            Action::NotRun { key, .. } => rule_action_name(key),
        }
    }

    /// botocore's member name of the action type (`republish`, `s3`, ...).
    pub fn key(&self) -> &str {
        match self {
            Action::Republish(_) => "republish",
            Action::Http(_) => "http",
            Action::CloudwatchLogs(_) => "cloudwatchLogs",
            Action::Lambda { .. } => "lambda",
            Action::Aws(a) => a.key,
            Action::NotRun { key, .. } => key,
        }
    }

    /// Whether the action waits on the network (run on its own task, off the dispatcher).
    pub fn is_remote(&self) -> bool {
        matches!(self, Action::Http(_) | Action::Lambda { .. } | Action::Aws(_))
    }
}

type TemplateOf<'a> = dyn Fn(&str, &str) -> Result<Template, String> + 'a;

fn republish_headers(h: &Value, template: &TemplateOf<'_>) -> Result<RepublishHeaders, String> {
    let one = |member: &str| -> Result<Option<Template>, String> {
        h.get(member).and_then(Value::as_str).map(|v| template(&format!("headers.{member}"), v)).transpose()
    };
    let mut user_properties = Vec::new();
    for p in h.get("userProperties").and_then(Value::as_array).into_iter().flatten() {
        let (Some(k), Some(v)) =
            (p.get("key").and_then(Value::as_str), p.get("value").and_then(Value::as_str))
        else {
            return Err("republish.headers.userProperties entries need a key and a value".into());
        };
        user_properties.push((k.to_string(), template("headers.userProperties", v)?));
    }
    Ok(RepublishHeaders {
        payload_format_indicator: one("payloadFormatIndicator")?,
        content_type: one("contentType")?,
        response_topic: one("responseTopic")?,
        correlation_data: one("correlationData")?,
        message_expiry: one("messageExpiry")?,
        user_properties,
    })
}

/// The `ruleAction` of every action type of botocore's `Action` shape.
pub fn rule_action_name(key: &str) -> &'static str {
    match key {
        "dynamoDB" => "DynamoAction",
        "dynamoDBv2" => "DynamoActionV2",
        "lambda" => "LambdaAction",
        "sns" => "SnsAction",
        "sqs" => "SqsAction",
        "kinesis" => "KinesisAction",
        "republish" => "RepublishAction",
        "s3" => "S3Action",
        "firehose" => "FirehoseAction",
        "cloudwatchMetric" => "CloudwatchMetricAction",
        "cloudwatchAlarm" => "CloudwatchAlarmAction",
        "cloudwatchLogs" => "CloudwatchLogsAction",
        "elasticsearch" => "ElasticsearchAction",
        "salesforce" => "SalesforceAction",
        "iotAnalytics" => "IotAnalyticsAction",
        "iotEvents" => "IotEventsAction",
        "iotSiteWise" => "IotSiteWiseAction",
        "stepFunctions" => "StepFunctionsAction",
        "timestream" => "TimestreamAction",
        "http" => "HttpAction",
        "kafka" => "KafkaAction",
        "openSearch" => "OpenSearchAction",
        "location" => "LocationAction",
        _ => "UnknownAction",
    }
}

/// The action types of botocore's `Action` shape (`iot/2015-05-28`).
pub const ACTION_TYPES: &[&str] = &[
    "dynamoDB",
    "dynamoDBv2",
    "lambda",
    "sns",
    "sqs",
    "kinesis",
    "republish",
    "s3",
    "firehose",
    "cloudwatchMetric",
    "cloudwatchAlarm",
    "cloudwatchLogs",
    "elasticsearch",
    "salesforce",
    "iotAnalytics",
    "iotEvents",
    "iotSiteWise",
    "stepFunctions",
    "timestream",
    "http",
    "kafka",
    "openSearch",
    "location",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_actions_iotemu_runs() {
        let v = SqlVersion::V2016_03_23;
        let republish = json!({"republish": {"topic": "${topic()}/out", "qos": 1, "roleArn": "r",
            "headers": {"contentType": "text/plain", "userProperties": [{"key": "k", "value": "${a}"}]}}});
        let Action::Republish(r) = Action::parse(&republish, v).unwrap() else { panic!("not republish") };
        assert_eq!(r.qos, 1);
        assert_eq!(r.headers.unwrap().user_properties.len(), 1);
        let http = json!({"http": {"url": "http://127.0.0.1:1/x", "headers": [{"key": "k", "value": "v"}]}});
        assert_eq!(Action::parse(&http, v).unwrap().rule_action(), "HttpAction");
        let logs = json!({"cloudwatchLogs": {"logGroupName": "g", "roleArn": "r", "batchMode": true}});
        assert!(matches!(
            Action::parse(&logs, v).unwrap(),
            Action::CloudwatchLogs(CloudwatchLogs { batch_mode: true, .. })
        ));
        let lambda = json!({"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}});
        assert_eq!(Action::parse(&lambda, v).unwrap().rule_action(), "LambdaAction");
    }

    #[test]
    fn other_types_are_kept_with_their_aws_names_and_bad_ones_refused() {
        let v = SqlVersion::default();
        let s3 = Action::parse(&json!({"s3": {"bucketName": "b", "key": "k", "roleArn": "r"}}), v).unwrap();
        assert_eq!(s3.rule_action(), "S3Action");
        assert!(matches!(s3, Action::Aws(AwsAction { key: "s3", .. })));
        let kafka = Action::parse(&json!({"kafka": {"destinationArn": "d", "topic": "t"}}), v).unwrap();
        assert!(matches!(kafka, Action::NotRun { .. }) && kafka.rule_action() == "KafkaAction");
        assert!(ACTION_TYPES.iter().all(|k| rule_action_name(k) != "UnknownAction"));
        assert!(Action::parse(&json!({"republish": {"topic": "${"}}), v).is_err());
        assert!(Action::parse(&json!({"republish": {"topic": "t", "qos": 2}}), v).is_err());
        assert!(Action::parse(&json!({"a": {}, "b": {}}), v).is_err());
        assert!(Action::parse(&json!({"http": {}}), v).unwrap_err().contains("http.url is required"));
    }
}
