#!/usr/bin/env bash
# The slow-subscriber benchmark (see benches/slow_subscriber.py): a QoS 1 subscriber that never
# reads while publishers flood its topic; prints iotemu's RSS before, at its peak and at the end,
# and how many deliveries were dropped (`publishOutThrottled`). About 25 seconds per run.
#
#   scripts/bench-slow-subscriber.sh [--duration S] [--qos 0|1] [--publishers N] [--log-level L]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -p iotemu >&2
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec python3 benches/slow_subscriber.py "${IOTEMU_BIN:-$TARGET/release/iotemu}" "$@"
