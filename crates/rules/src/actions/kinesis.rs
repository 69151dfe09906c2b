//! The `kinesis` action (`kinesis-rule-action.md`): PutRecord of the SELECT's output to
//! `streamName` with `partitionKey` (a template; a random UUID when absent, as the key is
//! optional in botocore's `KinesisAction`). Kinesis's JSON 1.1 protocol.

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use base64::Engine as _;
use iotemu_awsclient::{AwsClient, Service};
use serde_json::json;

pub(crate) async fn put_record(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "KinesisAction";
    let stream = call.required("streamName", rule_action)?;
    let partition_key =
        call.field("partitionKey").map(str::to_owned).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let input = json!({
        "StreamName": stream,
        "PartitionKey": partition_key,
        "Data": base64::engine::general_purpose::STANDARD.encode(&call.payload),
    });
    let result = client.json(Service::Kinesis, "Kinesis_20131202.PutRecord", "1.1", &input).await.map(drop);
    let resources = vec![("StreamName", stream.to_string()), ("PartitionKey", partition_key)];
    Ok(outcome(rule_action, resources, result, "Failed to put Kinesis record", "AmazonKinesis"))
}
