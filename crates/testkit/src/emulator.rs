//! The real `iotemu` binary, started on port 0 for one test.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running emulator process with its own data directory and log file.
pub struct Emulator {
    child: Child,
    bin: PathBuf,
    /// The extra arguments it was started with, for [`Emulator::restart`].
    extra: Vec<String>,
    pub mqtt: SocketAddr,
    pub mqtts: SocketAddr,
    pub api: SocketAddr,
    /// The LoRa Basics Station (LNS) endpoint.
    pub lns: SocketAddr,
    /// The device port (AWS's 443): MQTT, HTTPS and WebSockets by ALPN.
    pub device: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log_file: PathBuf,
    stderr: Arc<Mutex<String>>,
}

/// A device certificate made by `iotemu certs create-device`.
pub struct Device {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub certificate_id: String,
}

impl Emulator {
    /// Starts `bin` (pass `env!("CARGO_BIN_EXE_iotemu")`) with `extra` arguments, every port 0,
    /// entries to a log file and not to stdout, and waits for its `iotemu listening` line.
    pub fn start(bin: &str, extra: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let (child, [mqtt, mqtts, api, lns, device], stderr) = spawn(Path::new(bin), dir.path(), &extra);
        Emulator {
            mqtt,
            mqtts,
            api,
            lns,
            device,
            child,
            bin: PathBuf::from(bin),
            extra,
            log_file: dir.path().join("entries.jsonl"),
            dir,
            stderr,
        }
    }

    /// Stops the process — with SIGKILL when `kill` (nothing is flushed or written at exit),
    /// else with SIGTERM, waiting for it to exit — and starts it again on the same data
    /// directory and log file, with the same arguments (new ports).
    pub fn restart(&mut self, kill: bool) {
        if kill {
            let _ = self.child.kill();
            let _ = self.child.wait();
        } else {
            self.terminate();
            assert!(self.wait_exit(Duration::from_secs(10)).is_some(), "iotemu did not exit on SIGTERM");
        }
        let (child, [mqtt, mqtts, api, lns, device], stderr) = spawn(&self.bin, self.dir.path(), &self.extra);
        (self.child, self.mqtt, self.mqtts, self.api, self.lns, self.device, self.stderr) =
            (child, mqtt, mqtts, api, lns, device, stderr);
    }

