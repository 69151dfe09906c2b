//! End-to-end tests of the live tail: `iotemu logs tail` run as a child process against a
//! running emulator, with MQTT traffic from rumqttc and the testkit's raw client.

use iotemu_testkit::{Emulator, RawClient};
use rumqttc::QoS;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_iotemu");
const SECOND: Duration = Duration::from_secs(1);

/// `iotemu logs tail ARGS` with no `IOTEMU_*` variable inherited from the test's environment.
fn tail_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["logs", "tail"]).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IOTEMU_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn port(emu: &Emulator) -> String {
    emu.api.port().to_string()
}

/// A `--follow` child whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn start(args: &[&str]) -> Follower {
        let mut child = tail_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start iotemu logs tail");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// The lines printed until one contains `needle` (panics after `wait`).
    fn until(&self, needle: &str, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("no line with {needle:?} within {wait:?}; got {seen:?}"),
            }
        }
    }

    /// Whatever arrived so far, without waiting.
    fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects raw clients `probe-N` until the follower prints one's Connect: from then on it is
/// subscribed and sees every new entry. Returns the lines printed meanwhile.
async fn wait_until_following(emu: &Emulator, follower: &Follower) -> Vec<String> {
    let deadline = Instant::now() + 10 * SECOND;
    let mut seen = Vec::new();
    for n in 0.. {
        let (client, _) = RawClient::connect_v4(emu.mqtt, &format!("probe-{n}"), 30, true).await;
        drop(client);
        let wait = Instant::now() + Duration::from_millis(300);
        while let Ok(line) = follower.lines.recv_timeout(wait.saturating_duration_since(Instant::now())) {
            let found = line.contains("probe-");
            seen.push(line);
            if found {
                return seen;
            }
        }
        assert!(Instant::now() < deadline, "the follower never printed a probe's Connect: {seen:?}");
    }
    unreachable!()
}

/// The eventType column of a readable line (`time level eventType clientId topic status ...`).
fn event_type(line: &str) -> &str {
    line.split_whitespace().nth(2).unwrap_or_else(|| panic!("not a readable entry line: {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_event_type_connect_prints_a_connect_and_nothing_else() {
    let mut emu = Emulator::start(BIN, &[]);
    let api_port = port(&emu);
    let follower = Follower::start(&["--follow", "--event-type", "Connect", "--api-port", &api_port]);
    let mut lines = wait_until_following(&emu, &follower).await;

    // A device connects, subscribes, publishes (Publish-In and Publish-Out) and disconnects.
    let mut options = rumqttc::MqttOptions::new("dev-1", "127.0.0.1", emu.mqtt.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = rumqttc::AsyncClient::new(options, 10);
    let poll = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    client.subscribe("room/#", QoS::AtLeastOnce).await.unwrap();
    client.publish("room/1", QoS::AtLeastOnce, false, "21").await.unwrap();
    emu.wait_for("the device's Publish-Out", |e| e.has("Publish-Out", "dev-1"));
    client.disconnect().await.unwrap();
    emu.wait_for("the device's Disconnect", |e| e.has("Disconnect", "dev-1"));
    let _ = tokio::time::timeout(5 * SECOND, poll).await;

    lines.extend(follower.until("dev-1", 5 * SECOND));
    // The other entries were written before the Disconnect; give a wrong line time to show.
    std::thread::sleep(Duration::from_millis(300));
    lines.extend(follower.drain());
    let device: Vec<&String> = lines.iter().filter(|l| l.contains("dev-1")).collect();
    assert_eq!(device.len(), 1, "one Connect line for dev-1: {lines:?}");
    let fields: Vec<&str> = device[0].split_whitespace().collect();
    assert_eq!(fields[1..], ["INFO", "Connect", "dev-1", "-", "Success"], "{}", device[0]);
    assert!(lines.iter().all(|l| event_type(l) == "Connect"), "only Connect lines: {lines:?}");

    emu.check_log_entries(&["Connect", "Subscribe", "Publish-In", "Publish-Out", "Disconnect"]);

    // The stream ends when the emulator stops, and the follower with it.
    emu.terminate();
    let mut child = follower;
    let deadline = Instant::now() + 10 * SECOND;
    let status = loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the follower did not exit after the emulator stopped");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(emu.wait_exit(10 * SECOND).is_some_and(|s| s.success()));
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run iotemu logs tail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_without_follow_prints_the_recent_entries_filtered_and_exits() {
    let emu = Emulator::start(BIN, &[]);
    let api_port = port(&emu);
    for id in ["recent-a", "recent-b"] {
        let (mut client, _) = RawClient::connect_v4(emu.mqtt, id, 30, true).await;
        let publish = rumqttc::mqttbytes::v4::Publish::new(format!("t/{id}"), QoS::AtMostOnce, b"x".to_vec());
        client.send_v4(rumqttc::mqttbytes::v4::Packet::Publish(publish)).await;
        client.send_v4(rumqttc::mqttbytes::v4::Packet::Disconnect).await;
    }
    emu.wait_for("both disconnects", |e| e.has("Disconnect", "recent-a") && e.has("Disconnect", "recent-b"));

    let output = run(&mut tail_command(&["--api-port", &api_port, "--json", "--client-id", "recent-b"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let entries: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("--json prints JSON lines")).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Connect", "Publish-In", "Disconnect"], "{text}");
    assert!(entries.iter().all(|e| e["clientId"] == "recent-b"));
    let in_file: Vec<serde_json::Value> =
        emu.entries().0.into_iter().filter(|e| e["clientId"] == "recent-b").collect();
    assert_eq!(entries, in_file, "the same entries as the log file");

    // Readable, the newest one Publish-In of all clients.
    let endpoint = format!("http://{}", emu.api);
    let output = run(&mut tail_command(&["--endpoint", &endpoint, "--event-type", "publish-in", "-n", "1"]));
    let text = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields[1..], ["INFO", "Publish-In", "recent-b", "t/recent-b", "Success"], "{text}");
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal");
    emu.check_log_entries(&["Connect", "Publish-In", "Disconnect"]);
}

#[test]
fn no_emulator_or_a_refused_filter_is_one_line_and_exit_2() {
    // A port nobody listens on: bind one, learn its number, close it.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = run(&mut tail_command(&["--api-port", &free.to_string()]));
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no emulator answers at http://127.0.0.1:"), "{err}");

    let emu = Emulator::start(BIN, &[]);
    let output = run(&mut tail_command(&["--api-port", &port(&emu), "--since", "last tuesday"]));
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid since \"last tuesday\""), "{err}");
    assert!(output.stdout.is_empty());
}
