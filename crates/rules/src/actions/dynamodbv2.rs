//! The `dynamoDBv2` action (`dynamodb-v2-rule-action.md`): PutItem into `putItem.tableName` of
//! an item whose attributes are the top-level members of the SELECT's output (a JSON object; it
//! must hold the table's keys). DynamoDB's JSON 1.0 protocol.

use super::aws::{attribute_value, invalid, outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};
use serde_json::{json, Value};

pub(crate) async fn put_item(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "DynamoActionV2";
    let table = call.required("putItem.tableName", rule_action)?;
    let resources = vec![("Table", table.to_string())];
    let Some(Value::Object(columns)) = &call.json else {
        return Err(invalid(
            rule_action,
            resources,
            "dynamoDBv2 needs the rule's SELECT to give a JSON object".into(),
        ));
    };
    let item: serde_json::Map<String, Value> =
        columns.iter().map(|(k, v)| (k.clone(), attribute_value(v))).collect();
    let input = json!({"TableName": table, "Item": item});
    let result = client.json(Service::DynamoDb, "DynamoDB_20120810.PutItem", "1.0", &input).await.map(drop);
    Ok(outcome(rule_action, resources, result, "Dynamo Insert record failed", "AmazonDynamoDBv2"))
}
