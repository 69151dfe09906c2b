//! End-to-end tests of the command line: `print-config` and its overlays, argument errors,
//! `certs create-device`, the server certificate, the health route and SIGTERM.
//! (`iotemu` with no flags at all binds fixed ports, so it is not run here.)

use iotemu_testkit::{Emulator, RawClient};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_iotemu");
const SECOND: Duration = Duration::from_secs(1);

/// `iotemu ARGS` in `dir`, with no `IOTEMU_*` variable inherited from the test's environment.
fn iotemu(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IOTEMU_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run iotemu")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `print-config` and parses its TOML.
fn print_config(cmd: &mut Command) -> toml::Table {
    let output = run(cmd);
    assert!(output.status.success(), "print-config failed: {}", stderr(&output));
    let text = stdout(&output);
    text.parse::<toml::Table>().unwrap_or_else(|e| panic!("print-config output is not TOML ({e}):\n{text}"))
}

fn get<'a>(table: &'a toml::Table, section: &str, key: &str) -> &'a toml::Value {
    table.get(section).and_then(|s| s.get(key)).unwrap_or_else(|| panic!("no {section}.{key} in {table}"))
}

/// The run failed with exit code 2, printed nothing on stdout and exactly one line on stderr.
fn assert_usage_error(output: &Output, what: &str) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{what}: exit code 2 (stderr: {err})");
    assert_eq!(err.lines().count(), 1, "{what}: exactly one line on stderr, got:\n{err}");
    assert!(err.starts_with("error"), "{what}: the line starts with error: {err}");
    assert!(output.stdout.is_empty(), "{what}: nothing on stdout, got {:?}", stdout(output));
    err
}

fn openssl(args: &[&str]) -> Output {
    let output = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(output.status.success(), "openssl {args:?} failed: {}", stderr(&output));
    output
}

