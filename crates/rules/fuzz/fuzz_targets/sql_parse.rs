//! Any text, parsed as a rule statement with both SQL versions; what parses is evaluated on a
//! JSON, a binary and an empty payload. Nothing may panic, overflow the stack or hang.
#![no_main]

use iotemu_rules::sql::{Environment, Message, SqlVersion, Statement};
use libfuzzer_sys::fuzz_target;

/// An environment with one shadow, so `get_thing_shadow` goes both ways.
struct Env;

impl Environment for Env {
    fn get_thing_shadow(
        &self,
        thing_name: &str,
        _shadow_name: Option<&str>,
        _role_arn: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        match thing_name {
            "MyThing" => Ok(Some(serde_json::json!({"state": {"reported": {"alarm": "ON", "n": [1, 2]}}}))),
            "Broken" => Err("access denied".into()),
            _ => Ok(None),
        }
    }
}

const PAYLOADS: [&[u8]; 3] = [
    br#"{"temperature":50,"color":"red","a":{"b":["x",1,2.5,null,true]},"data":[{"a":1},{"a":"2"}],"s":"aGk="}"#,
    b"\x00\xff binary",
    b"",
];

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
        let Ok(statement) = Statement::parse(sql, version) else { continue };
        let filter = statement.topic_filter();
        let _ = statement.matches_topic(filter);
        for topic in ["topic/subtopic", "a/b/c", "$aws/rules/r/x/y", "$aws/things/t/shadow/update", ""] {
            let _ = statement.matches_topic(topic);
        }
        // Each evaluation may spend up to MAX_COST, so a few: every payload on one topic, and the
        // JSON one on a Basic Ingest topic for `topic()`.
        let cases =
            PAYLOADS.iter().map(|p| ("topic/subtopic", *p)).chain([("$aws/rules/r/x/y", PAYLOADS[0])]);
        for (topic, payload) in cases {
            let msg = Message {
                topic: topic.into(),
                payload: payload.to_vec().into(),
                client_id: Some("client-1".into()),
                principal: Some("principal".into()),
                trace_id: None,
                account_id: "123456789012".into(),
                timestamp_ms: 1481825251155,
                ..Message::default()
            };
            if let Ok(Some(out)) = statement.evaluate(&msg, &Env) {
                let _ = out.to_bytes();
            }
        }
    }
});
