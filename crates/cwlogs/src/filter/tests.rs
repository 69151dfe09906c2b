use super::*;

const CONNECT: &str = r#"{"timestamp":"2026-11-24 10:00:00.123","logLevel":"INFO","traceId":"5a1c3b0e-0d1f-4c2a-9f3e-1b2c3d4e5f60","accountId":"123456789012","status":"Success","eventType":"Connect","protocol":"MQTT","clientId":"dev-1","principalId":"anonymous","sourceIp":"127.0.0.1","sourcePort":51234}"#;
const CONNECT_FAILED: &str = r#"{"timestamp":"2026-11-24 10:00:01.001","logLevel":"ERROR","traceId":"6b2d4c1f-1e20-4d3b-a04f-2c3d4e5f6071","accountId":"123456789012","status":"Failure","eventType":"Connect","protocol":"MQTT","clientId":"dev-2","principalId":"anonymous","sourceIp":"10.0.0.7","sourcePort":999,"reason":"AUTHORIZATION_FAILURE","details":"Authorization Failure"}"#;
const DISCONNECT: &str = r#"{"timestamp":"2026-11-24 10:05:00.000","logLevel":"INFO","traceId":"5a1c3b0e-0d1f-4c2a-9f3e-1b2c3d4e5f60","accountId":"123456789012","status":"Success","eventType":"Disconnect","protocol":"MQTT","clientId":"x","principalId":"anonymous","sourceIp":"127.0.0.1","sourcePort":51240,"disconnectReason":"CLIENT_INITIATED_DISCONNECT"}"#;
const PUBLISH_IN: &str = r#"{"timestamp":"2026-11-24 10:00:02.500","logLevel":"INFO","traceId":"7c3e5d20-2f31-4e4c-b150-3d4e5f607182","accountId":"123456789012","status":"Success","eventType":"Publish-In","protocol":"MQTT","topicName":"room/1","clientId":"dev-1","principalId":"anonymous","sourceIp":"127.0.0.1","sourcePort":51234}"#;
const PUBLISH_OUT_FAILED: &str = r#"{"timestamp":"2026-11-24 10:00:02.510","logLevel":"ERROR","traceId":"7c3e5d20-2f31-4e4c-b150-3d4e5f607182","accountId":"123456789012","status":"Failure","eventType":"Publish-Out","protocol":"MQTT","topicName":"room/1","clientId":"sensor-7","principalId":"anonymous","sourceIp":"127.0.0.1","sourcePort":40000,"reason":"AUTHORIZATION_FAILURE","details":"Authorization Failure"}"#;
const RULE_EXECUTION: &str = r#"{"timestamp":"2026-11-24 10:00:02.520","logLevel":"INFO","traceId":"7c3e5d20-2f31-4e4c-b150-3d4e5f607182","accountId":"123456789012","status":"Success","eventType":"RuleExecution","clientId":"dev-1","topicName":"room/1","ruleName":"Alerts","ruleAction":"RepublishAction","resources":{"RepublishTopic":"alerts/high"},"principalId":"anonymous"}"#;
/// Arrays, booleans, null and numbers beyond f64's exact integers.
const SHAPES: &str = r#"{"eventType":"Custom","tags":["a","b"],"items":[{"id":1},{"id":2}],"grid":[[0,1,2],[4,5,6]],"flag":true,"off":false,"nothing":null,"big":9007199254740993,"ratio":0.5,"owner":"ops@example.com"}"#;
const PLAIN: &str = "[ERROR] Publish-In failed for room 1";

const ALL: [&str; 8] =
    [CONNECT, CONNECT_FAILED, DISCONNECT, PUBLISH_IN, PUBLISH_OUT_FAILED, RULE_EXECUTION, SHAPES, PLAIN];

fn pattern(p: &str) -> FilterPattern {
    match FilterPattern::parse(p) {
        Ok(pattern) => pattern,
        Err(e) => panic!("{p:?} does not parse: {e}"),
    }
}

