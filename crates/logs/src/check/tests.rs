use super::*;
use crate::entries::{
    Connect, Disconnect, DisconnectReason, GetDeviceCredentials, LogEntry, LogRecord, PublishIn,
};
use crate::wireless::{JoinEntry, WirelessEntry, WirelessLogLevel, WirelessRecord};
use iotemu_core::{ClientInfo, Protocol, TraceId};
use std::sync::Arc;

fn spec() -> &'static Spec {
    Spec::aws()
}

/// The problem kinds of one entry.
fn kinds(value: &Value) -> Vec<ProblemKind> {
    check_entry(spec(), value).1.into_iter().map(|(kind, _)| kind).collect()
}

fn connect() -> Value {
    spec().example("Connect")
}

#[test]
fn the_spec_parses_and_every_entry_says_what_it_means() {
    let spec = spec();
    assert!(spec.entries.len() >= 30, "{} entries", spec.entries.len());
    for entry in &spec.entries {
        assert!(!entry.meaning.is_empty(), "{}", entry.name);
        assert!(entry.attributes.iter().all(|(_, a)| !a.meaning.is_empty()), "{}", entry.name);
        assert!(entry.established || entry.note.is_some(), "{} says why it is not established", entry.name);
        assert!(!entry.established || entry.example.is_some(), "{} has AWS's example", entry.name);
        for level in [&entry.levels.success, &entry.levels.failure, &entry.levels.any].into_iter().flatten() {
            assert!(["DEBUG", "INFO", "WARN", "ERROR"].contains(&level.as_str()), "{}: {level}", entry.name);
        }
    }
    for group in &spec.log_groups {
        assert!(group.attributes.iter().all(|(_, a)| !a.meaning.is_empty()), "{}", group.name);
    }
    assert_eq!(spec.entry("Join").unwrap().log_group, "/aws/iotwireless");
    assert_eq!(spec.entry("Connect").unwrap().log_group, "AWSIotLogsV2");
}

#[test]
fn every_aws_example_passes() {
    let mut checked = 0;
    for entry in &spec().entries {
        let Some(example) = &entry.example else { continue };
        let (name, problems) = check_entry(spec(), example);
        assert_eq!(name.as_deref(), Some(entry.name.as_str()));
        assert!(problems.is_empty(), "{}: {problems:?}", entry.name);
        checked += 1;
    }
    assert!(checked >= 23, "{checked} examples");
}

#[test]
fn the_spec_has_every_entry_aws_documents() {
    for name in [
        "Connect",
        "Disconnect",
        "Publish-In",
        "Publish-Out",
        "Subscribe",
        "GetThingShadow",
        "UpdateThingShadow",
        "DeleteThingShadow",
        "RuleMatch",
        "StartingRuleExecution",
        "RuleExecution",
        "FunctionExecution",
        "RuleNotFound",
        "RuleMessageThrottled",
        "DescribeJobExecution",
        "GetPendingJobExecution",
        "StartNextPendingJobExecution",
        "UpdateJobExecution",
        "ReportFinalJobExecutionCount",
        "GetDeviceCredentials",
        "ProvisionDevice",
        "GetRetainedMessage",
        "ListRetainedMessage",
        "AddThingToDynamicThingGroupsFailed",
        "Join",
        "Uplink",
        "Downlink",
    ] {
        assert!(spec().entry(name).is_some_and(|e| e.established), "{name}");
    }
    for name in [
        "Connection.AuthNError",
        "Ping",
        "Unsubscribe",
        "Queued",
        "DeleteConnection",
        "GetConnection",
        "ListSubscriptions",
        "SendDirectMessage",
    ] {
        assert!(spec().entry(name).is_some_and(|e| !e.established), "{name}");
    }
}

