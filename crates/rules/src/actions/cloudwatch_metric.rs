//! The `cloudwatchMetric` action (`cloudwatch-metrics-rule-action.md`): PutMetricData of one
//! datum, every member a template; `metricValue` must be a number and `metricTimestamp`, when
//! given, Unix seconds. CloudWatch's query protocol (botocore `monitoring/2010-08-01`).

use super::aws::{invalid, outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};

pub(crate) async fn put_metric_data(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "CloudwatchMetricAction";
    let namespace = call.required("metricNamespace", rule_action)?;
    let name = call.required("metricName", rule_action)?;
    let value = call.required("metricValue", rule_action)?;
    let unit = call.required("metricUnit", rule_action)?;
    let resources = vec![("MetricNamespace", namespace.to_string()), ("MetricName", name.to_string())];
    if value.trim().parse::<f64>().map_or(true, |v| !v.is_finite()) {
        return Err(invalid(rule_action, resources, format!("metricValue {value:?} is not a number")));
    }
    let mut params: Vec<(String, String)> = [
        ("Action", "PutMetricData"),
        ("Version", "2010-08-01"),
        ("Namespace", namespace),
        ("MetricData.member.1.MetricName", name),
        ("MetricData.member.1.Value", value.trim()),
        ("MetricData.member.1.Unit", unit),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(ts) = call.field("metricTimestamp") {
        let Some(at) = ts
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        else {
            return Err(invalid(
                rule_action,
                resources,
                format!("metricTimestamp {ts:?} is not Unix seconds"),
            ));
        };
        params.push(("MetricData.member.1.Timestamp".into(), at));
    }
    let result = client.query(Service::CloudWatch, &params).await.map(drop);
    Ok(outcome(rule_action, resources, result, "Failed to put CloudWatch metric data", "AmazonCloudWatch"))
}
