//! The `sqs` action (`sqs-rule-action.md`): SendMessage of the SELECT's output to `queueUrl`
//! (a template), base64-encoded first with `useBase64`. SQS's JSON protocol (botocore
//! `sqs/2012-11-05`, `awsJson1_0`).

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use base64::Engine as _;
use iotemu_awsclient::{AwsClient, Service};
use serde_json::json;

pub(crate) async fn send_message(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "SqsAction";
    let queue_url = call.required("queueUrl", rule_action)?;
    let body = if call.flag("useBase64") {
        base64::engine::general_purpose::STANDARD.encode(&call.payload)
    } else {
        String::from_utf8_lossy(&call.payload).into_owned()
    };
    let input = json!({"QueueUrl": queue_url, "MessageBody": body});
    let result = client.json(Service::Sqs, "AmazonSQS.SendMessage", "1.0", &input).await.map(drop);
    let resources = vec![("QueueUrl", queue_url.to_string())];
    Ok(outcome(rule_action, resources, result, "Failed to send message to SQS", "AmazonSQS"))
}
