"""The log store's benchmark (not a test); `scripts/bench-logstore.sh` runs it.

1. Store under load: iotemu (release, DEBUG, file sink and store) while loadgen drives the broker
   at its closed-loop peak (50 pairs, QoS 0). Samples the number of stored events every 0.5 s
   (reading logs.db) and reports the entries the pipeline wrote per second, the events the store
   kept per second, and the entries it missed (`logStoreMissed`) — side by side, as a ratio —
   with the most entries that waited for the store (health's `logStoreBacklog`: its queue and
   its spool on disk) and how long after the load it had stored them all.
2. FilterLogEvents latency over 1,000,000 stored entries: a fresh iotemu gets 1,000,000
   realistic entries through PutLogEvents (1,000 clients, the five broker event types; client
   `x` has 100 of them), then `{ $.clientId = "dev-7" && $.eventType = "Publish-In" }` (about
   200 matches among dev-7's 1,000 entries) and `{ $.eventType = "Publish-In" && $.clientId = "x" }`
   are each asked 1,000 times over HTTP, once logs.db has stopped changing after the load; p50 and
   p99 (nearest rank) are reported against the 5 ms target (issue 21), each call timed as a client
   makes it (a new connection, the answer parsed) and, beside that, up to the answer's last byte.
   Until the change to 1,000 calls the figure was the slowest of 100: it is still reported, from
   the first 100 calls, as `first_100_latency_ms_max`.
   A pattern the index cannot narrow (`{ $.sourcePort > 65000 }`, one page) is reported for
   comparison.

Prints JSON and writes bench-results/bench-logstore.json in the shared format (area "log store").

Usage: python benches/logstore.py IOTEMU_BIN LOADGEN_BIN [--quick] [--only store|filter]
"""
import datetime
import http.client
import json
import math
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, SignedHeaders=host, Signature=0"


