#!/usr/bin/env python3
"""Writes benchmark figures in the shared format every bench script uses (benches/README.md).

One file per script, ``bench-results/<script>.json``:

    {"script": ..., "started": UTC, "machine": {"cores": N, "note": ...}, "runs": N,
     "figures": [{"area", "name", "unit", "value", "runs"?, "reference"?, "ratio"?,
                  "target"?, "met"?}, ...]}

Command line (bench scripts written in shell call this):

    bench_json.py add --file F [--script S] --area A --name N --unit U --value V
        [--runs a,b,c] [--ref-name R --ref-value X] [--target-op '<' --target-value 2]
        [--machine-note TEXT] [--run-count N]
    bench_json.py loadgen --file F --script S --results results.jsonl [--machine-note TEXT]

``add`` appends one figure (creating the file on first use; ``--value`` may be ``median``
with ``--runs`` to take the median of the runs). ``loadgen`` turns the JSON lines of
``loadgen suite`` (scripts/bench.sh) into broker figures: iotemu against mosquitto, plus the
log entries dropped at the closed-loop peak (area "log pipeline", target 0).

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
from typing import Any, Iterable

AREAS = ("log pipeline", "log store", "rules", "shadows", "scale", "start", "broker")
OPS = ("<", "<=", ">", ">=")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine(note: str | None = None) -> dict[str, Any]:
    load = ""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        pass
    text = note or "shared machine; other processes may be running"
    if load and "load average" not in text:
        text += f" (load average at start: {load})"
    return {"cores": os.cpu_count() or 0, "note": text}


def check_met(value: float, op: str, target: float) -> bool:
    return {
        "<": value < target,
        "<=": value <= target,
        ">": value > target,
        ">=": value >= target,
    }[op]


def figure(
    area: str,
    name: str,
    unit: str,
    value: float,
    runs: Iterable[float] | None = None,
    ref_name: str | None = None,
    ref_value: float | None = None,
    target_op: str | None = None,
    target_value: float | None = None,
    target_on_ratio: bool = False,
) -> dict[str, Any]:
    """One figure. With ``target_on_ratio`` the target applies to ``ratio``, not ``value``."""
    if area not in AREAS:
        raise ValueError(f"area must be one of {AREAS}, not {area!r}")
    fig: dict[str, Any] = {"area": area, "name": name, "unit": unit, "value": _num(value)}
    if runs is not None:
        fig["runs"] = [_num(r) for r in runs]
    ratio = None
    if ref_name is not None and ref_value is not None:
        fig["reference"] = {"name": ref_name, "value": _num(ref_value)}
        if ref_value:
            ratio = value / ref_value
            fig["ratio"] = round(ratio, 3)
    if target_op is not None and target_value is not None:
        if target_op not in OPS:
            raise ValueError(f"target op must be one of {OPS}")
        fig["target"] = {"op": target_op, "value": _num(target_value)}
        if target_on_ratio:
            fig["target"]["of"] = "ratio"
            fig["met"] = None if ratio is None else check_met(ratio, target_op, target_value)
        else:
            fig["met"] = check_met(value, target_op, target_value)
    return fig


def _num(x: float) -> float | int:
    if isinstance(x, int):
        return x
    if float(x).is_integer() and abs(x) < 2**53:
        return int(x)
    return round(float(x), 4)


def load(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def save(path: str, doc: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def new_doc(script: str, runs: int, note: str | None = None) -> dict[str, Any]:
    return {"script": script, "started": utc_now(), "machine": machine(note), "runs": runs, "figures": []}


def append(path: str, fig: dict[str, Any], script: str | None, runs: int, note: str | None) -> None:
    doc = load(path)
    if doc is None:
        if not script:
            script = os.path.splitext(os.path.basename(path))[0]
        doc = new_doc(script, runs, note)
    doc["figures"].append(fig)
    if runs and runs > doc.get("runs", 0):
        doc["runs"] = runs
    save(path, doc)


# ---------------------------------------------------------------- loadgen suite (bench.sh)

# (scenario, metric, name, unit, higher is better, target on the ratio for iotemu-disabled,
# for iotemu-debug): the same rows and targets as loadgen's own table (benches/loadgen/src/report.rs).
LOADGEN_ROWS = [
    ("tput_fanin_q0", "deliveries_per_s", "fan-in 10->1, QoS0", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("tput_fanin_q1", "deliveries_per_s", "fan-in 10->1, QoS1", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("tput_pairs_q0", "deliveries_per_s", "50 pairs, QoS0", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("tput_pairs_q1", "deliveries_per_s", "50 pairs, QoS1", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("tput_fanout_q0", "deliveries_per_s", "fan-out 1->50, QoS0", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("tput_fanout_q1", "deliveries_per_s", "fan-out 1->50, QoS1", "msgs/s", (">=", 1.5), (">=", 1.0)),
    ("latency_q0_20k", "p50_us", "latency p50 @20k/s QoS0", "us", None, None),
    ("latency_q0_20k", "p99_us", "latency p99 @20k/s QoS0", "us", ("<=", 1.2), ("<=", 1.2)),
    ("connects", "connects_per_s", "connects (1000 clients)", "connects/s", (">=", 1.0), (">=", 1.0)),
    ("idle_rss", "bytes_per_conn", "RSS per idle connection", "bytes", None, None),
]


def loadgen_figures(lines: Iterable[str], baseline: str = "mosquitto") -> tuple[list[dict[str, Any]], int]:
    cells: dict[tuple[str, str, str], list[float]] = {}
    dropped: dict[tuple[str, str], list[float]] = {}
    runs: set[int] = set()
    for line in lines:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if not isinstance(v, dict):
            continue
        label, scen, metric = v.get("label"), v.get("scenario"), v.get("metric")
        if not (label and scen and metric):
            continue
        if isinstance(v.get("run"), int):
            runs.add(v["run"])
        if isinstance(v.get("value"), (int, float)):
            cells.setdefault((scen, metric, label), []).append(float(v["value"]))
        if isinstance(v.get("peak_log_dropped"), (int, float)):
            dropped.setdefault((scen, label), []).append(float(v["peak_log_dropped"]))
    figs: list[dict[str, Any]] = []
    for scen, metric, name, unit, t_dis, t_dbg in LOADGEN_ROWS:
        ref = cells.get((scen, metric, baseline))
        for label, tgt in (("iotemu-disabled", t_dis), ("iotemu-debug", t_dbg)):
            vals = cells.get((scen, metric, label))
            if not vals:
                continue
            kw: dict[str, Any] = {}
            if ref:
                kw.update(ref_name=baseline, ref_value=statistics.median(ref))
            if tgt and ref:
                kw.update(target_op=tgt[0], target_value=tgt[1], target_on_ratio=True)
            if scen == "idle_rss":
                kw.update(target_op="<=", target_value=4096, target_on_ratio=False)
            figs.append(
                figure("broker", f"{name} ({label})", unit, statistics.median(vals), runs=vals, **kw)
            )
    for scen, _metric, name, _unit, _a, _b in LOADGEN_ROWS:
        d = dropped.get((scen, "iotemu-debug"))
        if d:
            figs.append(
                figure(
                    "log pipeline",
                    f"logEntriesDropped at the closed-loop peak, {name} (iotemu DEBUG)",
                    "count",
                    statistics.median(d),
                    runs=d,
                    target_op="<=",
                    target_value=0,
                )
            )
    return figs, len(runs)


# ---------------------------------------------------------------- command line


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add", help="append one figure")
    a.add_argument("--file", required=True)
    a.add_argument("--script")
    a.add_argument("--area", required=True, choices=AREAS)
    a.add_argument("--name", required=True)
    a.add_argument("--unit", required=True)
    a.add_argument("--value", required=True, help="a number, or 'median' of --runs")
    a.add_argument("--runs")
    a.add_argument("--ref-name")
    a.add_argument("--ref-value", type=float)
    a.add_argument("--target-op", choices=OPS)
    a.add_argument("--target-value", type=float)
    a.add_argument("--target-on-ratio", action="store_true", help="the target applies to value/reference")
    a.add_argument("--machine-note")
    a.add_argument("--run-count", type=int, default=0)
    lg = sub.add_parser("loadgen", help="figures from loadgen suite JSON lines")
    lg.add_argument("--file", required=True)
    lg.add_argument("--script", required=True)
    lg.add_argument("--results", required=True)
    lg.add_argument("--baseline", default="mosquitto")
    lg.add_argument("--machine-note")
    args = p.parse_args(argv)

    if args.cmd == "add":
        runs = _floats(args.runs)
        if args.value == "median":
            if not runs:
                p.error("--value median needs --runs")
            value = statistics.median(runs)
        else:
            value = float(args.value)
        fig = figure(
            args.area,
            args.name,
            args.unit,
            value,
            runs=runs,
            ref_name=args.ref_name,
            ref_value=args.ref_value,
            target_op=args.target_op,
            target_value=args.target_value,
            target_on_ratio=args.target_on_ratio,
        )
        append(args.file, fig, args.script, args.run_count or (len(runs) if runs else 1), args.machine_note)
        return 0
    with open(args.results, encoding="utf-8") as f:
        figs, nruns = loadgen_figures(f, args.baseline)
    doc = new_doc(args.script, nruns, args.machine_note)
    doc["figures"] = figs
    save(args.file, doc)
    print(f"bench_json: {len(figs)} figure(s) written to {args.file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