#[test]
fn newer_entries_are_checked_on_their_common_attributes_only() {
    let line = json!({"timestamp": "2026-06-03 10:00:00.000", "logLevel": "INFO",
        "traceId": "30aa7ccc-1d23-0b97-aa7b-76196d83537e", "accountId": "123456789012",
        "status": "Success", "eventType": "Unsubscribe", "anything": 1});
    assert_eq!(kinds(&line), []);
    let mut no_account = line.clone();
    no_account.as_object_mut().unwrap().remove("accountId");
    assert_eq!(kinds(&no_account), [ProblemKind::Missing]);
    let authn = json!({"timestamp": "2026-06-03 10:00:00.000", "logLevel": "ERROR",
        "traceId": "30aa7ccc-1d23-0b97-aa7b-76196d83537e", "accountId": "123456789012",
        "status": "Failure", "eventType": "Connection.AuthNError", "authenticationType": "AWS_X509",
        "reason": "DEVICE_CERTIFICATE_REVOKED", "details": "The certificate is revoked"});
    assert_eq!(kinds(&authn), []);
    let mut at_info = authn.clone();
    at_info["logLevel"] = json!("INFO");
    assert_eq!(kinds(&at_info), [ProblemKind::LevelMismatch]);
}

/// Each broken line reports its own problem, and only it.
#[test]
fn each_broken_line_reports_its_problem() {
    let edit = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut v = connect();
        f(v.as_object_mut().unwrap());
        v
    };
    let cases: Vec<(&str, Value, ProblemKind)> = vec![
        ("array", json!([1, 2]), ProblemKind::NotObject),
        ("no eventType", edit(&|m| drop(m.remove("eventType"))), ProblemKind::NoEventType),
        (
            "unknown",
            edit(&|m| drop(m.insert("eventType".into(), json!("Teleport")))),
            ProblemKind::UnknownEventType,
        ),
        (
            "a LoRaWAN event as eventType",
            edit(&|m| drop(m.insert("eventType".into(), json!("Join")))),
            ProblemKind::UnknownEventType,
        ),
        ("missing", edit(&|m| drop(m.remove("clientId"))), ProblemKind::Missing),
        ("missing common", edit(&|m| drop(m.remove("traceId"))), ProblemKind::Missing),
        ("extra", edit(&|m| drop(m.insert("colour".into(), json!("blue")))), ProblemKind::Extra),
        ("reason on a Success", edit(&|m| drop(m.insert("reason".into(), json!("X")))), ProblemKind::Extra),
        (
            "wrong type",
            edit(&|m| drop(m.insert("sourcePort".into(), json!("13490")))),
            ProblemKind::WrongType,
        ),
        ("fraction port", edit(&|m| drop(m.insert("sourcePort".into(), json!(1.5)))), ProblemKind::WrongType),
        (
            "number account",
            edit(&|m| drop(m.insert("accountId".into(), json!(123456789012u64)))),
            ProblemKind::WrongType,
        ),
        ("bad protocol", edit(&|m| drop(m.insert("protocol".into(), json!("FTP")))), ProblemKind::BadValue),
        ("bad status", edit(&|m| drop(m.insert("status".into(), json!("Done")))), ProblemKind::BadValue),
        ("bad level", edit(&|m| drop(m.insert("logLevel".into(), json!("TRACE")))), ProblemKind::BadValue),
        (
            "iso timestamp",
            edit(&|m| drop(m.insert("timestamp".into(), json!("2017-08-10T15:37:23.476Z")))),
            ProblemKind::BadTimestamp,
        ),
        (
            "no millis",
            edit(&|m| drop(m.insert("timestamp".into(), json!("2017-08-10 15:37:23")))),
            ProblemKind::BadTimestamp,
        ),
        (
            "month 13",
            edit(&|m| drop(m.insert("timestamp".into(), json!("2017-13-10 15:37:23.476")))),
            ProblemKind::BadTimestamp,
        ),
        (
            "upper-case trace",
            edit(&|m| drop(m.insert("traceId".into(), json!("20B23F3F-D7F1-FEAE-169F-82263394FBDB")))),
            ProblemKind::BadTraceId,
        ),
        (
            "short trace",
            edit(&|m| drop(m.insert("traceId".into(), json!("20b23f3f")))),
            ProblemKind::BadTraceId,
        ),
        (
            "short account",
            edit(&|m| drop(m.insert("accountId".into(), json!("12345")))),
            ProblemKind::BadAccountId,
        ),
        (
            "debug connect",
            edit(&|m| drop(m.insert("logLevel".into(), json!("DEBUG")))),
            ProblemKind::LevelMismatch,
        ),
        (
            "failure at info",
            edit(&|m| {
                m.insert("status".into(), json!("Failure"));
                m.insert("reason".into(), json!("AUTHORIZATION_FAILURE"));
                m.insert("details".into(), json!("Authorization Failure"));
            }),
            ProblemKind::LevelMismatch,
        ),
        (
            "failure without reason",
            edit(&|m| {
                m.insert("status".into(), json!("Failure"));
                m.insert("logLevel".into(), json!("ERROR"));
                m.insert("details".into(), json!("Authorization Failure"));
            }),
            ProblemKind::FailureWithoutReason,
        ),
        (
            "failure without details",
            edit(&|m| {
                m.insert("status".into(), json!("Failure"));
                m.insert("logLevel".into(), json!("ERROR"));
                m.insert("reason".into(), json!("AUTHORIZATION_FAILURE"));
            }),
            ProblemKind::FailureWithoutReason,
        ),
        (
            "a RuleNotFound that succeeded",
            {
                let mut v = spec().example("RuleNotFound");
                v["status"] = json!("Success");
                v
            },
            ProblemKind::UnexpectedStatus,
        ),
        (
            "lorawan timestamp in the V2 format",
            {
                let mut v = spec().example("Join");
                v["timestamp"] = json!("2020-11-24 01:46:50.883");
                v
            },
            ProblemKind::BadTimestamp,
        ),
        (
            "lorawan with eleven fraction digits",
            {
                let mut v = spec().example("Join");
                v["timestamp"] = json!("2020-11-24T01:46:50.88348198912Z");
                v
            },
            ProblemKind::BadTimestamp,
        ),
        (
            "lorawan without devEui",
            {
                let mut v = spec().example("Join");
                v.as_object_mut().unwrap().remove("devEui");
                v
            },
            ProblemKind::Missing,
        ),
        (
            "a job without versionNumber",
            {
                let mut v = spec().example("UpdateJobExecution");
                v.as_object_mut().unwrap().remove("versionNumber");
                v
            },
            ProblemKind::Missing,
        ),
        (
            "dynamic group names as a string",
            {
                let mut v = spec().example("AddThingToDynamicThingGroupsFailed");
                v["dynamicThingGroupNames"] = json!("DynamicThingGroup11");
                v
            },
            ProblemKind::WrongType,
        ),
    ];
    for (what, line, kind) in cases {
        assert_eq!(kinds(&line), [kind], "{what}: {line}");
    }
}