def start(binary, data_dir, *extra):
    process = subprocess.Popen(
        [binary, "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0", "--device-port", "0", "--no-stdout-logs",
         "--data-dir", data_dir, *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        match = re.match(r"iotemu listening mqtt=(\S+) mqtts=(\S+) api=(\S+)", line)
        if match:
            # Keep draining stderr so that WARN lines never block the emulator.
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, match.group(1), match.group(3)
    raise RuntimeError("iotemu exited before listening")


def logs_call(api, operation, body):
    return logs_call_timed(api, operation, body)[0]


def logs_call_timed(api, operation, body):
    """A CloudWatch Logs call over a new connection: its answer, and when (time.perf_counter)
    the answer's last byte was read."""
    host, port = api.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("POST", "/", json.dumps(body), {"X-Amz-Target": f"Logs_20140328.{operation}",
                                                 "Content-Type": "application/x-amz-json-1.1",
                                                 "Authorization": AUTH})
    response = conn.getresponse()
    data = response.read()
    received = time.perf_counter()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{operation}: {response.status} {data[:300]!r}")
    return json.loads(data), received


# FilterLogEvents calls per pattern. With 100, a p99 is the slowest call or the second slowest
# (nearest rank), so one or two calls preempted on a shared machine decide it; with 1,000 it is
# the tenth slowest.
QUERIES = 1_000


def percentile(values, q):
    """The nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def health(api):
    return json.load(urllib.request.urlopen(f"http://{api}/_iotemu/health"))


def stored(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT COUNT(*) FROM log_events").fetchone()[0]


def store_under_load(iotemu, loadgen, quick):
    with tempfile.TemporaryDirectory() as d:
        config = os.path.join(d, "iotemu.toml")
        with open(config, "w") as f:
            f.write("[logstore]\nmax_events = 50000000\n")
        process, mqtt, api = start(iotemu, d, "--config", config, "--log-level", "DEBUG",
                                   "--log-file", os.path.join(d, "entries.jsonl"))
        db = os.path.join(d, "logs.db")
        samples, stop = [], threading.Event()

        backlogs = []

        def sample():
            while not stop.is_set():
                samples.append((time.monotonic(), stored(db)))
                backlogs.append(health(api).get("logStoreBacklog") or 0)
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        duration = 4 if quick else 10
        sampler.start()
        t0 = time.monotonic()
        out = subprocess.run([loadgen, "throughput", "--port", mqtt.rsplit(":", 1)[1], "--pattern", "pairs",
                              "--n", "50", "--qos", "0", "--warmup", "1", "--duration", str(duration)],
                             capture_output=True, text=True, check=True)
        t1 = time.monotonic()
        # Let the store write what is queued and spooled (health's logStoreBacklog), then until
        # its count stops changing.
        while (health(api).get("logStoreBacklog") or 0) > 0:
            time.sleep(0.2)
        caught_up = time.monotonic() - t1
        last = -1
        while stored(db) != last:
            last = stored(db)
            time.sleep(1)
        stop.set()
        sampler.join()
        final = health(api)
        with open(os.path.join(d, "entries.jsonl"), "rb") as f:
            written = sum(1 for _ in f)
        process.terminate()
        process.wait(timeout=10)
    during = [(t, n) for t, n in samples if t0 <= t <= t1]
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(during, during[1:]) if b[0] > a[0]]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "loadgen": result,
        "entries_written": written,
        "entries_written_per_sec": round(written / (t1 - t0)),
        "events_stored": last,
        "store_events_per_sec_mean": round(statistics.mean(rates)) if rates else None,
        "store_events_per_sec_max_0_5s": round(max(rates)) if rates else None,
        "store_missed": final.get("logStoreMissed"),
        "pipeline_dropped": final.get("logEntriesDropped"),
        "store_backlog_max": max(backlogs, default=0),
        "store_caught_up_s_after_load": round(caught_up, 1),
        "stored_over_written": round(last / written, 3) if written else None,
    }


EVENT_TYPES = ["Connect", "Publish-In", "Publish-Out", "Subscribe", "Disconnect"]


def entry(i, client, event_type, timestamp_ms):
    t = time.gmtime(timestamp_ms / 1000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", t) + f".{timestamp_ms % 1000:03d}"
    e = {"timestamp": stamp, "logLevel": "INFO", "traceId": f"00000000-0000-4000-8000-{i:012d}",
         "accountId": "123456789012", "status": "Success", "eventType": event_type, "protocol": "MQTT",
         "clientId": client, "principalId": "anonymous", "sourceIp": "127.0.0.1", "sourcePort": 1024 + i % 60000}
    if event_type.startswith("Publish") or event_type == "Subscribe":
        e["topicName"] = f"room/{i % 97}"
    return json.dumps(e, separators=(",", ":"))


def filter_latency(iotemu, quick):
    total = 100_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory() as d:
        config = os.path.join(d, "iotemu.toml")
        with open(config, "w") as f:
            f.write("[logstore]\nmax_events = 5000000\n")
        process, _, api = start(iotemu, d, "--config", config, "--log-level", "DISABLED")
        logs_call(api, "CreateLogStream", {"logGroupName": "AWSIotLogsV2", "logStreamName": "bench"})
        rng = random.Random(7)
        x_every = total // 100
        now = int(time.time() * 1000) - total // 10
        loaded = time.monotonic()
        batch = 3_000  # about 900 KB: under PutLogEvents' 1 MiB quota
        for start_i in range(0, total, batch):
            events = []
            for i in range(start_i, min(start_i + batch, total)):
                client = "x" if i % x_every == 0 else f"dev-{rng.randrange(1000)}"
                events.append({"timestamp": now + i // 10, "message": entry(i, client, rng.choice(EVENT_TYPES),
                                                                           now + i // 10)})
            logs_call(api, "PutLogEvents", {"logGroupName": "AWSIotLogsV2", "logStreamName": "bench",
                                            "logEvents": events})
        loaded = time.monotonic() - loaded
        # Measure the stored entries at rest: wait (at most 60 s) until the store has copied its
        # write-ahead log into logs.db (its checkpointer runs beside the writer) and it stops changing.
        wal, last, quiet_since = os.path.join(d, "logs.db-wal"), None, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 2:
            size = (os.path.getsize(wal) if os.path.exists(wal) else 0, os.path.getsize(os.path.join(d, "logs.db")))
            if size != last:
                last, quiet_since = size, time.monotonic()
            time.sleep(0.25)

        def latencies(pattern, times_n=QUERIES):
            # Each call as a client makes it (a new connection, the answer parsed), and apart from
            # that the time until the answer's last byte, before the client's JSON parse.
            times, to_last_byte, found = [], [], None
            for _ in range(times_n):
                t = time.perf_counter()
                out, received = logs_call_timed(api, "FilterLogEvents",
                                                {"logGroupName": "AWSIotLogsV2", "filterPattern": pattern})
                times.append((time.perf_counter() - t) * 1000)
                to_last_byte.append((received - t) * 1000)
                found = len(out["events"])
                assert "nextToken" not in out
            first_100 = sorted(times[:100])
            return {"pattern": pattern, "matches": found, "queries": times_n,
                    "first_query_ms": round(times[0], 2),
                    "latency_ms_p50": round(percentile(times, 0.50), 2),
                    "latency_ms_p99": round(percentile(times, 0.99), 2),
                    "to_last_byte_ms_p50": round(percentile(to_last_byte, 0.50), 2),
                    "to_last_byte_ms_p99": round(percentile(to_last_byte, 0.99), 2),
                    # As this benchmark reported it before: the first 100 queries, and as p99 the
                    # sorted list's entry at index int(0.99 * 100), which is the slowest of them.
                    "first_100_latency_ms_p50": round(first_100[len(first_100) // 2], 2),
                    "first_100_latency_ms_max": round(first_100[min(len(first_100) - 1, int(len(first_100) * 0.99))], 2)}

        dev7 = latencies('{ $.clientId = "dev-7" && $.eventType = "Publish-In" }')
        x = latencies('{ $.eventType = "Publish-In" && $.clientId = "x" }')
        scan = []
        for _ in range(5):
            t = time.perf_counter()
            logs_call(api, "FilterLogEvents", {"logGroupName": "AWSIotLogsV2",
                                                "filterPattern": "{ $.sourcePort > 65000 }", "limit": 100})
            scan.append((time.perf_counter() - t) * 1000)
        process.terminate()
        process.wait(timeout=10)
    return {
        "stored_entries": total,
        "load_seconds_put_log_events": round(loaded, 1),
        "dev_7": dev7,
        "x": x,
        "entries_of_x": sum(1 for i in range(0, total, x_every)),
        "target_ms": 5,
        "unindexed_pattern_one_page_ms_median": round(statistics.median(scan), 1),
    }


def write_results(results, quick):
    """bench-results/bench-logstore.json in the shared format (BENCH-FORMAT: area "log store")."""
    load = open("/proc/loadavg").read().split()[:3]
    note = f"load average {' '.join(load)} on {os.cpu_count()} cores"
    figures = []
    store = results.get("store_under_peak_load")
    if store:
        figures.append({"area": "log store", "name": "store events/s at the broker's peak (50 pairs QoS 0, DEBUG)",
                        "unit": "entries/s", "value": store["store_events_per_sec_mean"],
                        "reference": {"name": "entries written to the file per s", "value": store["entries_written_per_sec"]},
                        "ratio": store["stored_over_written"]})
        missed_pct = round(100.0 * (store["store_missed"] or 0) / max(1, store["entries_written"]), 3)
        figures.append({"area": "log store", "name": "entries missed by the store at the broker's peak (50 pairs QoS 0)",
                        "unit": "percent", "value": missed_pct, "target": {"op": "<", "value": 1.0},
                        "met": missed_pct < 1.0})
        figures.append({"area": "log store", "name": "entries waiting for the store at most (queue + spool on disk)",
                        "unit": "entries", "value": store["store_backlog_max"]})
        figures.append({"area": "log store", "name": "seconds after the load until every entry was stored",
                        "unit": "s", "value": store["store_caught_up_s_after_load"]})
    filt = results.get("filter_log_events_latency")
    if filt:
        n = f"{filt['stored_entries']:,}"
        for key, label in (("dev_7", "clientId dev-7 + eventType"), ("x", "eventType + clientId x")):
            queries = f"{filt[key]['queries']:,}"
            p99 = filt[key]["latency_ms_p99"]
            figures.append({"area": "log store", "name": f"FilterLogEvents p99 over {n} entries, {label} ({queries} calls)",
                            "unit": "ms", "value": p99, "target": {"op": "<", "value": 5.0}, "met": p99 < 5.0})
            worst = filt[key]["first_100_latency_ms_max"]
            figures.append({"area": "log store",
                            "name": f"FilterLogEvents slowest of the first 100 calls, {label} (reported as p99 before)",
                            "unit": "ms", "value": worst})
    doc = {"script": "bench-logstore",
           "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "machine": {"cores": os.cpu_count(), "note": note + ("; --quick" if quick else "")},
           "runs": 1, "figures": figures}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(os.path.join(root, "bench-results"), exist_ok=True)
    path = os.path.join(root, "bench-results", "bench-logstore.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"{'figure':<70} {'value':>10} {'target':>8}  met", file=sys.stderr)
    for f in figures:
        t = f.get("target")
        print(f"{f['name']:<70} {f['value']:>10} {(t['op'] + ' ' + str(t['value'])) if t else '':>8}  "
              f"{('yes' if f['met'] else 'NO') if 'met' in f else ''}", file=sys.stderr)
    print(f"{note}; written: {path}", file=sys.stderr)


def main():
    iotemu, loadgen = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    results = {}
    if only in (None, "store"):
        results["store_under_peak_load"] = store_under_load(iotemu, loadgen, quick)
        print(json.dumps({"store_under_peak_load": results["store_under_peak_load"]}, indent=2))
    if only in (None, "filter"):
        results["filter_log_events_latency"] = filter_latency(iotemu, quick)
        print(json.dumps({"filter_log_events_latency": results["filter_log_events_latency"]}, indent=2))
    write_results(results, quick)


if __name__ == "__main__":
    main()
