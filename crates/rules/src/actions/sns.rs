//! The `sns` action (`sns-rule-action.md`): Publish of the SELECT's output to `targetArn`, with
//! `MessageStructure=json` when `messageFormat` is `JSON` (default `RAW`). SNS's query protocol
//! (botocore `sns/2010-03-31`).

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};

pub(crate) async fn publish(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "SnsAction";
    let target = call.required("targetArn", rule_action)?;
    let mut params = vec![
        ("Action".to_string(), "Publish".to_string()),
        ("Version".to_string(), "2010-03-31".to_string()),
        ("TargetArn".to_string(), target.to_string()),
        ("Message".to_string(), String::from_utf8_lossy(&call.payload).into_owned()),
    ];
    if call.text("messageFormat").is_some_and(|f| f.eq_ignore_ascii_case("JSON")) {
        params.push(("MessageStructure".into(), "json".into()));
    }
    let result = client.query(Service::Sns, &params).await.map(drop);
    let resources = vec![("TargetArn", target.to_string())];
    Ok(outcome(rule_action, resources, result, "Failed to publish to SNS", "AmazonSNS"))
}
