#!/usr/bin/env bash
# The rules-engine benchmark: messages/s through one topic rule (SELECT temp, seq FROM
# 'bench/+/data' WHERE temp > 30, republished to out/${topic(2)}) beside plain delivery of the
# same messages (one subscriber on bench/+/data), alternating in one run against one iotemu;
# prints a JSON line per measurement and the table of medians with the ratio rule / plain.
#
#   scripts/bench-rules.sh [--log-level LEVEL] [--rounds N] [--messages M] [--window W]
#                          [--skip-build]
#   defaults: DEBUG (iotemu's default), 3 rounds, 10 publishers x 50,000 QoS 0 messages per
#   measurement, window 100 per publisher; about a minute on 2 cores.
#
# Prints the ratio next to its target (issue 21: >= 0.8x of plain delivery) and writes
# bench-results/bench-rules.json (the shared format of docs/benchmarks, area "rules").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LEVEL=DEBUG ROUNDS=3 MESSAGES=50000 WINDOW=100 PUBLISHERS=10 BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --log-level) LEVEL="${2:?--log-level needs a level}"; shift 2 ;;
    --rounds) ROUNDS="${2:?--rounds needs a count}"; shift 2 ;;
    --messages) MESSAGES="${2:?--messages needs a count}"; shift 2 ;;
    --window) WINDOW="${2:?--window needs a count}"; shift 2 ;;
    --publishers) PUBLISHERS="${2:?--publishers needs a count}"; shift 2 ;;
    --skip-build) BUILD=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$BUILD" == 1 ]] && cargo build --release -p iotemu -p iotemu-loadgen >&2
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
WORK="$(mktemp -d)"
PID=""
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; [[ -n "$PID" ]] && wait "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc); iotemu --log-level $LEVEL" >&2
"$TARGET/release/iotemu" serve --ephemeral --mqtt-port 0 --mqtts-port 0 --api-port 0 --lns-port 0 --device-port 0 \
  --log-level "$LEVEL" --no-stdout-logs 2> "$WORK/stderr" &
PID=$!
for _ in $(seq 100); do grep -q "iotemu listening" "$WORK/stderr" 2>/dev/null && break; sleep 0.1; done
grep -q "iotemu listening" "$WORK/stderr" || { cat "$WORK/stderr" >&2; echo "iotemu did not start" >&2; exit 1; }
MQTT="$(grep -o 'mqtt=[0-9.:]*' "$WORK/stderr" | cut -d: -f2)"
API="$(grep -o 'api=[0-9.:]*' "$WORK/stderr" | cut -d: -f2)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
"$TARGET/release/loadgen" rules --port "$MQTT" --api-port "$API" --publishers "$PUBLISHERS" \
  --messages "$MESSAGES" --window "$WINDOW" --rounds "$ROUNDS" | tee "$WORK/out"
mkdir -p bench-results
python3 - "$WORK/out" "$STARTED" "$LOAD" "$ROUNDS" "$LEVEL" > bench-results/bench-rules.json <<'PY'
import json, os, statistics, sys
path, started, load, rounds, level = sys.argv[1:6]
lines = []
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        try:
            lines.append(json.loads(line))
        except ValueError:
            pass
plain = [v["msgs_per_s"] for v in lines if v.get("scenario") == "rules" and v.get("mode") == "plain"]
rule = [v["msgs_per_s"] for v in lines if v.get("scenario") == "rules" and v.get("mode") == "rule"]
p, r = (statistics.median(plain) if plain else 0), (statistics.median(rule) if rule else 0)
ratio = round(r / p, 3) if p else 0
per_round = [round(b / a, 3) for a, b in zip(plain, rule) if a]
lost = sum(v.get("lost", 0) for v in lines if v.get("scenario") == "rules")
name = "rule (WHERE + republish) msgs/s"
print(json.dumps({
    "script": "bench-rules",
    "started": started,
    "machine": {"cores": os.cpu_count(), "note": f"load average {load} at start (shared machine, other builds may run); iotemu --log-level {level}; {lost} messages lost"},
    "runs": int(rounds),
    "figures": [
        {"area": "rules", "name": name, "unit": "msgs/s", "value": r, "runs": rule,
         "reference": {"name": "plain delivery, same messages, same run", "value": p}, "ratio": ratio},
        {"area": "rules", "name": "rule (WHERE + republish) / plain delivery", "unit": "ratio", "value": ratio,
         "runs": per_round, "reference": {"name": "plain delivery msgs/s, same run", "value": p},
         "target": {"op": ">=", "value": 0.8}, "met": ratio >= 0.8},
    ],
}, indent=2))
PY
python3 - bench-results/bench-rules.json <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["figures"][1]
print(f"rules: ratio rule / plain {f['value']:.2f} (target >= 0.8: {'met' if f['met'] else 'MISSED'}); written to {sys.argv[1]}")
PY
