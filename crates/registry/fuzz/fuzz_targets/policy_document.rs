//! Any text, parsed as an IoT policy document (CreatePolicy); what parses is evaluated for each
//! broker action with policy variables that resolve and that do not. Nothing may panic, overflow
//! the stack or hang.
#![no_main]

use iotemu_registry::policy_document::{PolicyDocument, PolicyVariables};
use libfuzzer_sys::fuzz_target;

struct Vars;

impl PolicyVariables for Vars {
    fn get(&self, name: &str) -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "iot:clientid" => Some("dev-1".into()),
            "iot:connection.thing.thingname" => Some("thing-*?".into()),
            "iot:connection.thing.isattached" => Some("true".into()),
            _ => None,
        }
    }
}

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(document) = PolicyDocument::parse(text) else { return };
    let cases = [
        ("iot:Connect", format!("{ARN}:client/dev-1")),
        ("iot:Publish", format!("{ARN}:topic/$aws/things/thing-1/shadow/update")),
        ("iot:Subscribe", format!("{ARN}:topicfilter/a/+/#")),
        ("iot:Receive", format!("{ARN}:topic/{}", "a/".repeat(100))),
    ];
    for (action, resource) in &cases {
        let _ = PolicyDocument::evaluate([&document], action, resource, &Vars);
    }
});