/// SHA-256 (lower-case hex) of the DER of a PEM certificate, computed with openssl.
fn der_sha256(cert: &Path) -> String {
    let der = openssl(&["x509", "-outform", "der", "-in", cert.to_str().unwrap()]).stdout;
    assert!(!der.is_empty());
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl dgst");
    child.stdin.take().unwrap().write_all(&der).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// `openssl verify -CAfile ca cert` succeeds.
fn assert_signed_by(ca: &Path, cert: &Path) {
    let out = openssl(&["verify", "-CAfile", ca.to_str().unwrap(), cert.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with("OK"), "{} is not signed by {}: {text}", cert.display(), ca.display());
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// `GET path` over HTTP/1.1: (status line, headers, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect API");
    stream.set_read_timeout(Some(5 * SECOND)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {response}"));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_ascii_lowercase(), body.to_string())
}

// ---------------------------------------------------------------------------------------------
// print-config and argument errors
// ---------------------------------------------------------------------------------------------

#[test]
fn print_config_prints_the_embedded_defaults_as_toml() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&mut iotemu(dir.path(), &["print-config"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("mqtt_port = 1883"), "{text}");
    assert!(text.contains("account_id = \"123456789012\""), "{text}");
    let table: toml::Table = text.parse().expect("TOML");
    assert_eq!(get(&table, "server", "mqtt_port").as_integer(), Some(1883));
    assert_eq!(get(&table, "server", "mqtts_port").as_integer(), Some(8883));
    assert_eq!(get(&table, "server", "api_port").as_integer(), Some(4580));
    assert_eq!(get(&table, "server", "region").as_str(), Some("us-east-1"));
    assert_eq!(get(&table, "limits", "payload_bytes").as_integer(), Some(128 * 1024));
    assert_eq!(get(&table, "limits", "client_id_bytes").as_integer(), Some(128));
    assert_eq!(get(&table, "logging", "level").as_str(), Some("DEBUG"));
    assert!(!dir.path().join(".iotemu").exists(), "print-config creates no data directory");
}

#[test]
fn print_config_applies_flags_and_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let flag = print_config(&mut iotemu(dir.path(), &["print-config", "--mqtt-port", "1999"]));
    assert_eq!(get(&flag, "server", "mqtt_port").as_integer(), Some(1999));
    assert_eq!(get(&flag, "server", "mqtts_port").as_integer(), Some(8883), "other keys keep their defaults");

    let mut cmd = iotemu(dir.path(), &["print-config"]);
    cmd.env("IOTEMU_MQTT_PORT", "1999");
    let env = print_config(&mut cmd);
    assert_eq!(get(&env, "server", "mqtt_port").as_integer(), Some(1999));
    let text = stdout(&run(&mut cmd));
    assert!(text.contains("mqtt_port = 1999"), "{text}");

    // A flag beats the variable.
    let mut cmd = iotemu(dir.path(), &["print-config", "--mqtt-port", "2001"]);
    cmd.env("IOTEMU_MQTT_PORT", "1999");
    assert_eq!(get(&print_config(&mut cmd), "server", "mqtt_port").as_integer(), Some(2001));

    let mut cmd =
        iotemu(dir.path(), &["print-config", "--log-level", "info", "--account-id", "000000000042"]);
    cmd.env("IOTEMU_REGION", "eu-west-1");
    let table = print_config(&mut cmd);
    assert_eq!(get(&table, "logging", "level").as_str(), Some("INFO"));
    assert_eq!(get(&table, "server", "account_id").as_str(), Some("000000000042"));
    assert_eq!(get(&table, "server", "region").as_str(), Some("eu-west-1"));
}

#[test]
fn a_config_file_overlays_the_defaults_and_flags_overlay_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overlay.toml");
    std::fs::write(&file, "[server]\nmqtt_port = 11883\n\n[limits]\npayload_bytes = 1000\n").unwrap();
    let file_arg = file.to_str().unwrap();

    let table = print_config(&mut iotemu(dir.path(), &["print-config", "--config", file_arg]));
    assert_eq!(get(&table, "server", "mqtt_port").as_integer(), Some(11883));
    assert_eq!(get(&table, "limits", "payload_bytes").as_integer(), Some(1000));
    assert_eq!(
        get(&table, "server", "mqtts_port").as_integer(),
        Some(8883),
        "keys not in the file keep defaults"
    );
    assert_eq!(get(&table, "limits", "topic_bytes").as_integer(), Some(256));

    let table =
        print_config(&mut iotemu(dir.path(), &["print-config", "--config", file_arg, "--mqtt-port", "1999"]));
    assert_eq!(get(&table, "server", "mqtt_port").as_integer(), Some(1999), "a flag beats the file");
    assert_eq!(get(&table, "limits", "payload_bytes").as_integer(), Some(1000));

    let mut cmd = iotemu(dir.path(), &["print-config"]);
    cmd.env("IOTEMU_CONFIG", &file);
    assert_eq!(
        get(&print_config(&mut cmd), "server", "mqtt_port").as_integer(),
        Some(11883),
        "IOTEMU_CONFIG"
    );
}

#[test]
fn bad_configuration_and_arguments_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[server]\nmqtt_prot = 1\n").unwrap();
    let err = assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--config", unknown.to_str().unwrap()])),
        "unknown key in the config file",
    );
    assert!(err.contains("mqtt_prot"), "names the unknown key: {err}");

    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "[server\nmqtt_port = \n").unwrap();
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--config", bad_toml.to_str().unwrap()])),
        "a config file that is not TOML",
    );
    let missing = dir.path().join("missing.toml");
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--config", missing.to_str().unwrap()])),
        "a missing config file",
    );

    let err = assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--log-level", "LOUD"])),
        "--log-level LOUD",
    );
    assert!(err.contains("LOUD"), "names the bad level: {err}");
    assert_usage_error(&run(&mut iotemu(dir.path(), &["print-config", "--bogus"])), "--bogus");
    assert_usage_error(&run(&mut iotemu(dir.path(), &["--bogus"])), "--bogus without a subcommand");
    let err = assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--account-id", "12"])),
        "--account-id 12",
    );
    assert!(err.contains("12"), "{err}");
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--account-id", "12345678901x"])),
        "--account-id with a letter",
    );
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--mqtt-port", "70000"])),
        "--mqtt-port 70000",
    );
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["print-config", "--bind", "localhost"])),
        "--bind localhost",
    );

    let mut cmd = iotemu(dir.path(), &["print-config"]);
    cmd.env("IOTEMU_LOG_LEVEL", "LOUD");
    assert_usage_error(&run(&mut cmd), "IOTEMU_LOG_LEVEL=LOUD");

    // The server refuses bad settings before it binds anything (so fixed ports are safe here).
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["serve", "--log-level", "LOUD"])),
        "serve --log-level LOUD",
    );
    assert_usage_error(
        &run(&mut iotemu(dir.path(), &["--account-id", "12"])),
        "--account-id 12 without a subcommand",
    );
    assert!(!dir.path().join(".iotemu").exists(), "a refused start creates no data directory");
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// Checks what `certs create-device --thing thing --out out` wrote and printed.
fn check_device(output: &Output, thing: &str, out: &Path, data_dir: &Path) -> String {
    assert!(output.status.success(), "create-device failed: {}", stderr(output));
    let printed = stdout(output);
    let id = printed.trim_end_matches('\n');
    assert_eq!(printed.lines().count(), 1, "one line on stdout: {printed:?}");
    assert_eq!(id.len(), 64, "certificateId is 64 characters: {id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "lower-case hex: {id:?}");

    let cert = out.join(format!("{thing}.cert.pem"));
    let key = out.join(format!("{thing}.private.key"));
    let ca = out.join("ca.pem");
    assert_eq!(der_sha256(&cert), id, "certificateId is the SHA-256 of the certificate's DER");
    assert_eq!(mode(&key), 0o600, "the private key is readable by its owner only");
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.contains("PRIVATE KEY-----"), "{key_text}");
    openssl(&["pkey", "-in", key.to_str().unwrap(), "-noout"]);
    // The key belongs to the certificate.
    let cert_pub = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]).stdout;
    let key_pub = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]).stdout;
    assert_eq!(cert_pub, key_pub, "the private key matches the certificate");

    let data_ca = data_dir.join("ca/ca.pem");
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        std::fs::read_to_string(&data_ca).unwrap(),
        "ca.pem is the data directory's CA"
    );
    assert_signed_by(&data_ca, &cert);
    let subject =
        String::from_utf8(openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-subject"]).stdout)
            .unwrap();
    assert!(subject.contains(thing), "the subject names the thing: {subject}");
    id.to_string()
}

