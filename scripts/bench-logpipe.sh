#!/usr/bin/env bash
# The log pipeline's benchmark (see benches/logpipe.py): the pipeline's own rate into the file
# (target >= 1.2 M entries/s), and, at the broker's DEBUG closed-loop peak in each throughput
# scenario (fan-in, 50 pairs, fan-out; QoS 0 and 1), the entries dropped (target 0) and the share
# the log store missed (target < 1%). Prints a table; writes bench-results/bench-logpipe.json.
#
#   scripts/bench-logpipe.sh                 full: 3 runs (about 6 minutes on 2 cores)
#   scripts/bench-logpipe.sh --quick         1 run, short measurements
#   scripts/bench-logpipe.sh --runs N --only pipeline|broker --skip-build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SKIP_BUILD=0
ARGS=()
for a in "$@"; do
  if [[ "$a" == --skip-build ]]; then SKIP_BUILD=1; else ARGS+=("$a"); fi
done
if [[ $SKIP_BUILD == 0 ]]; then
  cargo build --release -p iotemu -p iotemu-loadgen >&2
  cargo build --release -p iotemu-cwlogs --example logpipe >&2
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PYTHON="${IOTEMU_PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON=python3
exec "$PYTHON" benches/logpipe.py "$TARGET/release/iotemu" "$TARGET/release/loadgen" \
  "$TARGET/release/examples/logpipe" "${ARGS[@]}"
