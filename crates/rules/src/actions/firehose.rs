//! The `firehose` action (`kinesis-firehose-rule-action.md`): PutRecord of the SELECT's output
//! followed by `separator` (`,`, `\t`, `\n` or `\r\n`; none by default) to
//! `deliveryStreamName`; with `batchMode` and a JSON array, PutRecordBatch of one record per
//! element (500 at most). Firehose's JSON 1.1 protocol.

use super::aws::{invalid, outcome, AwsCall};
use super::run::Outcome;
use base64::Engine as _;
use iotemu_awsclient::{AwsClient, AwsError, Service};
use serde_json::{json, Value};

pub(crate) async fn put_record(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "FirehoseAction";
    let stream = call.required("deliveryStreamName", rule_action)?;
    let resources = vec![("StreamName", stream.to_string())];
    let separator = match call.text("separator") {
        None => "",
        Some(s @ ("," | "\t" | "\n" | "\r\n")) => s,
        Some("\\t") => "\t",
        Some("\\n") => "\n",
        Some("\\r\\n") => "\r\n",
        Some(other) => {
            return Err(invalid(
                rule_action,
                resources,
                format!("separator {other:?} is not one of ',', '\\t', '\\n', '\\r\\n'"),
            ))
        }
    };
    let record = |bytes: &[u8]| {
        let mut data = bytes.to_vec();
        data.extend_from_slice(separator.as_bytes());
        json!({"Data": base64::engine::general_purpose::STANDARD.encode(data)})
    };
    let result = if call.flag("batchMode") {
        let Some(Value::Array(items)) = &call.json else {
            return Err(invalid(
                rule_action,
                resources,
                "batchMode needs the rule's SELECT to give a JSON array".into(),
            ));
        };
        if items.len() > 500 {
            return Err(invalid(
                rule_action,
                resources,
                format!("batchMode takes at most 500 records; the SELECT gave {}", items.len()),
            ));
        }
        if items.is_empty() {
            return Ok(outcome(rule_action, resources, Ok(()), "", ""));
        }
        let records: Vec<Value> = items.iter().map(|i| record(i.to_string().as_bytes())).collect();
        let input = json!({"DeliveryStreamName": stream, "Records": records});
        match client.json(Service::Firehose, "Firehose_20150804.PutRecordBatch", "1.1", &input).await {
            Ok(answer) => match answer.get("FailedPutCount").and_then(Value::as_u64) {
                Some(n) if n > 0 => Err(AwsError {
                    code: "FailedPutCount".into(),
                    message: format!("{n} of {} records were not put", items.len()),
                    status: 200,
                }),
                _ => Ok(()),
            },
            Err(e) => Err(e),
        }
    } else {
        let input = json!({"DeliveryStreamName": stream, "Record": record(&call.payload)});
        client.json(Service::Firehose, "Firehose_20150804.PutRecord", "1.1", &input).await.map(drop)
    };
    Ok(outcome(rule_action, resources, result, "Failed to put Firehose record", "AmazonKinesisFirehose"))
}
