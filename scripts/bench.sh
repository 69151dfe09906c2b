#!/usr/bin/env bash
# Benchmarks iotemu against mosquitto on 127.0.0.1 and prints a table of medians and ratios.
# See benches/README.md.
#
#   scripts/bench.sh                 full run: 3 alternating runs per broker (~15 minutes)
#   scripts/bench.sh --quick         smoke test: 1 run, short durations, fewer clients (~2.5 minutes)
#
# Options:
#   --quick             short durations, fewer idle connections, 1 run unless --runs is given
#   --runs N            runs per broker (default 3)
#   --only LIST         scenarios, comma-separated: idle,connects,latency,throughput (default all)
#   --out FILE          also keep the raw JSON lines (one per scenario metric and run) in FILE
#   --skip-build        use the binaries already built
#   --mosquitto-only    compare mosquitto with a second mosquitto ("mosquitto-b"); no iotemu
#   --console           keep the console page open and streaming in headless Chromium while
#                       iotemu DEBUG runs (needs tests/console's npm ci and /usr/bin/chromium)
# Environment:
#   IOTEMU_BIN          iotemu binary (default: <workspace target dir>/release/iotemu)
#   LOADGEN_THREADS     loadgen's tokio worker threads (default 1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0
RUNS=""
ONLY="idle,connects,latency,throughput"
OUT=""
SKIP_BUILD=0
MOSQ_ONLY=0
CONSOLE=0
PAGEPID=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="${2:?--runs needs a number}"; shift ;;
    --only) ONLY="${2:?--only needs a list}"; shift ;;
    --out) OUT="${2:?--out needs a file}"; shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    --mosquitto-only) MOSQ_ONLY=1 ;;
    --console) CONSOLE=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "$RUNS" ]]; then
  if [[ $QUICK == 1 ]]; then RUNS=1; else RUNS=3; fi
fi
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "bench.sh: --runs must be 1..99" >&2; exit 2; }

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- limits
# 10,000 idle connections need ~10,100 descriptors in loadgen and in the broker.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 10400 ]]; then
  log "warning: open-file limit is $(ulimit -n); the 10,000-connection scenario will fail"
fi

# ---------------------------------------------------------------- mosquitto
find_mosquitto() {
  command -v mosquitto 2>/dev/null && return 0
  for p in /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
    [[ -x "$p" ]] && { echo "$p"; return 0; }
  done
  return 1
}
MOSQ="$(find_mosquitto || true)"
if [[ -z "$MOSQ" ]]; then
  log "installing mosquitto from Debian"
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto >/dev/null
  MOSQ="$(find_mosquitto)"
fi
log "mosquitto: $MOSQ ($("$MOSQ" -h 2>&1 | head -1 | grep -o 'version [0-9.]*' || true))"

# ---------------------------------------------------------------- build
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LOADGEN="$TARGET_DIR/release/loadgen"
IOTEMU="${IOTEMU_BIN:-$TARGET_DIR/release/iotemu}"
if [[ $SKIP_BUILD == 0 ]]; then
  log "building loadgen and iotemu (release)"
  if ! (cd "$ROOT" && cargo build --release --quiet -p iotemu-loadgen -p iotemu); then
    log "the build failed; fix it, or smoke-test the harness with --mosquitto-only"
    exit 1
  fi
fi
[[ -x "$LOADGEN" ]] || { log "no loadgen binary at $LOADGEN"; exit 1; }
if [[ $MOSQ_ONLY == 0 && ! -x "$IOTEMU" ]]; then
  log "no iotemu binary at $IOTEMU"; exit 1
fi