#[test]
fn lines_files_and_requirements_are_reported_with_their_place() {
    let good = connect().to_string();
    let mut bad = connect();
    bad.as_object_mut().unwrap().remove("clientId");
    let text = format!("{good}\n\n{bad}\n{{not json\n");
    let mut checker = Checker::new(spec(), &["Connect".into(), "Subscribe".into()]).unwrap();
    checker.check_reader("a.jsonl", text.as_bytes()).unwrap();
    checker.check_reader("empty.jsonl", &b"\n"[..]).unwrap();
    let report = checker.finish();
    assert_eq!((report.files, report.entries), (2, 3));
    assert_eq!(report.valid.get("Connect"), Some(&1));
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines[0], "a.jsonl:3: Connect: missing clientId");
    assert!(lines[1].starts_with("a.jsonl:4: not JSON: "), "{}", lines[1]);
    assert_eq!(lines[2], "empty.jsonl: no log entries");
    assert_eq!(lines[3], "Subscribe: no valid Subscribe entry was seen");
    let kinds: Vec<ProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [ProblemKind::Missing, ProblemKind::NotJson, ProblemKind::NoEntries, ProblemKind::RequiredNotSeen]
    );
    assert!(!report.is_clean());
    let json = report.to_json();
    assert_eq!(json["clean"], false);
    assert_eq!(json["problems"][0]["kind"], "missing");
    assert_eq!(json["problems"][0]["line"], 3);
    assert_eq!(json["problems"][3]["kind"], "required-not-seen");
    assert!(report.to_text().ends_with("3 entries in 2 file(s), 4 problem(s); valid: Connect=1\n"));
}

