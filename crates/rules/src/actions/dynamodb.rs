//! The `dynamoDB` action (`dynamodb-rule-action.md`): the SELECT's output in `payloadField`
//! (default `payload`; a map for JSON, binary otherwise) of the item whose hash (and range) key
//! are the rendered `hashKeyValue` (`rangeKeyValue`), typed by `hashKeyType` (`STRING` or
//! `NUMBER`). `operation` `INSERT` (default) is PutItem, `UPDATE` UpdateItem of the payload
//! field, `DELETE` DeleteItem. `resources` as AWS writes them (`docs/aws-behaviour.md` §12).

use super::aws::{attribute_value, invalid, outcome, AwsCall};
use super::run::Outcome;
use base64::Engine as _;
use iotemu_awsclient::{AwsClient, Service};
use serde_json::{json, Map, Value};

pub(crate) async fn write(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "DynamoAction";
    let table = call.required("tableName", rule_action)?;
    let hash_field = call.required("hashKeyField", rule_action)?;
    let hash_value = call.required("hashKeyValue", rule_action)?;
    let operation = call.field("operation").unwrap_or("INSERT").to_ascii_uppercase();
    let pretty = match operation.as_str() {
        "INSERT" => "Insert",
        "UPDATE" => "Update",
        "DELETE" => "Delete",
        _ => "",
    };
    let mut resources = vec![
        ("Table", table.to_string()),
        ("ItemHashKeyField", hash_field.to_string()),
        ("ItemHashKeyValue", hash_value.to_string()),
        ("Operation", pretty.to_string()),
        ("IsPayloadJSON", call.json.is_some().to_string()),
    ];
    if pretty.is_empty() {
        return Err(invalid(
            rule_action,
            resources,
            format!("operation {operation:?} is not INSERT, UPDATE or DELETE"),
        ));
    }
    let typed = |ty: Option<&str>, value: &str| -> Result<Value, String> {
        match ty.map(str::to_ascii_uppercase).as_deref() {
            None | Some("STRING") => Ok(json!({"S": value})),
            Some("NUMBER") => Ok(json!({"N": value})),
            Some(other) => Err(format!("key type {other:?} is not STRING or NUMBER")),
        }
    };
    let mut key = Map::new();
    match typed(call.field("hashKeyType"), hash_value) {
        Ok(v) => key.insert(hash_field.to_string(), v),
        Err(e) => return Err(invalid(rule_action, resources, e)),
    };
    if let (Some(field), Some(value)) = (call.field("rangeKeyField"), call.field("rangeKeyValue")) {
        resources.push(("ItemRangeKeyField", field.to_string()));
        resources.push(("ItemRangeKeyValue", value.to_string()));
        match typed(call.field("rangeKeyType"), value) {
            Ok(v) => key.insert(field.to_string(), v),
            Err(e) => return Err(invalid(rule_action, resources, e)),
        };
    }
    let payload_field = call.field("payloadField").unwrap_or("payload");
    let payload = match &call.json {
        Some(v) => attribute_value(v),
        None => json!({"B": base64::engine::general_purpose::STANDARD.encode(&call.payload)}),
    };
    let (target, input) = match pretty {
        "Insert" => {
            let mut item = key.clone();
            item.insert(payload_field.to_string(), payload);
            ("DynamoDB_20120810.PutItem", json!({"TableName": table, "Item": item}))
        }
        "Update" => (
            "DynamoDB_20120810.UpdateItem",
            json!({
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #p = :p",
                "ExpressionAttributeNames": {"#p": payload_field},
                "ExpressionAttributeValues": {":p": payload},
            }),
        ),
        _ => ("DynamoDB_20120810.DeleteItem", json!({"TableName": table, "Key": key})),
    };
    let result = client.json(Service::DynamoDb, target, "1.0", &input).await.map(drop);
    let failed = format!("Dynamo {pretty} record failed");
    Ok(outcome(rule_action, resources, result, &failed, "AmazonDynamoDBv2"))
}