# ---------------------------------------------------------------- brokers
TMP="$(mktemp -d /tmp/iotemu-bench.XXXXXX)"
chmod 755 "$TMP"   # mosquitto started as root drops to its own user and must read its config
BPID=""
BPORT=""
APIPORT=""   # iotemu's API port (its /_iotemu/health counts dropped log entries)
cleanup() {
  [[ -n "$PAGEPID" ]] && kill -TERM "$PAGEPID" 2>/dev/null || true
  if [[ -n "$BPID" ]] && kill -0 "$BPID" 2>/dev/null; then
    kill -TERM "$BPID" 2>/dev/null || true
    sleep 0.5
    kill -KILL "$BPID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {  # waits until 127.0.0.1:$BPORT accepts, at most 30 s
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$BPID" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start_mosquitto() {
  BPORT="$("$LOADGEN" free-port)"
  local conf="$TMP/mosquitto.conf"
  # max_queued_messages: mosquitto 2.0.11 (Debian 12) leaks its per-client queued-message
  # count, so with 100000 it starts dropping a busy subscriber's QoS 1 messages after ~100k
  # queued deliveries (a QoS1 fan-in run passes that in 2 s). The limit is set far above any
  # run's total instead; the real backlog never exceeds 5,000 messages (loadgen's window).
  cat >"$conf" <<EOF
listener $BPORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 100000000
persistence false
log_dest none
EOF
  : >"$TMP/broker.out"
  "$MOSQ" -c "$conf" >>"$TMP/broker.out" 2>&1 &
  BPID=$!
  wait_for_port || { log "mosquitto did not start:"; cat "$TMP/broker.out" >&2; return 1; }
}

start_iotemu() {  # $1 = DEBUG | DISABLED
  local args=(serve --ephemeral --mqtt-port 0 --mqtts-port 0 --api-port 0 --lns-port 0 --device-port 0 --log-level "$1" --no-stdout-logs)
  if [[ "$1" == DEBUG ]]; then
    args+=(--log-file "$TMP/iotemu-debug.log")
  fi
  # Empty the files first: the child truncates them only after this shell has moved on.
  : >"$TMP/broker.out"
  : >"$TMP/broker.err"
  "$IOTEMU" "${args[@]}" >>"$TMP/broker.out" 2>>"$TMP/broker.err" &
  BPID=$!
  local i line=""
  for ((i = 0; i < 600; i++)); do
    line="$(grep -m1 '^iotemu listening mqtt=' "$TMP/broker.err" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    kill -0 "$BPID" 2>/dev/null || break
    sleep 0.1
  done
  BPORT="$(sed -nE 's/^iotemu listening mqtt=[^ ]*:([0-9]+)( .*)?$/\1/p' <<<"$line")"
  APIPORT="$(sed -nE 's/^iotemu listening .* api=[^ ]*:([0-9]+)( .*)?$/\1/p' <<<"$line")"
  if [[ -z "$BPORT" ]]; then
    log "iotemu did not report its listeners:"; tail -20 "$TMP/broker.err" >&2; return 1
  fi
  wait_for_port || { log "iotemu mqtt port $BPORT does not accept"; return 1; }
}

stop_broker() {
  if [[ -n "$PAGEPID" ]]; then
    kill -TERM "$PAGEPID" 2>/dev/null || true
    wait "$PAGEPID" 2>/dev/null || true
    PAGEPID=""
  fi
  [[ -n "$BPID" ]] || return 0
  if kill -0 "$BPID" 2>/dev/null; then
    kill -TERM "$BPID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$BPID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$BPID" 2>/dev/null; then
      log "broker $BPID ignored SIGTERM for 10 s; killing it"
      kill -KILL "$BPID" 2>/dev/null || true
    fi
  else
    log "warning: broker $BPID had already exited"
  fi
  wait "$BPID" 2>/dev/null || true
  BPID=""
}

