#!/usr/bin/env bash
# Start time: from exec to the `iotemu listening` line, with an empty data directory and with
# one holding 100,000 things and 1,000,000 log entries (prepared through iotemu's own API).
# See benches/README.md.
#
#   scripts/bench-start.sh              7 starts of each kind (preparing takes ~2-4 minutes)
#   scripts/bench-start.sh --quick      3 starts, 10,000 things, 100,000 entries
#
# Options: --runs N, --things N, --entries N, --keep DIR (prepare into DIR once and reuse it),
# --skip-build. Environment: IOTEMU_BIN (default <target dir>/release/iotemu).
# Writes bench-results/bench-start.json (see scripts/bench-report.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=7
THINGS=100000
ENTRIES=1000000
KEEP=()
SKIP_BUILD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) RUNS=3; THINGS=10000; ENTRIES=100000 ;;
    --runs) RUNS="${2:?}"; shift ;;
    --things) THINGS="${2:?}"; shift ;;
    --entries) ENTRIES="${2:?}"; shift ;;
    --keep) KEEP=(--keep "${2:?}"); shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench-start.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
log() { printf '[bench-start %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
IOTEMU="${IOTEMU_BIN:-$TARGET_DIR/release/iotemu}"
if [[ $SKIP_BUILD == 0 && -z "${IOTEMU_BIN:-}" ]]; then
  log "building iotemu (release)"
  (cd "$ROOT" && cargo build --release --quiet -p iotemu)
fi
[[ -x "$IOTEMU" ]] || { log "no iotemu binary at $IOTEMU"; exit 1; }

LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before start: $LOAD0 on $(nproc) cores (other busy processes make results noisy)"
OUT="$(python3 "$ROOT/benches/start.py" "$IOTEMU" --runs "$RUNS" --things "$THINGS" --entries "$ENTRIES" "${KEEP[@]}")"

python3 - "$OUT" "$ROOT" "$LOAD0" <<'EOF'
import json, os, sys
r, root, load0 = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(root, "scripts"))
import bench_json as bj
full = f"{r['things']:,} things and {r['entries']:,} log entries"
figs = [
    bj.figure("start", "exec -> listening, empty data directory (first start: creates the CA)", "ms",
              r["empty_first_median_ms"], runs=r["empty_first_ms"], target_op="<", target_value=100),
    bj.figure("start", "exec -> listening, empty data directory (second start)", "ms",
              r["empty_second_median_ms"], runs=r["empty_second_ms"], target_op="<", target_value=100),
    bj.figure("start", f"exec -> listening, {full}", "ms", r["full_median_ms"], runs=r["full_ms"],
              ref_name="empty data directory, second start", ref_value=r["empty_second_median_ms"],
              target_op="<", target_value=300),
    # No target in the issue: the things load after the line, so a request that needs them waits.
    bj.figure("start", f"exec -> first DescribeThing answered, {full}", "ms",
              r["full_first_describe_thing_median_ms"], runs=r["full_first_describe_thing_ms"]),
]
doc = bj.new_doc("bench-start", r["runs"],
                 f"{os.cpu_count()} cores shared with other processes (builds); load average before start: {load0}")
doc["figures"] = figs
doc["detail"] = r
out = os.path.join(root, "bench-results", "bench-start.json")
bj.save(out, doc)
print()
print(f"{'start':<78} {'median ms':>9} {'target':>7} met   runs")
for f in figs:
    met = {True: "yes", False: "NO", None: ""}[f.get("met")]
    tgt = "<" + str(f["target"]["value"]) if f.get("target") else ""
    print(f"{f['name']:<78} {f['value']:>9} {tgt:>7} {met:<4}  {f['runs']}")
if "prepare" in r:
    print(f"\nprepared in {r['prepare']['prepare_things_s']} s (things) + {r['prepare']['prepare_entries_s']} s "
          f"(entries); database files: {r['prepare']['db_bytes']}")
print(f"written: {out}")
EOF
