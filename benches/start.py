#!/usr/bin/env python3
"""Start time of iotemu: from exec to its `iotemu listening` line (scripts/bench-start.sh).

    python3 benches/start.py IOTEMU_BIN [--runs 7] [--things 100000] [--entries 1000000]
                             [--json OUT]

1. empty: a fresh, empty data directory per run (the first start creates the CA);
2. empty, second start: the data directory left by (1) (CA and databases exist, no data);
3. full: one data directory prepared once through iotemu's own API, as a user would fill it:
   THINGS things created by POST /_iotemu/seed (CreateThing through the API router, 10,000 per
   request), and ENTRIES log events put into the AWSIotLogsV2 log group with CloudWatch Logs'
   PutLogEvents (as many per request as its 1 MiB limit allows); iotemu is stopped with SIGTERM
   (which checkpoints both databases), then started RUNS times on it.

Each start runs `iotemu serve --data-dir D` with every port 0 and stdout logs off; the time is
taken from just before the exec (subprocess.Popen) to the moment the listening line is read
from its stderr; then it is stopped with SIGTERM. Prints one JSON object with every run's
milliseconds and the medians. Standard library only; everything on 127.0.0.1.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

LISTENING = re.compile(rb"^iotemu listening mqtt=\S+ mqtts=\S+ api=[^ ]*:(\d+)")


def start(binary, data_dir, extra_env=None):
    """Starts iotemu; returns (process, ms from exec to the listening line, api port)."""
    args = [binary, "serve", "--data-dir", data_dir, "--mqtt-port", "0", "--mqtts-port", "0",
            "--api-port", "0", "--lns-port", "0", "--device-port", "0", "--no-stdout-logs"]
    env = dict(os.environ, **(extra_env or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    tail = []
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = LISTENING.match(line)
        if m:
            ms = (time.perf_counter() - t0) * 1000
            # Keep reading stderr, so that a chatty server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, ms, int(m.group(1))
        tail.append(line.decode(errors="replace"))
    proc.kill()
    proc.wait()
    raise RuntimeError("iotemu did not print its listening line:\n" + "".join(tail[-20:]))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def post(port, path, body, headers=None, timeout=600):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def logs_call(port, op, payload):
    return json.loads(post(port, "/", json.dumps(payload).encode(), {
        "X-Amz-Target": f"Logs_20140328.{op}",
        "Content-Type": "application/x-amz-json-1.1",
        # iotemu parses the credential scope (account, region, service) and never checks the signature.
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/logs/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }) or b"{}")


def entry(i, ts):
    """A Publish-In entry of AWS IoT's shape (what the log group holds after real traffic)."""
    return json.dumps({
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1000)) + f".{ts % 1000:03d}",
        "logLevel": "INFO", "traceId": f"{i:08x}-0000-0000-0000-000000000000",
        "accountId": "123456789012", "status": "Success", "eventType": "Publish-In",
        "protocol": "MQTT", "topicName": f"dt/fleet/thing-{i % 100000}/telemetry",
        "clientId": f"thing-{i % 100000}", "principalId": "anonymous",
        "sourceIp": "127.0.0.1", "sourcePort": 40000 + i % 20000,
    }, separators=(",", ":"))


def prepare(binary, data_dir, things, entries):
    proc, ms, port = start(binary, data_dir)
    t0 = time.time()
    try:
        for lo in range(0, things, 10000):
            hi = min(things, lo + 10000)
            seed = {"things": [{"thingName": f"thing-{i}",
                                "attributePayload": {"attributes": {"model": "m1", "n": str(i)}}}
                               for i in range(lo, hi)]}
            post(port, "/_iotemu/seed", json.dumps(seed).encode(), {"Content-Type": "application/json"})
        t_things = time.time() - t0
        stream = "bench-start"
        group = "AWSIotLogsV2"
        try:
            logs_call(port, "CreateLogGroup", {"logGroupName": group})
        except urllib.error.HTTPError:
            pass  # it exists (iotemu creates it)
        logs_call(port, "CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        now = int(time.time() * 1000)
        i = 0
        while i < entries:
            batch, size = [], 0
            while i < entries and len(batch) < 10000:
                msg = entry(i, now)
                if size + len(msg) + 26 > 1_000_000:
                    break
                batch.append({"timestamp": now, "message": msg})
                size += len(msg) + 26
                i += 1
            logs_call(port, "PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                             "logEvents": batch})
        t_logs = time.time() - t0 - t_things
    finally:
        stop(proc)
    sizes = {f: os.path.getsize(os.path.join(data_dir, f)) for f in os.listdir(data_dir)
             if f.endswith(".db")}
    return {"prepare_things_s": round(t_things, 1), "prepare_entries_s": round(t_logs, 1),
            "db_bytes": sizes}


def describe_thing(port, name):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/things/{name}", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/iot/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def timed(binary, data_dir, runs, fresh=False, first_read=None):
    """ms to the listening line per run; with `first_read` (a list), also appends the ms from
    exec to the answer of a DescribeThing of the last thing sent right after the line."""
    out = []
    for _ in range(runs):
        d = data_dir
        if fresh:
            d = tempfile.mkdtemp(prefix="iotemu-start-empty-")
            os.rmdir(d)  # iotemu creates it: a data directory that does not exist yet
        t0 = time.perf_counter()
        proc, ms, port = start(binary, d)
        if first_read is not None:
            describe_thing(port, first_read[0])
            first_read.append(round((time.perf_counter() - t0) * 1000, 1))
        stop(proc)
        if fresh:
            shutil.rmtree(d, ignore_errors=True)
        out.append(round(ms, 1))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--things", type=int, default=100_000)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--keep", help="prepare into / reuse this data directory (kept)")
    args = p.parse_args()
    result = {"runs": args.runs, "things": args.things, "entries": args.entries}
    base = tempfile.mkdtemp(prefix="iotemu-start-")
    try:
        result["empty_first_ms"] = timed(args.binary, None, args.runs, fresh=True)
        second = os.path.join(base, "second")
        proc, _, _ = start(args.binary, second)
        stop(proc)
        result["empty_second_ms"] = timed(args.binary, second, args.runs)
        full = args.keep or os.path.join(base, "full")
        if not (args.keep and os.path.exists(os.path.join(full, "iotemu.db"))):
            print(f"start.py: preparing {args.things} things and {args.entries} log entries in {full}",
                  file=sys.stderr)
            result["prepare"] = prepare(args.binary, full, args.things, args.entries)
            print(f"start.py: prepared: {result['prepare']}", file=sys.stderr)
        result["full_ms"] = timed(args.binary, full, args.runs)
        # The things load on a thread of their own after the line: how long a request that
        # needs them waits.
        first = [f"thing-{args.things - 1}"]
        timed(args.binary, full, args.runs, first_read=first)
        result["full_first_describe_thing_ms"] = first[1:]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for k in ("empty_first_ms", "empty_second_ms", "full_ms", "full_first_describe_thing_ms"):
        result[k.replace("_ms", "_median_ms")] = statistics.median(result[k])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
