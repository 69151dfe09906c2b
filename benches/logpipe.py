"""The log pipeline's benchmark (not a test); `scripts/bench-logpipe.sh` runs it.

1. The pipeline alone (`cargo run --release -p iotemu-cwlogs --example logpipe`): 2 producer
   threads emit Publish-In/Publish-Out entries as fast as they can; the file sink's entries/s
   (file only, then file + live tail as the emulator runs it) against the 1.2 M entries/s target,
   and the log store's events/s and missed share when it is added (with its spool, as iotemu
   runs it).
2. At the broker's peak: iotemu (release, DEBUG, --no-stdout-logs, --log-file, the log store on
   with its defaults) while loadgen drives each closed-loop throughput scenario (fan-in 10->1,
   50 pairs, fan-out 1->50; QoS 0 and 1) with `--api-port --no-search`: the deliveries/s, the
   entries the pipeline dropped (`logEntriesDropped`, target 0), the entries the file received
   and the share the log store missed (`logStoreMissed`, target: none, at most under 1%).

Prints a table (medians of the runs, each run's value) and writes bench-results/bench-logpipe.json
in the shared format (areas "log pipeline" and "log store").

Usage: python benches/logpipe.py IOTEMU_BIN LOADGEN_BIN LOGPIPE_BIN [--quick] [--runs N]
       [--only pipeline|broker]
"""
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SCENARIOS = [("fanin", 0), ("fanin", 1), ("pairs", 0), ("pairs", 1), ("fanout", 0), ("fanout", 1)]
LABEL = {"fanin": "fan-in 10->1", "pairs": "50 pairs", "fanout": "fan-out 1->50"}