#[test]
fn a_require_of_an_unknown_type_is_refused() {
    assert!(Checker::new(spec(), &["Teleport".into()]).is_err());
    assert!(Checker::new(spec(), &["Join".into(), "Ping".into()]).is_ok());
}

#[test]
fn non_utf8_is_a_problem_not_an_error() {
    let mut checker = Checker::new(spec(), &[]).unwrap();
    checker.check_reader("x", &b"\xff\xfe\n"[..]).unwrap();
    let report = checker.finish();
    assert_eq!(report.problems[0].kind, ProblemKind::NotJson);
}

#[test]
fn what_the_emulator_writes_passes() {
    let client = Arc::new(ClientInfo {
        protocol: Protocol::Mqtt,
        client_id: "dev-1".into(),
        principal_id: "anonymous".into(),
        source_ip: "127.0.0.1".into(),
        source_port: 50000,
    });
    let account: Arc<str> = "123456789012".into();
    let records = [
        LogRecord::success(
            1,
            account.clone(),
            TraceId::new(),
            LogEntry::Connect(Connect { client: client.clone() }),
        ),
        LogRecord::success(
            1_700_000_000_123,
            account.clone(),
            TraceId::new(),
            LogEntry::PublishIn(PublishIn { topic_name: "a/b".into(), client: client.clone() }),
        ),
        LogRecord::failure(
            2,
            account.clone(),
            TraceId::new(),
            LogEntry::Disconnect(Disconnect {
                client,
                disconnect_reason: DisconnectReason::DuplicateClientId,
            }),
            "DUPLICATE_CLIENT_ID",
            "A new connection was established with the same client ID",
        ),
    ];
    let refused = LogRecord::failure(
        3,
        account,
        TraceId::new(),
        LogEntry::GetDeviceCredentials(GetDeviceCredentials {
            device_certificate_id: "".into(),
            details: None,
            client: None,
        }),
        "InvalidCertificateSigningRequest",
        "The CSR could not be read",
    );
    let join = WirelessRecord {
        timestamp_nanos: 1_606_182_410_883_481_989,
        log_level: WirelessLogLevel::Info,
        entry: WirelessEntry::Join(JoinEntry {
            resource_id: "cb4c087c-1be5-4990-8654-ccf543ee9fff".into(),
            dev_eui: "58a0cb000020255c".into(),
            message: "Join succeeded".into(),
        }),
    };
    let lines = records.iter().chain([&refused]).map(LogRecord::to_json).chain([join.to_json()]);
    for line in lines {
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(kinds(&value), [], "{value}");
    }
}

#[test]
fn timestamp_and_uuid_shapes() {
    assert!(is_aws_timestamp("2017-08-10 15:37:23.476"));
    assert!(!is_aws_timestamp("2017-08-10 15:37:23.4761"));
    assert!(!is_aws_timestamp("+017-08-10 15:37:23.476"));
    assert!(!is_aws_timestamp("2017-02-30 15:37:23.476"));
    assert!(is_rfc3339_utc("2020-11-24T01:46:50.883481989Z"));
    assert!(is_rfc3339_utc("2020-11-24T01:46:50Z"));
    assert!(!is_rfc3339_utc("2020-11-24T01:46:50.Z"));
    assert!(!is_rfc3339_utc("2020-11-24T01:46:50+01:00"));
    assert!(!is_rfc3339_utc("2020-11-24T25:46:50Z"));
    assert!(is_lower_uuid("20b23f3f-d7f1-feae-169f-82263394fbdb"));
    assert!(!is_lower_uuid("20b23f3f-d7f1-feae-169f-82263394fbdg"));
    assert!(!is_lower_uuid("20b23f3fd-7f1-feae-169f-82263394fbdb"));
}
