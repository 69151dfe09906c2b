//! The `stepFunctions` action (`stepfunctions-rule-action.md`): StartExecution of the state
//! machine `stateMachineName` of the rule's account, named `executionNamePrefix` followed by a
//! UUID, with the SELECT's output as input. Step Functions' JSON 1.0 protocol.

use super::aws::{outcome, AwsCall};
use super::run::Outcome;
use iotemu_awsclient::{AwsClient, Service};
use serde_json::json;

pub(crate) async fn start_execution(client: &AwsClient<'_>, call: &AwsCall) -> Result<Outcome, Outcome> {
    let rule_action = "StepFunctionsAction";
    let name = call.required("stateMachineName", rule_action)?;
    let arn = format!("arn:aws:states:{}:{}:stateMachine:{name}", client.region(), call.account);
    let execution =
        format!("{}{}", call.field("executionNamePrefix").unwrap_or_default(), uuid::Uuid::new_v4());
    let input = json!({
        "stateMachineArn": arn,
        "name": execution,
        "input": String::from_utf8_lossy(&call.payload),
    });
    let result =
        client.json(Service::States, "AWSStepFunctions.StartExecution", "1.0", &input).await.map(drop);
    let resources = vec![("StateMachineName", name.to_string())];
    Ok(outcome(
        rule_action,
        resources,
        result,
        "Failed to start Step Functions execution",
        "AWSStepFunctions",
    ))
}