def start(binary, data_dir, log_file):
    process = subprocess.Popen(
        [binary, "serve", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0", "--lns-port", "0",
         "--device-port", "0", "--no-stdout-logs", "--data-dir", data_dir, "--log-level", "DEBUG",
         "--log-file", log_file],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        match = re.match(r"iotemu listening mqtt=(\S+) mqtts=(\S+) api=(\S+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, int(match.group(1).rsplit(":", 1)[1]), match.group(3)
    raise RuntimeError("iotemu exited before listening")


def health(api):
    return json.load(urllib.request.urlopen(f"http://{api}/_iotemu/health", timeout=30))


def lines_in(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def pipeline_alone(logpipe, runs, quick):
    entries = 1_000_000 if quick else 3_000_000
    out = {"file": [], "file+tail": [], "per_cpu": [], "store_per_s": [], "store_missed_pct": [], "dropped": [],
           "wait_file_per_s": [], "wait_missed_pct": []}
    with tempfile.TemporaryDirectory() as d:
        file = os.path.join(d, "entries.jsonl")
        for run in range(runs):
            for mode, extra in (("file", []), ("file+tail", ["--tail"])):
                r = json.loads(subprocess.run([logpipe, "--entries", str(entries), "--threads", "2", "--file", file,
                                               *extra], capture_output=True, text=True, check=True).stdout)
                out[mode].append(r["file_entries_per_sec"])
                if mode == "file+tail":
                    out["per_cpu"].append(r["entries_per_cpu_sec"])
                out["dropped"].append(r["dropped"])
                print(f"  pipeline alone, run {run + 1}, {mode}: {r}", file=sys.stderr)
            r = json.loads(subprocess.run([logpipe, "--entries", str(entries // 3), "--threads", "2", "--file", file,
                                           "--tail", "--store", os.path.join(d, "store"), "--store-spool"],
                                          capture_output=True, text=True, check=True).stdout)
            out["store_per_s"].append(r["store_events_per_sec"])
            out["store_missed_pct"].append(r["store_missed_percent"])
            print(f"  pipeline alone, run {run + 1}, file+tail+store: {r}", file=sys.stderr)
            r = json.loads(subprocess.run([logpipe, "--entries", str(entries // 3), "--threads", "2", "--file", file,
                                           "--tail", "--store", os.path.join(d, "store"), "--store-wait"],
                                          capture_output=True, text=True, check=True).stdout)
            out["wait_file_per_s"].append(r["file_entries_per_sec"])
            out["wait_missed_pct"].append(r["store_missed_percent"])
            print(f"  pipeline alone, run {run + 1}, file+tail+store, wait_when_full: {r}", file=sys.stderr)
    return out


def broker_peak(iotemu, loadgen, runs, quick):
    results = {s: {"deliveries": [], "dropped": [], "lost": [], "file_per_s": [], "missed_pct": [], "entries": []}
               for s in SCENARIOS}
    duration, warmup = ("2", "0.5") if quick else ("5", "1")
    for run in range(runs):
        with tempfile.TemporaryDirectory() as d:
            log_file = os.path.join(d, "entries.jsonl")
            process, port, api = start(iotemu, d, log_file)
            try:
                # Rotate the order every run, so slow drift (page cache, file size) hits each alike.
                order = SCENARIOS[run % len(SCENARIOS):] + SCENARIOS[:run % len(SCENARIOS)]
                for pattern, qos in order:
                    before_health, before_lines = health(api), lines_in(log_file)
                    t0 = time.monotonic()
                    r = subprocess.run([loadgen, "throughput", "--port", str(port), "--pattern", pattern,
                                        "--qos", str(qos), "--warmup", warmup, "--duration", duration,
                                        "--api-port", api.rsplit(":", 1)[1], "--no-search"],
                                       capture_output=True, text=True, timeout=300)
                    elapsed = time.monotonic() - t0
                    if r.returncode != 0:
                        print(f"  loadgen failed ({pattern} QoS{qos}): {r.stderr[-500:]}", file=sys.stderr)
                        continue
                    v = json.loads(r.stdout.strip().splitlines()[-1])
                    # The store's queue and spool drain before the next scenario starts (else its
                    # backlog would count against the next one); at most a minute.
                    time.sleep(1.0)
                    drain_by = time.monotonic() + 60
                    while (health(api).get("logStoreBacklog") or 0) > 0 and time.monotonic() < drain_by:
                        time.sleep(0.5)
                    after_health, after_lines = health(api), lines_in(log_file)
                    written = after_lines - before_lines
                    missed = (after_health.get("logStoreMissed") or 0) - (before_health.get("logStoreMissed") or 0)
                    res = results[(pattern, qos)]
                    res["deliveries"].append(round(v["deliveries_per_s"]))
                    res["dropped"].append(v["log_dropped"] if v["log_dropped"] is not None else -1)
                    res["lost"].append(v["lost"])
                    res["entries"].append(written)
                    res["file_per_s"].append(round(written / elapsed))
                    res["missed_pct"].append(round(100.0 * missed / written, 3) if written else 0.0)
                    print(f"  run {run + 1} {LABEL[pattern]} QoS{qos}: {round(v['deliveries_per_s'])} deliveries/s, "
                          f"dropped {v['log_dropped']}, lost {v['lost']}, file +{written} entries "
                          f"({round(written / elapsed)}/s over the whole {elapsed:.1f} s), store missed {missed}",
                          file=sys.stderr)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return results


def figure(area, name, unit, values, op=None, target=None):
    values = [v for v in values if v is not None]
    if not values:
        return None
    value = statistics.median(values)
    f = {"area": area, "name": name, "unit": unit, "value": value, "runs": values}
    if op is not None:
        met = {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}[op]
        f.update({"target": {"op": op, "value": target}, "met": met})
    return f


def main():
    iotemu, loadgen, logpipe = sys.argv[1:4]
    quick = "--quick" in sys.argv
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else (1 if quick else 3)
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    load = open("/proc/loadavg").read().split()[:3]
    note = (f"load average {' '.join(load)} at start on {os.cpu_count()} cores; the machine is shared "
            f"(other builds running), so figures are noisy")
    print(f"[bench-logpipe] {note}", file=sys.stderr)
    figures = []
    if only in (None, "pipeline"):
        p = pipeline_alone(logpipe, runs, quick)
        figures += [
            figure("log pipeline", "file sink entries/s, pipeline alone (2 producer threads)", "entries/s",
                   p["file"], ">=", 1_200_000),
            figure("log pipeline", "file sink entries/s, pipeline alone, file + live tail", "entries/s",
                   p["file+tail"], ">=", 1_200_000),
            # Wall time on a shared machine counts the other builds' time too; per CPU second is
            # what the pipeline costs (producers + writer + sinks), whatever else runs.
            figure("log pipeline", "entries per CPU second, pipeline alone, file + live tail", "entries/s",
                   p["per_cpu"], ">=", 1_200_000),
            figure("log pipeline", "entries dropped, pipeline alone", "count", p["dropped"], "<=", 0),
            figure("log store", "store events/s fed by the pipeline alone (file + tail + store)", "entries/s",
                   p["store_per_s"]),
            figure("log store", "entries missed by the store, pipeline alone at full speed", "percent",
                   p["store_missed_pct"], "<", 1.0),
            figure("log store", "entries missed by the store with [logstore] wait_when_full", "percent",
                   p["wait_missed_pct"], "<", 1.0),
            figure("log store", "file entries/s with [logstore] wait_when_full (the store's pace)", "entries/s",
                   p["wait_file_per_s"]),
        ]
    if only in (None, "broker"):
        b = broker_peak(iotemu, loadgen, runs, quick)
        for (pattern, qos), res in b.items():
            label = f"{LABEL[pattern]} QoS{qos}"
            figures += [
                figure("log pipeline", f"entries dropped at the DEBUG closed-loop peak, {label}", "count",
                       res["dropped"], "<=", 0),
                figure("log pipeline", f"DEBUG closed-loop peak deliveries/s (file on, stdout off), {label}",
                       "msgs/s", res["deliveries"]),
                figure("log pipeline", f"entries written to the file per s during the run, {label}", "entries/s",
                       res["file_per_s"]),
                figure("log store", f"entries missed by the store at the peak, {label}", "percent",
                       res["missed_pct"], "<", 1.0),
            ]
    figures = [f for f in figures if f]
    doc = {"script": "bench-logpipe", "started": started, "machine": {"cores": os.cpu_count(), "note": note},
           "runs": runs, "figures": figures}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(os.path.join(root, "bench-results"), exist_ok=True)
    path = os.path.join(root, "bench-results", "bench-logpipe.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    print()
    print(f"{'area':<13} {'figure':<78} {'value':>12} {'target':>12}  met  runs")
    for f in figures:
        t = f.get("target")
        target = f"{t['op']} {t['value']:g}" if t else ""
        met = ("yes" if f["met"] else "NO") if "met" in f else ""
        print(f"{f['area']:<13} {f['name']:<78} {f['value']:>12g} {target:>12}  {met:<4} {f['runs']}")
    print(f"\n{note}\nwritten: {path}")


if __name__ == "__main__":
    main()
