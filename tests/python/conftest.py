"""Fixtures for the Python end-to-end tests: the real iotemu binary on free ports, and boto3
clients pointed at it with `endpoint_url`."""
import http.server
import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import threading
import time

import boto3
import botocore.exceptions
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def iotemu_binary():
    path = os.environ.get("IOTEMU_BIN") or str(ROOT / "target" / "debug" / "iotemu")
    assert os.path.exists(path), f"no iotemu binary at {path}: run `cargo build` (scripts/test.sh does)"
    return path


def check_entries(path, *required):
    """Runs `iotemu check-entries` on a JSON-lines file (an emulator's `log_file`, or entries read
    back from CloudWatch Logs), requiring a valid entry of each eventType in `required`; fails the
    test with the checker's report on any problem."""
    args = [iotemu_binary(), "check-entries"]
    for event in required:
        args += ["--require", event]
    result = subprocess.run(args + [str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def log_authn_errors(emulator):
    """Opts into Connection.AuthNError entries, which AWS (and iotemu) write only when
    SetV2LoggingOptions' `eventConfigurations` names them; the default level stays DEBUG."""
    emulator.client("iot").set_v2_logging_options(
        defaultLogLevel="DEBUG", eventConfigurations=[{"eventType": "Connection.AuthNError", "logLevel": "ERROR"}])


def error_of(call, **kwargs):
    """The (error code, HTTP status) a boto3 call fails with."""
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def wait_until(predicate, timeout=5):
    """Polls `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def sdk_device(emulator, data_dir, out_dir, thing):
    """A device of the AWS IoT Device SDK v2 connected over mutual TLS as `thing`, with a
    certificate `iotemu certs create-device` made for it in `out_dir` (registered on connect)."""
    from awsiot import mqtt_connection_builder

    subprocess.run([iotemu_binary(), "certs", "create-device", "--thing", thing, "--out", str(out_dir),
                    "--data-dir", str(data_dir)], check=True, capture_output=True)
    port = int(emulator.mqtts.rsplit(":", 1)[1])
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(out_dir / f"{thing}.cert.pem"),
        pri_key_filepath=str(out_dir / f"{thing}.private.key"), ca_filepath=str(out_dir / "ca.pem"),
        client_id=thing, clean_session=True, keep_alive_secs=30)
    connection.connect().result(timeout=10)
    return connection


def paho_client(emulator, client_id, protocol=None):
    """A paho-mqtt client connected to the plain MQTT port, its network loop running."""
    import paho.mqtt.client as mqtt

    host, port = emulator.mqtt.rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=protocol or mqtt.MQTTv311)
    client.connect(host, int(port))
    client.loop_start()
    assert wait_until(client.is_connected), f"{client_id} did not connect"
    return client


class Emulator:
    """One iotemu process with its own data directory."""

    def __init__(self, data_dir, *extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEMU_")}
        self.log_file = pathlib.Path(data_dir) / "entries.jsonl"
        device_port = [] if "--device-port" in extra else ["--device-port", "0"]
        self.process = subprocess.Popen(
            [iotemu_binary(), "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0",
             *device_port, "--no-stdout-logs", "--data-dir", str(data_dir), "--log-file", str(self.log_file), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        for line in self.process.stderr:
            match = re.match(r"iotemu listening mqtt=(\S+) mqtts=(\S+) api=(\S+) lns=(\S+) device=(\S+)", line)
            if match:
                self.mqtt, self.mqtts, self.api, self.lns, self.device = match.groups()
                break
        else:
            raise RuntimeError("iotemu exited before listening")
        self.endpoint = f"http://{self.api}"

    def client(self, service="iot", region="us-east-1"):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def entries(self):
        """The complete JSON lines of the log file so far."""
        if not self.log_file.exists():
            return []
        text = self.log_file.read_text()
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


class JsonFunction:
    """A local HTTP server standing for a Lambda function that iotemu POSTs a JSON event to (an
    authorizer, a pre-provisioning hook): `answer(event)` gives the JSON reply and may sleep to
    make the call time out. It keeps the events it received, in order."""

    def __init__(self, answer):
        self.events = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.events.append(event)
                body = json.dumps(answer(event)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # iotemu gave up waiting (the timeout cases)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory() as d:
        yield pathlib.Path(d)


@pytest.fixture
def emulator(data_dir):
    emu = Emulator(data_dir)
    yield emu
    emu.stop()


@pytest.fixture
def iot(emulator):
    return emulator.client("iot")
