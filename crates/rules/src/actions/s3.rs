//! The `s3` action (`s3-rule-action.md`): PutObject of the SELECT's output as `key` (a
//! template) in `bucketName`, with `cannedAcl` as `x-amz-acl`. S3's REST protocol, path-style
//! URLs (`{endpoint}/{bucket}/{key}`), as local endpoints serve them.

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};

pub(crate) async fn put_object(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "S3Action";
    let bucket = call.required("bucketName", rule_action)?;
    let key = call.required("key", rule_action)?;
    let resources = vec![("BucketName", bucket.to_string()), ("Key", key.to_string())];
    let mut headers = Vec::new();
    if let Some(acl) = call.text("cannedAcl") {
        headers.push(("x-amz-acl", acl.to_string()));
    }
    let result = match client.s3_object_url(bucket, key) {
        Ok(url) => client.send(Service::S3, "PUT", &url, &headers, call.payload.clone()).await.map(drop),
        Err(e) => Err(e),
    };
    Ok(outcome(rule_action, resources, result, "Failed to put S3 object", "Amazon S3"))
}
