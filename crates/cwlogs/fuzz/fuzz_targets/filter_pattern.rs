//! Any text, parsed as a CloudWatch Logs filter pattern; what parses is matched against JSON,
//! plain and deeply nested messages and asked for its indexed equalities. Nothing may panic,
//! overflow the stack or hang.
#![no_main]

use iotemu_cwlogs::filter::FilterPattern;
use libfuzzer_sys::fuzz_target;

const MESSAGES: [&str; 5] = [
    r#"{"eventType":"Connect","status":"Failure","clientId":"dev-1","sourcePort":51234,"a":{"b":[1,{"c":true}],"n":null},"x":1.5e3}"#,
    "[ERROR] Publish-In failed for room 1",
    r#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
    "{not json",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(pattern) = FilterPattern::parse(text) else { return };
    let _ = pattern.required_equalities();
    for message in MESSAGES {
        let _ = pattern.matches(message);
    }
    // The pattern itself as a message: patterns are JSON-looking text.
    let _ = pattern.matches(text);
});