    /// The data directory (CA, server certificate).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `GET /_iotemu/health`, parsed.
    pub fn health(&self) -> Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.api).expect("connect API");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(stream, "GET /_iotemu/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let body = response.split_once("\r\n\r\n").expect("headers end").1;
        serde_json::from_str(body).unwrap_or_else(|e| panic!("health is not JSON ({e}): {body}"))
    }

    /// What the emulator wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every complete entry in the log file so far. The emulator may be appending while this
    /// reads (and the kernel may expose one write in pieces), so a trailing partial line is left
    /// for the next read.
    pub fn entries(&self) -> Entries {
        let bytes = std::fs::read(&self.log_file).unwrap_or_default();
        let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[..end]).expect("the log file is UTF-8");
        Entries(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("entry is not JSON ({e}): {l}")))
                .collect(),
        )
    }

    /// Waits (up to 10 s) until `done` holds for the entries, and returns them.
    pub fn wait_for(&self, what: &str, done: impl Fn(&Entries) -> bool) -> Entries {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entries = self.entries();
            if done(&entries) {
                return entries;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; entries:\n{}", entries.dump());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `iotemu check-entries --require ...` on the log file, once it has stopped growing
    /// and ends with a whole line, and fails the test if it reports any problem.
    pub fn check_log_entries(&self, required: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = None;
        loop {
            let bytes = std::fs::read(&self.log_file).unwrap_or_default();
            let state = (bytes.len(), bytes.last().copied());
            if last == Some(state) && matches!(state.1, None | Some(b'\n')) {
                break;
            }
            assert!(Instant::now() < deadline, "the log file never settled");
            last = Some(state);
            std::thread::sleep(Duration::from_millis(100));
        }
        check_with(&self.bin, &self.log_file, required);
    }

    /// `iotemu certs create-device` for `thing`, on this emulator's data directory.
    pub fn create_device(&self, thing: &str) -> Device {
        let out = self.dir.path().join(format!("device-{thing}"));
        let output = Command::new(&self.bin)
            .args(["certs", "create-device", "--thing", thing, "--out"])
            .arg(&out)
            .arg("--data-dir")
            .arg(self.data_dir())
            .output()
            .expect("run create-device");
        assert!(output.status.success(), "create-device failed: {}", String::from_utf8_lossy(&output.stderr));
        let certificate_id = String::from_utf8(output.stdout).unwrap().trim().to_string();
        Device {
            cert: out.join(format!("{thing}.cert.pem")),
            key: out.join(format!("{thing}.private.key")),
            ca: out.join("ca.pem"),
            certificate_id,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin serve` on `dir` (data in `dir/data`, entries appended to `dir/entries.jsonl`),
/// every port 0, and waits for its `iotemu listening` line: the process, its MQTT, MQTTS, API,
/// LNS and device-port addresses, and its stderr as it comes.
fn spawn(bin: &Path, dir: &Path, extra: &[String]) -> (Child, [SocketAddr; 5], Arc<Mutex<String>>) {
    let log_file = dir.join("entries.jsonl");
    let data_dir = dir.join("data");
    let mut child = Command::new(bin)
        .args(["serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0"])
        .args(if extra.iter().any(|a| a == "--device-port") { &[][..] } else { &["--device-port", "0"][..] })
        .arg("--no-stdout-logs")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--log-file")
        .arg(&log_file)
        .args(extra)
        .env_remove("IOTEMU_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start iotemu");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let collected = Arc::new(Mutex::new(String::new()));
    let sink = collected.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("iotemu listening ") {
                let _ = tx.send(line.clone());
            }
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("iotemu did not start: {}", collected.lock().unwrap());
        }
    };
    let addr = |key: &str| -> SocketAddr {
        let field = line.split_whitespace().find_map(|f| f.strip_prefix(key)).expect("listening field");
        field.parse().expect("address")
    };
    (child, [addr("mqtt="), addr("mqtts="), addr("api="), addr("lns="), addr("device=")], collected)
}

/// Runs `iotemu check-entries` on a JSON-lines file, requiring a valid entry of each of
/// `required`, and panics with its report on any problem. The binary is `IOTEMU_BIN`, else the
/// `iotemu` cargo built beside the running test (`target/<profile>/deps/<test>`).
pub fn check_log_file(path: &Path, required: &[&str]) {
    check_with(&iotemu_binary(), path, required);
}

fn check_with(bin: &Path, path: &Path, required: &[&str]) {
    let mut cmd = Command::new(bin);
    cmd.arg("check-entries");
    for r in required {
        cmd.args(["--require", r]);
    }
    let output =
        cmd.arg(path).output().unwrap_or_else(|e| panic!("run {} check-entries: {e}", bin.display()));
    assert!(
        output.status.success(),
        "iotemu check-entries failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `iotemu` binary for tests that have no [`Emulator`].
fn iotemu_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("IOTEMU_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("iotemu{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "no iotemu binary at {}: build it first (cargo test builds it)", bin.display());
    bin
}

/// Parsed log entries, with finders.
#[derive(Debug, Clone)]
pub struct Entries(pub Vec<Value>);

impl Entries {
    /// Entries of `event_type` for `client_id`.
    pub fn of(&self, event_type: &str, client_id: &str) -> Vec<&Value> {
        self.0.iter().filter(|e| e["eventType"] == event_type && e["clientId"] == client_id).collect()
    }

    /// Whether there is an entry of `event_type` for `client_id`.
    pub fn has(&self, event_type: &str, client_id: &str) -> bool {
        !self.of(event_type, client_id).is_empty()
    }

    /// The one entry of `event_type` for `client_id`; panics if there is not exactly one.
    pub fn one(&self, event_type: &str, client_id: &str) -> &Value {
        let found = self.of(event_type, client_id);
        assert_eq!(found.len(), 1, "expected one {event_type} of {client_id}:\n{}", self.dump());
        found[0]
    }

    /// The entries, one per line, for failure messages.
    pub fn dump(&self) -> String {
        self.0.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
    }
}
