#!/usr/bin/env bash
# The log store's benchmark (see benches/logstore.py): store throughput while the broker runs at
# its peak, and FilterLogEvents latency over 1,000,000 stored entries (target: p99 under 5 ms); writes bench-results/bench-logstore.json.
#
#   scripts/bench-logstore.sh            full (about 5 minutes on 2 cores)
#   scripts/bench-logstore.sh --quick    100,000 entries, shorter load
#   scripts/bench-logstore.sh --only store|filter   one of the two
#
# Needs the test virtual environment (.venv, made by scripts/test.sh) or python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release -p iotemu -p iotemu-loadgen >&2
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
PYTHON="${IOTEMU_PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3
exec "$PYTHON" benches/logstore.py "$TARGET/release/iotemu" "$TARGET/release/loadgen" "$@"