#[test]
fn certs_create_device_writes_a_certificate_whose_id_is_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let output = run(&mut iotemu(
        dir.path(),
        &[
            "certs",
            "create-device",
            "--thing",
            "T",
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ));
    let first = check_device(&output, "T", &out, &data);
    assert_eq!(mode(&data.join("ca/ca.key")), 0o600, "the CA key is private");
    let ca_before = std::fs::read_to_string(data.join("ca/ca.pem")).unwrap();

    // A second device from the same CA: another certificate, the CA unchanged.
    let out2 = dir.path().join("out2");
    let output = run(&mut iotemu(
        dir.path(),
        &[
            "certs",
            "create-device",
            "--thing",
            "T2",
            "--out",
            out2.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ));
    let second = check_device(&output, "T2", &out2, &data);
    assert_ne!(first, second);
    assert_eq!(std::fs::read_to_string(data.join("ca/ca.pem")).unwrap(), ca_before, "the CA is reused");

    // IOTEMU_DATA_DIR selects the data directory too.
    let out3 = dir.path().join("out3");
    let mut cmd =
        iotemu(dir.path(), &["certs", "create-device", "--thing", "T3", "--out", out3.to_str().unwrap()]);
    cmd.env("IOTEMU_DATA_DIR", &data);
    check_device(&run(&mut cmd), "T3", &out3, &data);

    // A thing name with a slash is refused and writes nothing.
    let bad_out = dir.path().join("bad");
    let output = run(&mut iotemu(
        dir.path(),
        &[
            "certs",
            "create-device",
            "--thing",
            "a/b",
            "--out",
            bad_out.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(!bad_out.exists());
}

#[test]
fn concurrent_create_device_runs_on_a_new_data_dir_share_one_ca() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let children: Vec<_> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("out{i}"));
            let child = iotemu(
                dir.path(),
                &[
                    "certs",
                    "create-device",
                    "--thing",
                    &format!("race{i}"),
                    "--out",
                    out.to_str().unwrap(),
                    "--data-dir",
                    data.to_str().unwrap(),
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
            (i, out, child)
        })
        .collect();
    for (i, out, child) in children {
        let output = child.wait_with_output().unwrap();
        check_device(&output, &format!("race{i}"), &out, &data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_device_beside_a_running_server_uses_the_servers_ca() {
    iotemu_testkit::install_crypto_provider();
    let emu = Emulator::start(BIN, &[]);
    let device = emu.create_device("cli-thing");
    let out = device.cert.parent().unwrap().to_path_buf();
    let data = emu.data_dir();

    // Same checks as standalone, on the server's data directory.
    let output = run(&mut iotemu(
        emu.dir.path(),
        &[
            "certs",
            "create-device",
            "--thing",
            "cli-thing-2",
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    ));
    check_device(&output, "cli-thing-2", &out, &data);
    assert_eq!(der_sha256(&device.cert), device.certificate_id);

    // The CA is the one the running server serves and trusts.
    let (status, _, served_ca) = http_get(emu.api, "/_iotemu/ca.pem");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(std::fs::read_to_string(&device.ca).unwrap(), served_ca, "ca.pem is the server's CA");
    assert_signed_by(&device.ca, &data.join("server/server.pem"));

    let (_client, _eventloop, connack) =
        iotemu_testkit::tls::connect_rumqttc(emu.mqtts.port(), "cli-thing", &device, 10 * SECOND).await;
    assert_eq!(connack.code, v4::ConnectReturnCode::Success);
    let entries = emu.wait_for("the TLS Connect", |e| e.has("Connect", "cli-thing"));
    let connect = entries.one("Connect", "cli-thing");
    assert_eq!(connect["principalId"], device.certificate_id.as_str());
    assert_eq!(connect["status"], "Success");
    emu.check_log_entries(&["Connect"]);
}

#[test]
fn the_server_certificate_names_localhost_and_127_0_0_1() {
    let emu = Emulator::start(BIN, &[]);
    let server = emu.data_dir().join("server/server.pem");
    let text =
        String::from_utf8(openssl(&["x509", "-noout", "-text", "-in", server.to_str().unwrap()]).stdout)
            .unwrap();
    assert!(text.contains("DNS:localhost"), "SAN DNS:localhost:\n{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "SAN IP:127.0.0.1:\n{text}");
    assert_signed_by(&emu.data_dir().join("ca/ca.pem"), &server);
}

// ---------------------------------------------------------------------------------------------
// Health and shutdown
// ---------------------------------------------------------------------------------------------

#[test]
fn the_health_route_answers_200_with_status_ok() {
    let emu = Emulator::start(BIN, &["--account-id", "000000000007", "--region", "eu-west-1"]);
    let (status, headers, body) = http_get(emu.api, "/_iotemu/health");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(headers.contains("content-type: application/json"), "{headers}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let json: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["accountId"], "000000000007");
    assert_eq!(json["region"], "eu-west-1");
    assert_eq!(json["connections"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_disconnects_clients_flushes_the_log_and_exits_within_5_seconds() {
    let mut emu = Emulator::start(BIN, &[]);
    let (mut c4, ack) = RawClient::connect_v4(emu.mqtt, "term-4", 30, true).await;
    assert_eq!(ack.code, v4::ConnectReturnCode::Success);
    let (mut c5, ack) = RawClient::connect_v5(emu.mqtt, "term-5", 30).await;
    assert_eq!(ack.code, v5::ConnectReturnCode::Success);
    emu.wait_for("both Connects", |e| e.has("Connect", "term-4") && e.has("Connect", "term-5"));

    let started = Instant::now();
    emu.terminate();
    match c5.recv_v5(5 * SECOND).await {
        Ok(v5::Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, v5::DisconnectReasonCode::ServerShuttingDown, "DISCONNECT 0x8B")
        }
        other => {
            let status = emu.wait_exit(5 * SECOND);
            panic!(
                "expected DISCONNECT 0x8B, got {other:?}; exit status {status:?}; stderr:\n{}",
                emu.stderr()
            )
        }
    }
    let (closed5, rest5) = c5.closed_within(5 * SECOND).await;
    assert!(closed5 && rest5.is_empty(), "the MQTT 5 client is closed after DISCONNECT: {rest5:02x?}");
    let (closed4, rest4) = c4.closed_within(5 * SECOND).await;
    assert!(closed4, "the 3.1.1 client is closed");
    assert!(rest4.is_empty(), "3.1.1 has no server DISCONNECT: {rest4:02x?}");
    let status = emu.wait_exit(5 * SECOND).expect("the process exits within 5 s of SIGTERM");
    let elapsed = started.elapsed();
    assert!(elapsed < 5 * SECOND, "exited after {elapsed:?}");
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", emu.stderr());
    assert!(!emu.stderr().contains("not flushed"), "{}", emu.stderr());

    // The process is gone: what is in the file was flushed before exit.
    let entries = emu.entries();
    for (id, client) in [("term-4", &c4), ("term-5", &c5)] {
        let connect = entries.one("Connect", id);
        let disconnect = entries.one("Disconnect", id);
        assert_eq!(disconnect["disconnectReason"], "SERVER_INITIATED_DISCONNECT", "{id}: {disconnect}");
        assert_eq!(disconnect["status"], "Success", "{id}");
        assert_eq!(disconnect["traceId"], connect["traceId"], "{id}: Connect and Disconnect share a traceId");
        assert_eq!(disconnect["sourcePort"], client.local.port(), "{id}");
        assert_eq!(connect["sourcePort"], client.local.port(), "{id}");
    }
    emu.check_log_entries(&["Connect", "Disconnect"]);
}

/// Starts `iotemu serve` `attempts` times and sends SIGTERM the moment its `iotemu listening`
/// line arrives (from python3, which the Python suite needs anyway: `os.kill` is immediate, where
/// the testkit's `kill` command takes a fork and an exec). Prints one exit code per attempt.
const SIGTERM_AT_READY: &str = r#"
import os, signal, subprocess, sys, tempfile
binary, attempts = sys.argv[1], int(sys.argv[2])
for _ in range(attempts):
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([binary, "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0", "--device-port", "0",
                              "--no-stdout-logs", "--data-dir", os.path.join(d, "data"),
                              "--log-file", os.path.join(d, "entries.jsonl")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        for line in p.stderr:
            if line.startswith("iotemu listening "):
                os.kill(p.pid, signal.SIGTERM)
                break
        p.stderr.close()
        try:
            print(p.wait(timeout=5))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            print("timeout")
"#;

#[test]
fn sigterm_right_after_the_listening_line_is_still_graceful() {
    // Scripts (and the testkit) treat `iotemu listening` as "ready"; a SIGTERM sent right after it
    // must still shut down gracefully (exit 0, log flushed), not kill the process outright.
    let output = Command::new("python3")
        .args(["-c", SIGTERM_AT_READY, BIN, "20"])
        .env_remove("IOTEMU_CONFIG")
        .output()
        .expect("run python3");
    assert!(output.status.success(), "python3 failed: {}", stderr(&output));
    let codes: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(codes.len(), 20, "{codes:?}");
    let graceful = codes.iter().filter(|c| *c == "0").count();
    assert_eq!(
        graceful, 20,
        "exit codes of 20 runs SIGTERMed right after `iotemu listening` (-15 = killed by the signal, \
         i.e. no handler installed yet): {codes:?}"
    );
}

/// Runs the binary by hand (the testkit always passes `--data-dir` and `--no-stdout-logs`):
/// `--ephemeral` with the default stdout sink and `level`, one well-behaved client and one
/// that sends garbage, then SIGTERM. Returns (stdout lines, the data directory it printed).
async fn run_ephemeral_with_stdout(level: &str) -> (Vec<Value>, std::path::PathBuf) {
    use std::io::BufRead;
    let mut child = iotemu(Path::new("."), &["--ephemeral", "--mqtt-port", "0", "--mqtts-port", "0"])
        .args(["--api-port", "0", "--lns-port", "0", "--device-port", "0", "--log-level", level])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start iotemu");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (mut data_dir, mut mqtt) = (None, None);
    while mqtt.is_none() {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "iotemu exited before listening");
        if let Some(dir) = line.strip_prefix("iotemu data directory: ") {
            data_dir = Some(std::path::PathBuf::from(dir.trim()));
        }
        if let Some(rest) = line.strip_prefix("iotemu listening mqtt=") {
            mqtt = Some(rest.split_whitespace().next().unwrap().parse::<std::net::SocketAddr>().unwrap());
        }
    }
    let data_dir = data_dir.expect("the data directory line");
    assert!(data_dir.join("ca/ca.pem").exists(), "the ephemeral directory holds the CA while running");

    let (mut good, _) = RawClient::connect_v4(mqtt.unwrap(), "stdout-good", 30, true).await;
    good.send_v4(v4::Packet::Disconnect).await;
    assert!(good.closed_within(5 * SECOND).await.0);
    let mut bad = RawClient::tcp(mqtt.unwrap()).await;
    bad.send_bytes(b"\x30garbage").await;
    bad.send_bytes(b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(bad.closed_within(5 * SECOND).await.0);

    std::thread::sleep(SECOND / 2);
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "graceful exit");
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect();
    (lines, data_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_mode_writes_entries_to_stdout_and_removes_its_directory() {
    let (lines, data_dir) = run_ephemeral_with_stdout("DEBUG").await;
    let events: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["eventType"].as_str().unwrap(), l["clientId"].as_str().unwrap())).collect();
    assert!(events.contains(&("Connect", "stdout-good")), "{events:?}");
    assert!(events.contains(&("Disconnect", "stdout-good")), "{events:?}");
    assert!(events.contains(&("Disconnect", "")), "the garbage connection's CLIENT_ERROR: {events:?}");
    assert!(!data_dir.exists(), "the ephemeral data directory is removed on exit");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    iotemu_testkit::check_log_file(file.path(), &["Connect", "Disconnect"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_filters_entries() {
    let (lines, _) = run_ephemeral_with_stdout("ERROR").await;
    assert!(!lines.is_empty(), "the Failure entry is written at ERROR");
    assert!(lines.iter().all(|l| l["logLevel"] == "ERROR" && l["status"] == "Failure"), "{lines:?}");
    assert!(lines.iter().any(|l| l["eventType"] == "Disconnect" && l["disconnectReason"] == "CLIENT_ERROR"));

    let (lines, _) = run_ephemeral_with_stdout("DISABLED").await;
    assert!(lines.is_empty(), "DISABLED writes nothing: {lines:?}");
}

/// `iotemu check-entries` passes a file of every example in `spec/` (exit code 0) and names each
/// problem of a bad file with its `file:line` (exit code 1), in lines or as `--json`.
#[test]
fn check_entries_passes_the_documented_examples_and_names_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let spec = iotemu_logs::spec::Spec::aws();
    let good = dir.path().join("good.jsonl");
    let examples: String =
        spec.entries.iter().filter_map(|e| e.example.as_ref()).map(|e| format!("{e}\n")).collect();
    std::fs::write(&good, &examples).unwrap();
    let output =
        run(iotemu(dir.path(), &["check-entries", "--require", "Connect", "--require", "Join"]).arg(&good));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let report = stdout(&output);
    assert_eq!(report.lines().count(), 1, "only the summary: {report}");
    assert!(report.contains(" 0 problem(s); valid: "), "{report}");

    let mut connect = spec.example("Connect");
    connect.as_object_mut().unwrap().remove("clientId");
    let mut failure_at_info = spec.example("Publish-In");
    failure_at_info["status"] = "Failure".into();
    failure_at_info["reason"] = "AUTHORIZATION_FAILURE".into();
    failure_at_info["details"] = "Authorization Failure".into();
    let mut shadow = spec.example("UpdateThingShadow");
    shadow["timestamp"] = "2017-08-07T18:43:59.436Z".into();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{connect}\n{failure_at_info}\nnot json\n{shadow}\n")).unwrap();
    let output = run(iotemu(dir.path(), &["check-entries", "--require", "Subscribe"]).arg(&bad));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = stdout(&output);
    let lines: Vec<&str> = report.lines().collect();
    let bad_name = bad.display().to_string();
    assert_eq!(lines[0], format!("{bad_name}:1: Connect: missing clientId"));
    assert!(
        lines[1].starts_with(&format!("{bad_name}:2: Publish-In: logLevel INFO for a Failure")),
        "{report}"
    );
    assert!(lines[2].starts_with(&format!("{bad_name}:3: not JSON")), "{report}");
    assert!(lines[3].starts_with(&format!("{bad_name}:4: UpdateThingShadow: timestamp")), "{report}");
    assert!(lines[4].contains("no valid Subscribe entry"), "{report}");
    assert_eq!(lines.len(), 6, "five problems and the summary: {report}");

    let output = run(iotemu(dir.path(), &["check-entries", "--json"]).arg(&bad));
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("one JSON report");
    assert_eq!(json["clean"], false);
    let kinds: Vec<&str> =
        json["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["missing", "level-mismatch", "not-json", "bad-timestamp"]);
    assert_eq!(json["problems"][0]["line"], 1);
    assert_eq!(json["problems"][0]["file"], bad_name.as_str());

    // Standard input, and the usage errors (exit code 2).
    let mut child = iotemu(dir.path(), &["check-entries", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(examples.as_bytes()).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_usage_error(&run(&mut iotemu(dir.path(), &["check-entries"])), "no FILE");
    assert_usage_error(
        &run(iotemu(dir.path(), &["check-entries", "--require", "Teleport"]).arg(&good)),
        "unknown type",
    );
    assert_usage_error(&run(&mut iotemu(dir.path(), &["check-entries", "missing.jsonl"])), "unreadable file");
}
