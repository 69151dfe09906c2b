//! The `cloudwatchAlarm` action (`cloudwatch-alarms-rule-action.md`): SetAlarmState of
//! `alarmName` to `stateValue` (OK, ALARM, INSUFFICIENT_DATA) with `stateReason`, all templates.
//! CloudWatch's query protocol (botocore `monitoring/2010-08-01`).

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};

pub(crate) async fn set_alarm_state(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "CloudwatchAlarmAction";
    let alarm = call.required("alarmName", rule_action)?;
    let value = call.required("stateValue", rule_action)?;
    let reason = call.required("stateReason", rule_action)?;
    let params: Vec<(String, String)> = [
        ("Action", "SetAlarmState"),
        ("Version", "2010-08-01"),
        ("AlarmName", alarm),
        ("StateValue", value),
        ("StateReason", reason),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let result = client.query(Service::CloudWatch, &params).await.map(drop);
    let resources = vec![("AlarmName", alarm.to_string())];
    Ok(outcome(rule_action, resources, result, "Failed to set CloudWatch alarm state", "AmazonCloudWatch"))
}
