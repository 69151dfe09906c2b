//! Any text, parsed as a substitution template with both SQL versions and rendered.
#![no_main]

use iotemu_rules::sql::{Message, NoEnvironment, SqlVersion, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
        let Ok(template) = Template::parse(text, version) else { continue };
        let _ = template.is_static();
        for payload in [&br#"{"deviceid":"iot123","coords":{"latitude":47.6}}"#[..], b"\xff", b""] {
            let msg = Message {
                topic: "my/iot/topic".into(),
                payload: payload.to_vec().into(),
                client_id: Some("c1".into()),
                account_id: "123456789012".into(),
                timestamp_ms: 1579637878451,
                ..Message::default()
            };
            let _ = template.render(&msg, &NoEnvironment);
        }
    }
});
