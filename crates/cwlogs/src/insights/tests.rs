//! Table tests of the query language: each query over the same six entries, against results
//! worked out by hand from those entries.

use super::eval::{record, run, Source};
use super::parse;

/// Six AWS IoT entries, one minute apart from 2024-01-01 00:00:00 UTC (1704067200000), the
/// last with a non-JSON message.
fn events() -> Vec<(i64, &'static str)> {
    vec![
        (
            1_704_067_200_000,
            r#"{"eventType":"Connect","clientId":"a","status":"Success","protocol":"MQTT","n":1}"#,
        ),
        (
            1_704_067_260_000,
            r#"{"eventType":"Publish-In","clientId":"a","status":"Success","topicName":"t/1","n":4}"#,
        ),
        (
            1_704_067_320_000,
            r#"{"eventType":"Publish-In","clientId":"b","status":"Failure","reason":"AUTHORIZATION_FAILURE","n":10}"#,
        ),
        (
            1_704_067_380_000,
            r#"{"eventType":"Publish-Out","clientId":"b","status":"Success","details":{"qos":1},"n":5}"#,
        ),
        (1_704_067_440_000, r#"{"eventType":"Disconnect","clientId":"c","status":"Success","n":2}"#),
        (1_704_067_500_000, "plain text Downlink message sent"),
    ]
}

/// Runs `query` over the entries (newest first, as the service reads them) and renders each row
/// as `field=value` pairs joined by spaces.
fn rows(query: &str) -> Vec<String> {
    let q = parse(query).unwrap_or_else(|e| panic!("{query}: {e:?}"));
    let mut records: Vec<_> = events()
        .into_iter()
        .enumerate()
        .map(|(i, (ts, m))| {
            record(&Source {
                id: i as i64,
                timestamp: ts,
                ingestion: ts,
                message: m,
                stream: "s",
                log: "1:g",
            })
        })
        .collect();
    records.reverse();
    let (columns, _, out) = run(&q, records);
    out.iter()
        .map(|r| {
            columns
                .iter()
                .filter_map(|c| r.get(c).and_then(|v| v.text()).map(|v| format!("{c}={v}")))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn queries_give_the_hand_computed_rows() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "fields clientId | filter eventType = 'Publish-In'",
            vec!["clientId=b", "clientId=a"],
        ),
        ("filter n > 4 | fields n", vec!["n=5", "n=10"]),
        ("filter n >= 4 and n < 10 | fields n | sort n", vec!["n=4", "n=5"]),
        ("filter n = 1 or n = 2 | display n", vec!["n=2", "n=1"]),
        ("filter not (status = 'Success') and ispresent(status) | display clientId, reason", vec!["clientId=b reason=AUTHORIZATION_FAILURE"]),
        ("filter clientId in ['a', 'c'] | display n", vec!["n=2", "n=4", "n=1"]),
        ("filter clientId not in ['a', 'c'] and ispresent(clientId) | display n", vec!["n=5", "n=10"]),
        ("filter eventType like /^Publish/ | display eventType | limit 1", vec!["eventType=Publish-Out"]),
        ("filter eventType not like 'Publish' and ispresent(eventType) | display eventType",
            vec!["eventType=Disconnect", "eventType=Connect"]),
        ("filter eventType =~ /(?i)connect$/ | display eventType", vec!["eventType=Disconnect", "eventType=Connect"]),
        ("filter ispresent(reason) | display reason", vec!["reason=AUTHORIZATION_FAILURE"]),
        ("filter details.qos = 1 | display clientId", vec!["clientId=b"]),
        ("fields n * 2 + 1 as m | filter m > 10 | display m | sort m desc", vec!["m=21", "m=11"]),
        ("stats count(*) as c", vec!["c=6"]),
        ("stats count(n) as c, sum(n) as s, avg(n) as a, min(n) as lo, max(n) as hi", vec!["c=5 s=22 a=4.4 lo=1 hi=10"]),
        ("stats count_distinct(clientId) as k", vec!["k=3"]),
        ("stats pct(n, 50) as p50, pct(n, 90) as p90", vec!["p50=4 p90=10"]),
        ("stats count(*) as c by clientId", vec!["c=1", "clientId=a c=2", "clientId=b c=2", "clientId=c c=1"]),
        ("filter ispresent(clientId) | stats sum(n) by eventType | sort `sum(n)` desc",
            vec!["eventType=Publish-In sum(n)=14", "eventType=Publish-Out sum(n)=5", "eventType=Disconnect sum(n)=2", "eventType=Connect sum(n)=1"]),
        ("stats count(*) by bin(2m)", vec![
            "bin(2m)=2024-01-01 00:00:00.000 count(*)=2",
            "bin(2m)=2024-01-01 00:02:00.000 count(*)=2",
            "bin(2m)=2024-01-01 00:04:00.000 count(*)=2",
        ]),
        ("filter @message like /Downlink message sent/", vec!["@timestamp=2024-01-01 00:05:00.000 @message=plain text Downlink message sent"]),
        ("fields @message\n| filter @message like /Sidewalk/", vec![]),
        ("parse @message 'plain * * sent' as a, b | filter ispresent(a) | display a, b", vec!["a=text b=Downlink message"]),
        ("parse /(?<word>Downlink) (?<what>\\w+)/ | filter ispresent(word) | display what", vec!["what=message"]),
        ("fields strlen(clientId) as l, toupper(clientId) as u | filter clientId = 'c' | display l, u", vec!["l=1 u=C"]),
        ("sort @timestamp asc | limit 2 | display eventType", vec!["eventType=Connect", "eventType=Publish-In"]),
        ("display clientId, eventType, status, @timestamp | sort @timestamp desc | filter status = \"Failure\"",
            vec!["clientId=b eventType=Publish-In status=Failure @timestamp=2024-01-01 00:02:00.000"]),
        ("# a comment\nfilter n = 2 # trailing\n| display n", vec!["n=2"]),
        ("filter (n - 1) / 2 = 2 | display n", vec!["n=5"]),
    ];
    for (query, expected) in cases {
        assert_eq!(rows(query), expected, "{query}");
    }
}

#[test]
fn malformed_queries_say_where() {
    let cases: Vec<(&str, &str, usize, usize)> = vec![
        ("fields a | frobnicate b", "unexpected symbol found frobnicate", 11, 21),
        ("filter a = ", "unexpected symbol found <EOF> at line 1 and position 11", 11, 11),
        ("filter a = 'x", "unterminated string literal at line 1 and position 11", 11, 13),
        ("fields a\n| filter b ==", "unexpected symbol found = at line 2 and position 12", 21, 22),
        ("stats median(x)", "unknown statistic function median", 6, 12),
        ("filter a like /[/", "invalid regular expression", 14, 17),
        ("stats count(*) by bin(5parsecs)", "invalid time unit parsecs", 22, 30),
        ("limit 0", "limit takes a whole number", 6, 7),
        ("", "the query is empty", 0, 0),
        ("parse @message 'a * b *' as x", "the pattern has 2 * but 1 field names", 15, 24),
    ];
    for (query, message, start, end) in cases {
        let e = parse(query).expect_err(query);
        assert!(e.message.contains(message), "{query}: {}", e.message);
        assert_eq!((e.start, e.end), (start, end), "{query}: {}", e.message);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("filter {}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let e = parse(&deep).expect_err("too deep");
    assert!(e.message.contains("nests deeper than 64"), "{}", e.message);
    let nots = format!("filter {}a = 1", "not ".repeat(10_000));
    assert!(parse(&nots).is_err());
    let ok = format!("filter {}a = 1{}", "(".repeat(20), ")".repeat(20));
    assert!(parse(&ok).is_ok());
}