/// The messages of [`ALL`] that `p` matches.
fn matching(p: &str) -> Vec<&'static str> {
    let pattern = pattern(p);
    ALL.into_iter().filter(|m| pattern.matches(m)).collect()
}

#[track_caller]
fn assert_matching(p: &str, expected: &[&str]) {
    assert_eq!(matching(p), expected, "pattern {p:?}");
}

#[track_caller]
fn assert_json(p: &str, message: &str, expected: bool) {
    assert_eq!(pattern(p).matches(message), expected, "pattern {p:?} on {message}");
}

fn parse_error(p: &str) -> PatternError {
    match FilterPattern::parse(p) {
        Ok(parsed) => panic!("{p:?} parsed as {parsed:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_error(p: &str, position: usize, fragment: &str) {
    let e = parse_error(p);
    assert_eq!(e.position, position, "pattern {p:?}: {e}");
    assert!(e.message.contains(fragment), "pattern {p:?}: {:?} lacks {fragment:?}", e.message);
}

// ----- empty patterns -----

#[test]
fn empty_and_blank_patterns_match_everything() {
    for p in ["", " ", "\t \n"] {
        assert_matching(p, &ALL);
        assert!(pattern(p).matches(""));
        assert!(pattern(p).required_equalities().is_empty());
    }
}

// ----- term patterns -----

#[test]
fn a_term_is_a_case_sensitive_substring() {
    assert_matching("Publish", &[PUBLISH_IN, PUBLISH_OUT_FAILED, PLAIN]);
    assert_matching("ERROR", &[CONNECT_FAILED, PUBLISH_OUT_FAILED, PLAIN]);
    assert_matching("error", &[]);
    // AWS: `ERROR` matches `ERRORCODE`; here `Disconnect` holds `connect`, not `Connect`.
    assert_matching("Connect", &[CONNECT, CONNECT_FAILED]);
    assert_matching("AUTHORIZATION_FAILURE", &[CONNECT_FAILED, PUBLISH_OUT_FAILED]);
    assert_matching("51234", &[CONNECT, PUBLISH_IN]);
}

#[test]
fn all_plain_terms_must_occur() {
    assert_matching("Failure sensor", &[PUBLISH_OUT_FAILED]);
    assert_matching("ERROR Connect", &[CONNECT_FAILED]);
    assert_matching("ERROR Connect Disconnect", &[]);
}

#[test]
fn quoted_phrases_hold_any_character() {
    assert_matching("\"Publish-In\"", &[PUBLISH_IN, PLAIN]);
    assert_matching("\"room 1\"", &[PLAIN]);
    assert_matching("\"room/1\" \"dev-1\"", &[PUBLISH_IN, RULE_EXECUTION]);
    assert_matching("\"alerts/high\"", &[RULE_EXECUTION]);
    assert_matching(r#""\"status\":\"Failure\"""#, &[CONNECT_FAILED, PUBLISH_OUT_FAILED]);
    assert_matching(r#""a\\b""#, &[]);
    assert!(pattern(r#""a\\b""#).matches(r"path a\b"));
}

#[test]
fn question_marked_terms_are_alternatives() {
    assert_matching("?Disconnect ?RuleExecution", &[DISCONNECT, RULE_EXECUTION]);
    assert_matching("?ERROR ?WARN", &[CONNECT_FAILED, PUBLISH_OUT_FAILED, PLAIN]);
    assert_matching("?\"Publish-In\" ?\"Publish-Out\"", &[PUBLISH_IN, PUBLISH_OUT_FAILED, PLAIN]);
    // Mixed with plain terms: every plain term and at least one alternative.
    assert_matching("Failure ?Connect ?sensor", &[CONNECT_FAILED, PUBLISH_OUT_FAILED]);
    assert_matching("Success ?dev ?Custom", &[CONNECT, PUBLISH_IN, RULE_EXECUTION]);
}

#[test]
fn minus_terms_exclude() {
    assert_matching("ERROR -Connect", &[PUBLISH_OUT_FAILED, PLAIN]);
    assert_matching("\"Failure\" -\"Connect\"", &[PUBLISH_OUT_FAILED]);
    // AWS's own example puts a space after the minus.
    assert_matching("\"Failure\" - \"Connect\"", &[PUBLISH_OUT_FAILED]);
    assert_matching("-ERROR", &[CONNECT, DISCONNECT, PUBLISH_IN, RULE_EXECUTION, SHAPES]);
    // RuleExecution entries have no `protocol`.
    assert_matching("-MQTT -Custom", &[RULE_EXECUTION, PLAIN]);
    assert_matching("?Disconnect ?ERROR -Publish", &[CONNECT_FAILED, DISCONNECT]);
}

#[test]
fn term_patterns_see_the_raw_json_text() {
    assert_matching("\"\\\"clientId\\\":\\\"x\\\"\"", &[DISCONNECT]);
    assert_matching("RepublishTopic", &[RULE_EXECUTION]);
}

// ----- JSON patterns -----

#[test]
fn string_equality() {
    assert_matching("{ $.eventType = \"Connect\" }", &[CONNECT, CONNECT_FAILED]);
    assert_matching("{$.eventType=Connect}", &[CONNECT, CONNECT_FAILED]);
    assert_matching("{ $.eventType = \"Publish-In\" }", &[PUBLISH_IN]);
    assert_matching("{ $.eventType = Publish-In }", &[PUBLISH_IN]);
    assert_matching("{ $.eventType = \"connect\" }", &[]);
    assert_matching("{ $.topicName = room/1 }", &[PUBLISH_IN, PUBLISH_OUT_FAILED, RULE_EXECUTION]);
    assert_matching("{ $.sourceIp = 127.0.0.1 && $.status = Success }", &[CONNECT, DISCONNECT, PUBLISH_IN]);
    assert_matching("{ $.owner = \"ops@example.com\" }", &[SHAPES]);
}

#[test]
fn string_inequality_needs_the_field() {
    assert_matching(
        "{ $.eventType != \"Connect\" }",
        &[DISCONNECT, PUBLISH_IN, PUBLISH_OUT_FAILED, RULE_EXECUTION, SHAPES],
    );
    // RULE_EXECUTION and SHAPES have no sourceIp: `!=` is false there.
    assert_matching("{ $.sourceIp != \"127.0.0.1\" }", &[CONNECT_FAILED]);
}

#[test]
fn wildcards_at_the_ends_of_a_value() {
    assert_matching("{ $.status = \"Failure\" && $.clientId = \"dev-*\" }", &[CONNECT_FAILED]);
    assert_matching("{ $.clientId = dev-* }", &[CONNECT, CONNECT_FAILED, PUBLISH_IN, RULE_EXECUTION]);
    assert_matching("{ $.clientId = \"*-7\" }", &[PUBLISH_OUT_FAILED]);
    assert_matching("{ $.reason = *ORIZATION* }", &[CONNECT_FAILED, PUBLISH_OUT_FAILED]);
    assert_matching("{ $.sourceIp != 127.0.* }", &[CONNECT_FAILED]);
    assert_matching("{ $.resources.RepublishTopic = \"alerts/*\" }", &[RULE_EXECUTION]);
    assert_matching("{ $.resources.RepublishTopic = alerts/* }", &[RULE_EXECUTION]);
    assert_matching("{ $.resources.RepublishTopic = \"alerts/low*\" }", &[]);
    // `*` alone: any string, number or boolean.
    assert_matching(
        "{ $.sourcePort = * }",
        &[CONNECT, CONNECT_FAILED, DISCONNECT, PUBLISH_IN, PUBLISH_OUT_FAILED],
    );
    // A `*` inside a value is literal (AWS: `Ev*ent` only matches `Ev*ent`).
    assert_matching("{ $.clientId = \"d*1\" }", &[]);
    assert_json("{ $.clientId = \"d*1\" }", r#"{"clientId":"d*1"}"#, true);
}

#[test]
fn numeric_comparisons() {
    let cases = [
        ("{ $.sourcePort = 51234 }", true),
        ("{ $.sourcePort = 51234.0 }", true),
        ("{ $.sourcePort = 5.1234e4 }", true),
        ("{ $.sourcePort != 51234 }", false),
        ("{ $.sourcePort != 1 }", true),
        ("{ $.sourcePort < 60000 }", true),
        ("{ $.sourcePort < 51234 }", false),
        ("{ $.sourcePort <= 51234 }", true),
        ("{ $.sourcePort > 51234 }", false),
        ("{ $.sourcePort >= 51234 }", true),
        ("{ $.sourcePort >= 51235 }", false),
        ("{ $.sourcePort > +1000 }", true),
        ("{ $.sourcePort > -1 }", true),
        ("{ $.sourcePort < 10e3 }", false),
        ("{ $.sourcePort > 10e-3 }", true),
        ("{ $.sourcePort<=51234.5 }", true),
    ];
    for (p, expected) in cases {
        assert_json(p, CONNECT, expected);
    }
    assert_matching("{ $.sourcePort > 1000 }", &[CONNECT, DISCONNECT, PUBLISH_IN, PUBLISH_OUT_FAILED]);
    assert_json("{ $.ratio < 1 }", SHAPES, true);
    assert_json("{ $.ratio = .5 }", SHAPES, true);
    assert_json("{ $.ratio = +.5 }", SHAPES, true);
    assert_json("{ $.ratio < 1. }", SHAPES, true);
    assert_json("{ $.ratio > -5E-1 }", SHAPES, true);
    // Integers compare exactly, beyond f64's 2^53.
    assert_json("{ $.big = 9007199254740993 }", SHAPES, true);
    assert_json("{ $.big > 9007199254740992 }", SHAPES, true);
    assert_json("{ $.big = 9007199254740992 }", SHAPES, false);
}

#[test]
fn numbers_and_strings_meet_as_text() {
    // accountId is a string: an unquoted number matches it as written.
    assert_matching(
        "{ $.accountId = 123456789012 }",
        &[CONNECT, CONNECT_FAILED, DISCONNECT, PUBLISH_IN, PUBLISH_OUT_FAILED, RULE_EXECUTION],
    );
    assert_json("{ $.accountId != 123456789012 }", CONNECT, false);
    // Ordering needs a number field.
    assert_json("{ $.accountId > 1 }", CONNECT, false);
    // A quoted string compares with a number field's JSON text.
    assert_json("{ $.sourcePort = \"51234\" }", CONNECT, true);
    assert_json("{ $.sourcePort = \"512*\" }", CONNECT, true);
    assert_json("{ $.sourcePort != \"51234\" }", CONNECT, false);
    assert_json("{ $.flag = true }", SHAPES, true);
}

#[test]
fn nested_paths_and_arrays() {
    assert_json("{ $.tags[0] = \"a\" }", SHAPES, true);
    assert_json("{ $.tags[1] = b }", SHAPES, true);
    assert_json("{ $.tags[1] = a }", SHAPES, false);
    assert_json("{ $.tags[2] NOT EXISTS }", SHAPES, true);
    assert_json("{ $.items[1].id = 2 }", SHAPES, true);
    assert_json("{ $.items[0].id > 1 }", SHAPES, false);
    assert_json("{ $.grid[1][2] = 6 }", SHAPES, true);
    // A selector on an array or object compares neither equal nor unequal.
    for p in ["{ $.tags = \"a\" }", "{ $.tags != \"a\" }", "{ $.items = * }", "{ $.items[0] != 1 }"] {
        assert_json(p, SHAPES, false);
    }
    // Indexing a non-array, or a key of a non-object, reaches nothing.
    assert_json("{ $.eventType[0] NOT EXISTS }", SHAPES, true);
    assert_json("{ $.tags.a NOT EXISTS }", SHAPES, true);
    assert_json("{ $.resources.RepublishTopic NOT EXISTS }", RULE_EXECUTION, false);
}

#[test]
fn is_true_false_null_and_not_exists() {
    assert_json("{ $.flag IS TRUE }", SHAPES, true);
    assert_json("{ $.flag IS FALSE }", SHAPES, false);
    assert_json("{ $.off IS FALSE }", SHAPES, true);
    assert_json("{ $.off IS TRUE }", SHAPES, false);
    assert_json("{ $.nothing IS NULL }", SHAPES, true);
    assert_json("{ $.missing IS NULL }", SHAPES, false);
    assert_json("{ $.eventType IS NULL }", SHAPES, false);
    assert_json("{ $.missing NOT EXISTS }", SHAPES, true);
    assert_json("{ $.nothing NOT EXISTS }", SHAPES, false);
    assert_json("{ $.flag is true && $.missing not exists }", SHAPES, true);
    // A null value takes part in no comparison.
    assert_json("{ $.nothing = * }", SHAPES, false);
    assert_json("{ $.nothing != 1 }", SHAPES, false);
    assert_matching("{ $.disconnectReason NOT EXISTS && $.eventType = Disconnect }", &[]);
    assert_matching("{ $.reason NOT EXISTS && $.status = Failure }", &[]);
}

#[test]
fn and_or_and_parentheses() {
    assert_matching(
        "{ ($.eventType = \"Connect\" || $.eventType = \"Disconnect\") && $.clientId != \"x\" }",
        &[CONNECT, CONNECT_FAILED],
    );
    // `&&` binds tighter than `||`.
    assert_matching(
        "{ $.eventType = \"Disconnect\" || $.eventType = \"Connect\" && $.status = \"Failure\" }",
        &[CONNECT_FAILED, DISCONNECT],
    );
    assert_matching(
        "{ ($.eventType = \"Disconnect\" || $.eventType = \"Connect\") && $.status = \"Failure\" }",
        &[CONNECT_FAILED],
    );
    assert_matching("{ ((($.clientId = x))) }", &[DISCONNECT]);
    assert_matching(
        "{ $.status = Failure && ($.clientId = sensor-* || $.sourcePort < 1000) && $.logLevel = ERROR }",
        &[CONNECT_FAILED, PUBLISH_OUT_FAILED],
    );
}

#[test]
fn compound_conditions_on_nested_data() {
    // The shapes of AWS's "JSON compound conditions" examples.
    let event = r#"{"device":{"id":1,"owner":"ops@example.com"},"peers":[{"id":2,"owner":"a@example.com"}],"actions":["GET","PUT","DELETE"],"grid":[[0,1,2],[4,5,6]]}"#;
    assert_json("{ ($.device.id = 1) && ($.peers[0].owner = \"a@example.com\") }", event, true);
    assert_json(
        "{ ($.device.id = 2 && $.peers[0].owner = \"nope\") || $.actions[2] = \"GET\" }",
        event,
        false,
    );
    assert_json(
        "{ $.device.owner = \"ops@example.com\" || $.grid[0][1] = nope && $.actions[2] = nope }",
        event,
        true,
    );
    assert_json(
        "{ ($.device.owner = \"ops@example.com\" || $.grid[0][1] = nope) && $.actions[2] = nope }",
        event,
        false,
    );
}

#[test]
fn json_patterns_match_json_objects_only() {
    for p in ["{ $.eventType = * }", "{ $.x NOT EXISTS }", "{ $.eventType != Connect }"] {
        let pattern = pattern(p);
        assert!(!pattern.matches(PLAIN), "{p}");
        assert!(!pattern.matches(""), "{p}");
        assert!(!pattern.matches("[1, 2]"), "{p}");
        assert!(!pattern.matches("\"text\""), "{p}");
        assert!(!pattern.matches("{\"eventType\": \"Connect\""), "{p}: truncated JSON");
        assert!(!pattern.matches("{not json}"), "{p}");
    }
    assert_json("{ $.x NOT EXISTS }", "  {\"a\": 1}  ", true);
}

// ----- errors -----

#[test]
fn unbalanced_braces_parentheses_and_quotes() {
    assert_error(
        "{ $.eventType = \"Connect\"",
        25,
        "expected `&&`, `||` or `}` closing the `{` at position 0",
    );
    assert_error("{ $.eventType = \"Connect\"", 25, "found the end of the pattern");
    assert_error("{ ($.a = 1 }", 11, "expected `&&`, `||` or `)` closing the `(` at position 2, found `}`");
    assert_error("{ (($.a = 1) }", 13, "closing the `(` at position 2");
    assert_error("{ $.a = 1 ) }", 10, "expected `&&`, `||` or `}`");
    assert_error("{ $.a = \"x }", 8, "unterminated quoted string");
    assert_error("\"abc", 0, "unterminated quoted string: expected a closing `\"`");
    assert_error("ERROR \"abc", 6, "unterminated");
    assert_error("{ $.a = 1 } x", 12, "unexpected `x` after the `}` that ends the JSON pattern");
    assert_error("{ $.a = 1 }}", 11, "after the `}`");
}

#[test]
fn parentheses_nest_at_most_max_nesting_levels() {
    let nested = |n: usize| format!("{{ {}$.a = 1{} }}", "(".repeat(n), ")".repeat(n));
    assert_json(&nested(parser::MAX_NESTING), r#"{"a":1}"#, true);
    assert_error(
        &nested(parser::MAX_NESTING + 1),
        2 + parser::MAX_NESTING,
        "parentheses nest deeper than 64",
    );
    // Far deeper input is refused the same way, without exhausting the stack.
    assert_error(&nested(100_000), 2 + parser::MAX_NESTING, "nest deeper");
    let alternating = format!("{{ {}$.a = 1{} }}", "($.b = 2 || ".repeat(5_000), ")".repeat(5_000));
    assert_error(&alternating, 2 + 12 * parser::MAX_NESTING, "nest deeper");
}

#[test]
fn malformed_conditions() {
    assert_error("{ }", 2, "expected a condition such as `$.field = \"value\"` or `(` after `{`, found `}`");
    assert_error("{", 1, "found the end of the pattern");
    assert_error("{ a = 1 }", 2, "expected a condition");
    assert_error("{ $a = 1 }", 3, "expected `.` after `$`");
    assert_error("{ $. = 1 }", 4, "expected a field name (letters, digits, `_` or `-`) after `$.`");
    assert_error("{ $.a. = 1 }", 6, "expected a field name");
    assert_error("{ $.a[x] = 1 }", 6, "expected an array index (digits) after `[`, found `x`");
    assert_error("{ $.a[0 = 1 }", 7, "expected `]` after the array index");
    assert_error("{ $.a 1 }", 6, "expected an operator after `$.a` (=, !=, <, <=, >, >=, IS TRUE");
    assert_error("{ $.a == 1 }", 7, "expected a value after `=`");
    assert_error(
        "{ $.a = }",
        8,
        "expected a value after `=` (a number, a \"quoted string\" or a word), found `}`",
    );
    assert_error("{ $.a > abc }", 8, "expected a number after `>`, found `abc`");
    assert_error("{ $.a >= \"5\" }", 9, "expected a number after `>=`, found a quoted string");
    assert_error("{ $.a < 1.2.3 }", 8, "expected a number after `<`");
    assert_error("{ $.a < }", 8, "expected a number after `<`, found `}`");
    assert_error("{ $.a IS MAYBE }", 9, "expected TRUE, FALSE or NULL after IS");
    assert_error("{ $.a IS TRUEISH }", 9, "expected TRUE, FALSE or NULL");
    assert_error("{ $.a NOT THERE }", 10, "expected EXISTS after NOT");
    assert_error("{ $.a = 1 && }", 13, "after `&&`, found `}`");
    assert_error("{ $.a = 1 || && $.b = 2 }", 13, "after `||`, found `&`");
    assert_error("{ $.a = 1 & $.b = 2 }", 10, "expected `&&`, `||` or `}`");
    assert_error("{ $.a = x@y }", 9, "unexpected `@` in a value");
    assert_error("{ $.a = \"x\"y }", 11, "unexpected `y` in a value");
}

#[test]
fn malformed_term_patterns() {
    assert_error("ERROR Publish-In", 13, "unexpected `-` in a term");
    assert_error("ERROR Publish-In", 13, "must be in double quotes, e.g. \"Publish-In\"");
    assert_error("room/1", 4, "e.g. \"room/1\"");
    assert_error("?", 1, "expected a term or a quoted phrase after `?`, found the end of the pattern");
    assert_error("ERROR -", 7, "after `-`, found the end");
    assert_error("?-x", 1, "expected a term or a quoted phrase after `?`, found `-`");
    assert_error("\"abc\"def", 5, "unexpected `d` after a quoted phrase");
    assert_error("ERROR (x)", 6, "expected a term or a quoted phrase, found `(`");
    assert_error("[ip, user, ...]", 0, "space-delimited patterns");
    assert_error("  %AUTH%", 2, "regular-expression patterns");
}

#[test]
fn positions_count_characters_not_bytes() {
    // `é` is two bytes and not an ASCII letter.
    assert_error("\"é\" é", 4, "expected a term");
    assert_error("{ $.a = \"é\" && $.b é }", 19, "expected an operator after `$.b`");
}

#[test]
fn error_display() {
    let e = parse_error("{ $.sourcePort > high }");
    assert_eq!(
        e.to_string(),
        "Invalid filter pattern at position 17: expected a number after `>`, found `high`"
    );
}

// ----- required equalities -----

fn pairs(p: &str) -> Vec<(String, String)> {
    pattern(p).required_equalities()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect()
}

#[test]
fn required_equalities_of_conjunctions() {
    assert_eq!(
        pairs("{ $.eventType = \"Publish-In\" && $.clientId = \"x\" }"),
        owned(&[("eventType", "Publish-In"), ("clientId", "x")])
    );
    assert_eq!(
        pairs("{ $.status = \"Failure\" && $.clientId = \"dev-*\" }"),
        owned(&[("status", "Failure")])
    );
    assert_eq!(pairs("{ $.eventType = Connect }"), owned(&[("eventType", "Connect")]));
    assert_eq!(
        pairs("{ ($.eventType = \"Connect\" && ($.status = Success)) && $.sourcePort > 1000 }"),
        owned(&[("eventType", "Connect"), ("status", "Success")])
    );
    assert_eq!(
        pairs("{ ($.eventType = \"Connect\" || $.eventType = \"Disconnect\") && $.clientId = \"dev-1\" }"),
        owned(&[("clientId", "dev-1")])
    );
    assert_eq!(pairs("{ $.topicName = \"room/1\" && $.x NOT EXISTS }"), owned(&[("topicName", "room/1")]));
}

#[test]
fn required_equalities_give_nothing_when_unsure() {
    for p in [
        "",
        "Connect",
        "\"Publish-In\" -ERROR",
        "{ $.eventType = \"Connect\" || $.status = \"Failure\" }",
        "{ $.eventType = \"Connect\" && $.status = \"Success\" || $.clientId = x }",
        "{ $.resources.RepublishTopic = \"alerts/x\" }",
        "{ $.tags[0] = \"a\" }",
        "{ $.eventType != \"Connect\" }",
        "{ $.sourcePort = 51234 }",
        "{ $.accountId = 123456789012 }",
        "{ $.clientId = \"*\" }",
        "{ $.clientId = *-1 }",
        "{ $.flag IS TRUE }",
        "{ $.eventType NOT EXISTS }",
    ] {
        assert_eq!(pairs(p), Vec::<(String, String)>::new(), "pattern {p:?}");
    }
}

/// The store narrows by these pairs before `matches`: no event that matches may fail one.
#[test]
fn required_equalities_never_exclude_a_match() {
    let patterns = [
        "{ $.eventType = \"Connect\" }",
        "{ $.eventType = Connect && $.status = Failure }",
        "{ $.clientId = \"dev-1\" && ($.eventType = Publish-In || $.eventType = RuleExecution) }",
        "{ ($.eventType = \"Connect\" || $.eventType = \"Disconnect\") && $.clientId != \"x\" }",
        "{ $.topicName = \"room/1\" && $.sourcePort > 1000 }",
        "{ $.sourcePort = \"51234\" && $.protocol = MQTT }",
        "{ $.flag = true && $.eventType = Custom }",
    ];
    for p in patterns {
        let pattern = pattern(p);
        for message in ALL.into_iter().filter(|m| pattern.matches(m)) {
            let Ok(serde_json::Value::Object(event)) = serde_json::from_str::<serde_json::Value>(message)
            else {
                panic!("{p:?} matched a non-object: {message}");
            };
            for (field, value) in pattern.required_equalities() {
                let text = match event.get(&field) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => panic!("{p:?} matched {message} without {field}"),
                };
                assert_eq!(text, value, "{p:?} on {message}");
            }
        }
    }
}

// ----- reading only what the pattern needs -----

/// `matches`, which builds only the projected part of each event, agrees with evaluating the
/// pattern on the whole event.
#[test]
fn projected_events_evaluate_like_whole_events() {
    let patterns = [
        "{ $.eventType = Connect }",
        "{ $.eventType != Connect }",
        "{ $.resources.RepublishTopic = alerts/* }",
        "{ $.resources NOT EXISTS }",
        "{ $.resources = * || $.resources.x IS NULL }",
        "{ $.tags[1] = b && $.tags[0] != b }",
        "{ $.tags[5] NOT EXISTS }",
        "{ $.tags[0] NOT EXISTS }",
        "{ $.items[1].id = 2 || $.items[0] = * }",
        "{ $.grid[1][2] >= 6 && $.grid[0] NOT EXISTS }",
        "{ $.nothing IS NULL && $.flag IS TRUE }",
        "{ $.big > 9007199254740992 }",
        "{ $.ratio < 1 }",
        "{ $.a.b NOT EXISTS }",
        "{ $.weird-key_2 NOT EXISTS }",
        "{ $.k = 2 }",
        "{ $.k = 1 }",
        "{ $.esc = x }",
    ];
    let messages = ALL.into_iter().chain([
        r#"{"k": 1, "k": 2}"#,
        r#"{"\u0065sc": "x", "tags": [[1, {"a": [2]}], "b", 3, null]}"#,
        r#"{"a": {"b": null}, "grid": [[], [1, 2, 6.5]], "resources": []}"#,
        r#"{"items": [{"id": 1}], "tags": "not an array"} trailing"#,
        r#"{"items": [{"id": 1}, {"id": 2, "x": [1, 2, {"y": "z"}]}]}"#,
        r#"{"tags": ["a", "b"], "tags": {"0": "a"}}"#,
        r#"{"flag": true, "nothing": null, "resources": {"x": null}}"#,
        r#"{"unclosed": [1, 2}"#,
        "[{\"eventType\": \"Connect\"}]",
        "{}",
    ]);
    for p in patterns {
        let parsed = pattern(p);
        let Kind::Json(expr) = &parsed.kind else { panic!("{p:?} is not a JSON pattern") };
        for message in messages.clone() {
            let whole = match serde_json::from_str::<Value>(message) {
                Ok(root @ Value::Object(_)) => expr.eval(&root),
                _ => false,
            };
            assert_eq!(parsed.matches(message), whole, "pattern {p:?} on {message}");
        }
    }
}

#[test]
fn projection_keeps_only_the_selected_parts() {
    let parsed =
        pattern("{ $.tags[1] = b || $.items[0].id = 1 || $.resources NOT EXISTS || $.flag IS TRUE }");
    let projected = parsed.projection.parse(SHAPES);
    let expected = serde_json::json!({
        "tags": [null, "b"],
        "items": [{"id": 1}],
        "flag": true,
    });
    assert_eq!(projected, Some(expected));
    // Containers at the end of a selector are kept empty: their kind is all a condition reads.
    let parsed = pattern("{ $.items = * || $.resources NOT EXISTS }");
    assert_eq!(parsed.projection.parse(RULE_EXECUTION), Some(serde_json::json!({"resources": {}})));
    assert_eq!(parsed.projection.parse(SHAPES), Some(serde_json::json!({"items": []})));
    assert_eq!(parsed.projection.parse("{\"a\": 1} x"), None);
}