start_broker() {  # $1 = label
  APIPORT=""
  case "$1" in
    mosquitto|mosquitto-b) start_mosquitto ;;
    iotemu-disabled) start_iotemu DISABLED ;;
    iotemu-debug)
      start_iotemu DEBUG
      if [[ $CONSOLE == 1 && -n "$APIPORT" ]]; then
        node "$ROOT/tests/console/hold-page.js" "http://127.0.0.1:$APIPORT/" 2>>"$TMP/page.log" &
        PAGEPID=$!
        for ((i = 0; i < 300; i++)); do
          grep -q 'open and streaming' "$TMP/page.log" 2>/dev/null && break
          kill -0 "$PAGEPID" 2>/dev/null || { log "the console page did not open:"; cat "$TMP/page.log" >&2; break; }
          sleep 0.1
        done
      fi
      ;;
  esac
}

# ---------------------------------------------------------------- runs
if [[ $MOSQ_ONLY == 1 ]]; then
  LABELS=(mosquitto mosquitto-b)
else
  LABELS=(mosquitto iotemu-disabled iotemu-debug)
fi
QUICK_ARG=()
[[ $QUICK == 1 ]] && QUICK_ARG=(--quick)
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
T0=$SECONDS
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before start: $LOAD0 on $(nproc) cores (other busy processes make results noisy)"
log "$RUNS run(s) x ${#LABELS[@]} brokers; scenarios: $ONLY$([[ $QUICK == 1 ]] && echo ' (quick)')"
for ((run = 1; run <= RUNS; run++)); do
  # Rotate the order every run so slow drift of the machine hits every broker alike.
  for ((k = 0; k < ${#LABELS[@]}; k++)); do
    label="${LABELS[$(((k + run - 1) % ${#LABELS[@]}))]}"
    start_broker "$label"
    # iotemu DEBUG: loadgen reads the dropped-entry count from the API port, so a throughput
    # figure counts only if every log entry was written (else it searches a lower offered rate).
    API_ARG=()
    if [[ "$label" == iotemu-debug ]]; then
      if [[ -n "$APIPORT" ]]; then
        API_ARG=(--api-port "$APIPORT")
      else
        log "warning: no api= port in iotemu's listening line; dropped log entries are not checked"
      fi
    fi
    log "run $run/$RUNS: $label (pid $BPID, port $BPORT${API_ARG[*]:+, api port $APIPORT})"
    t=$SECONDS
    if ! timeout 900 "$LOADGEN" --threads "${LOADGEN_THREADS:-1}" suite --port "$BPORT" --pid "$BPID" \
        --label "$label" --run "$run" --only "$ONLY" "${QUICK_ARG[@]}" "${API_ARG[@]}" \
        >>"$RESULTS" 2>>"$TMP/loadgen.log"; then
      log "loadgen failed or timed out against $label; see below"
    fi
    grep -h 'ERROR' "$TMP/loadgen.log" 2>/dev/null | sed 's/^/    /' >&2 || true
    grep -h 'rate search step' "$TMP/loadgen.log" 2>/dev/null | sed 's/^loadgen: /    /' >&2 || true
    : >"$TMP/loadgen.log"
    if [[ "$label" == iotemu-debug && -f "$TMP/iotemu-debug.log" ]]; then
      log "  iotemu DEBUG log written: $(du -h "$TMP/iotemu-debug.log" | cut -f1)"
      rm -f "$TMP/iotemu-debug.log"
    fi
    stop_broker
    log "  done in $((SECONDS - t)) s"
  done
done
log "all runs done in $((SECONDS - T0)) s"
if [[ -n "$OUT" ]]; then
  cp "$RESULTS" "$OUT"
  log "raw results: $OUT"
fi
echo
"$LOADGEN" report "$RESULTS"
# The same figures in the shared results format (bench-results/bench.json, read by
# scripts/bench-report.py together with the other bench scripts' files).
if [[ $MOSQ_ONLY == 0 ]]; then
  python3 "$ROOT/scripts/bench_json.py" loadgen --file "$ROOT/bench-results/bench.json" --script bench \
    --results "$RESULTS" --machine-note "$(nproc) cores shared with other processes; load average before start: $LOAD0" \
    || log "warning: could not write bench-results/bench.json"
fi
