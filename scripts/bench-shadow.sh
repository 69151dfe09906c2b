#!/usr/bin/env bash
# The Device Shadow benchmark: update -> /update/accepted latency over MQTT at 2,000 updates/s
# over 100 things, beside a plain MQTT round trip on the same broker at the same rate (the
# reference: mosquitto has no shadows), and UpdateThingShadow requests/s over HTTP.
#
#   scripts/bench-shadow.sh [--duration SECONDS]     (default 10; about a minute in all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION=10
[[ "${1:-}" == "--duration" ]] && DURATION="${2:?--duration needs seconds}"
cargo build --release -p iotemu -p iotemu-loadgen >&2
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$TARGET/release/iotemu" serve --data-dir "$WORK" --mqtt-port 0 --mqtts-port 0 --api-port 0 --lns-port 0 --device-port 0 \
  --no-stdout-logs --log-file "$WORK/entries.jsonl" 2> "$WORK/stderr" &
PID=$!
for _ in $(seq 100); do grep -q "iotemu listening" "$WORK/stderr" 2>/dev/null && break; sleep 0.1; done
MQTT="$(grep -o 'mqtt=[0-9.:]*' "$WORK/stderr" | cut -d: -f2)"
API="$(grep -o 'api=[0-9.:]*' "$WORK/stderr" | cut -d: -f2)"
LG="$TARGET/release/loadgen"
PLAIN="$("$LG" latency --port "$MQTT" --pairs 100 --rate 20 --duration "$DURATION")"
SHADOW="$("$LG" shadow --port "$MQTT" --things 100 --rate 20 --duration "$DURATION")"
HTTP="$("$LG" shadow-http --api-port "$API" --things 100 --concurrency 8 --duration "$DURATION")"
python3 - "$PLAIN" "$SHADOW" "$HTTP" <<'PY'
import json, sys
plain, shadow, http = (json.loads(a) for a in sys.argv[1:4])
print(json.dumps({"plain_mqtt_round_trip_2k_per_s": {k: plain[k] for k in ("p50_us", "p99_us", "samples", "lost")},
                  "shadow_update_to_accepted_2k_per_s": shadow,
                  "shadow_over_plain_p50": round(shadow["p50_us"] / max(plain["p50_us"], 1), 2),
                  "shadow_over_plain_p99": round(shadow["p99_us"] / max(plain["p99_us"], 1), 2),
                  "http_update_thing_shadow": http}, indent=2))
PY
