#!/usr/bin/env bash
# Scale: 100,000 idle MQTT connections, a 10,000-connection storm, and the latency of fresh
# pairs while the idle ones are open; iotemu beside mosquitto. See benches/README.md.
#
#   scripts/bench-scale.sh             3 alternating runs per broker (~10 minutes on 2 cores)
#   scripts/bench-scale.sh --quick     1 run, 20,000 idle connections, 2,000 in the storm
#
# Options:
#   --runs N            runs per broker (default 3; 1 with --quick)
#   --idle N            idle connections (default 100000)
#   --storm N           clients in the connection storm (default 10000)
#   --storm-concurrency N  handshakes in flight in the storm (default 100)
#   --sources N         loopback source addresses the clients are spread over (default 8)
#   --log-level L       iotemu's log level (default: iotemu's default, DEBUG; stdout off)
#   --iotemu-only       no mosquitto (no references)
#   --skip-build        use the binaries already built
# Environment: IOTEMU_BIN (default <target dir>/release/iotemu).
# Writes bench-results/bench-scale.json (see scripts/bench-report.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0
RUNS=""
IDLE=100000
STORM=10000
STORM_CONC=100
SOURCES=8
LOG_LEVEL=""
SCALE_TO=""
IOTEMU_ONLY=0
SKIP_BUILD=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="${2:?}"; shift ;;
    --idle) IDLE="${2:?}"; shift ;;
    --storm) STORM="${2:?}"; shift ;;
    --storm-concurrency) STORM_CONC="${2:?}"; shift ;;
    --sources) SOURCES="${2:?}"; shift ;;
    --log-level) LOG_LEVEL="${2:?}"; shift ;;
    --iotemu-only) IOTEMU_ONLY=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench-scale.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ $QUICK == 1 ]]; then
  RUNS="${RUNS:-1}"
  [[ $IDLE == 100000 ]] && IDLE=20000
  [[ $STORM == 10000 ]] && STORM=2000
fi
RUNS="${RUNS:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "bench-scale.sh: --runs must be 1..99" >&2; exit 2; }

log() { printf '[bench-scale %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- limits
# Every idle connection is a descriptor in loadgen and one in the broker. Root may raise the
# hard limit up to fs.nr_open; others get what the hard limit allows.
NEED=$((IDLE + STORM + 2000))
ulimit -Hn "$((NEED + 10000))" 2>/dev/null || true
ulimit -n "$((NEED + 10000))" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt "$((IDLE + 1000))" ]]; then
  # The broker holds one descriptor per idle connection: it cannot hold more than the limit.
  FIT=$(( $(ulimit -n) - 2000 ))
  log "the open-file limit is $(ulimit -n) (hard $(ulimit -Hn); raising it was refused): $IDLE idle"
  log "connections cannot be held by one broker process here; measuring $FIT instead (the RSS per"
  log "connection is then extrapolated to $IDLE and marked so)"
  SCALE_TO="$IDLE"
  IDLE="$FIT"
fi

# ---------------------------------------------------------------- binaries
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LOADGEN="$TARGET_DIR/release/loadgen"
IOTEMU="${IOTEMU_BIN:-$TARGET_DIR/release/iotemu}"
if [[ $SKIP_BUILD == 0 ]]; then
  log "building loadgen and iotemu (release)"
  (cd "$ROOT" && cargo build --release --quiet -p iotemu-loadgen -p iotemu)
fi
[[ -x "$LOADGEN" && -x "$IOTEMU" ]] || { log "no binaries at $LOADGEN / $IOTEMU"; exit 1; }
MOSQ=""
if [[ $IOTEMU_ONLY == 0 ]]; then
  MOSQ="$(command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null || true)"
  if [[ -z "$MOSQ" ]]; then
    log "installing mosquitto from Debian"
    SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto >/dev/null
    MOSQ="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  fi
fi

# ---------------------------------------------------------------- brokers
TMP="$(mktemp -d /tmp/iotemu-bench-scale.XXXXXX)"
chmod 755 "$TMP"
BPID=""
BPORT=""
stop_broker() {
  [[ -n "$BPID" ]] || return 0
  kill -TERM "$BPID" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BPID" 2>/dev/null || true
  wait "$BPID" 2>/dev/null || true
  BPID=""
}
cleanup() { stop_broker; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_port() {
  for ((i = 0; i < 300; i++)); do
    kill -0 "$BPID" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start_broker() {  # $1 = mosquitto | iotemu
  : >"$TMP/broker.err"
  if [[ "$1" == mosquitto ]]; then
    BPORT="$("$LOADGEN" free-port)"
    # max_connections -1: unlimited (the default); the listener accepts every source address.
    cat >"$TMP/mosquitto.conf" <<EOF
listener $BPORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence false
log_dest none
EOF
    "$MOSQ" -c "$TMP/mosquitto.conf" >/dev/null 2>>"$TMP/broker.err" &
    BPID=$!
  else
    local args=(serve --ephemeral --mqtt-port 0 --mqtts-port 0 --api-port 0 --lns-port 0 --device-port 0 --no-stdout-logs)
    [[ -n "$LOG_LEVEL" ]] && args+=(--log-level "$LOG_LEVEL")
    "$IOTEMU" "${args[@]}" >/dev/null 2>>"$TMP/broker.err" &
    BPID=$!
    local line=""
    for ((i = 0; i < 300; i++)); do
      line="$(grep -m1 '^iotemu listening mqtt=' "$TMP/broker.err" 2>/dev/null || true)"
      [[ -n "$line" ]] && break
      sleep 0.1
    done
    BPORT="$(sed -nE 's/^iotemu listening mqtt=[^ ]*:([0-9]+)( .*)?$/\1/p' <<<"$line")"
  fi
  [[ -n "$BPORT" ]] && wait_for_port || { log "$1 did not start:"; tail -20 "$TMP/broker.err" >&2; return 1; }
}

LABELS=(iotemu)
[[ $IOTEMU_ONLY == 0 ]] && LABELS=(mosquitto iotemu)
RESULTS="$TMP/results.jsonl"
: >"$RESULTS"
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before start: $LOAD0 on $(nproc) cores (other busy processes make results noisy)"
log "$RUNS run(s); $IDLE idle connections over $SOURCES source addresses; storm of $STORM ($STORM_CONC in flight)"
for ((run = 1; run <= RUNS; run++)); do
  for ((k = 0; k < ${#LABELS[@]}; k++)); do
    label="${LABELS[$(((k + run - 1) % ${#LABELS[@]}))]}"
    start_broker "$label"
    log "run $run/$RUNS: $label (pid $BPID, port $BPORT)"
    if out="$(timeout 900 "$LOADGEN" scale --port "$BPORT" --pid "$BPID" --idle "$IDLE" --storm "$STORM" \
        --storm-concurrency "$STORM_CONC" --sources "$SOURCES" 2> >(sed 's/^/    /' >&2))"; then
      printf '{"label":"%s","run":%d,"result":%s}\n' "$label" "$run" "$out" >>"$RESULTS"
    else
      log "loadgen scale failed against $label"
    fi
    stop_broker
  done
done

python3 - "$RESULTS" "$ROOT" "$IDLE" "$STORM" "$LOAD0" "$RUNS" "$SCALE_TO" <<'EOF'
import json, os, statistics, sys
results, root, idle, storm, load0, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
scale_to = int(sys.argv[7]) if sys.argv[7] else None
sys.path.insert(0, os.path.join(root, "scripts"))
import bench_json as bj

rows = [json.loads(l) for l in open(results) if l.strip()]
def vals(label, f):
    out = []
    for r in rows:
        if r["label"] == label:
            try:
                x = f(r["result"])
            except (KeyError, TypeError):
                continue
            if isinstance(x, (int, float)):
                out.append(float(x))
    return out
med = lambda v: statistics.median(v) if v else None
MB = 1024 * 1024
rss = {l: [x / MB for x in vals(l, lambda r: r["rss_with_idle"])] for l in ("iotemu", "mosquitto")}
per = {l: vals(l, lambda r: r["rss_bytes_per_idle_conn"]) for l in ("iotemu", "mosquitto")}
st = {l: vals(l, lambda r: r["storm_connects_per_s"]) for l in ("iotemu", "mosquitto")}
p0 = {l: vals(l, lambda r: r["latency_idle_free"]["p99_us"]) for l in ("iotemu", "mosquitto")}
p1 = {l: vals(l, lambda r: r["latency_with_idle"]["p99_us"]) for l in ("iotemu", "mosquitto")}
figs = []
def ref(l, d):
    return dict(ref_name=l, ref_value=med(d[l])) if d.get(l) else {}
n = f"{idle:,}"
if rss["iotemu"] and scale_to:
    # Measured with `idle` connections (the open-file limit); RSS at `scale_to` extrapolated
    # linearly: RSS before the idle ones + per-connection growth x scale_to.
    def extra(l):
        out = []
        for r in rows:
            res = r["result"]
            if r["label"] == l and "rss_before_idle" in res:
                out.append((res["rss_before_idle"] + res["rss_bytes_per_idle_conn"] * scale_to) / MB)
        return out
    ex = {l: extra(l) for l in ("iotemu", "mosquitto")}
    figs.append(bj.figure("scale", f"broker RSS with {scale_to:,} idle connections, EXTRAPOLATED from {n} (iotemu)",
        "MB", med(ex["iotemu"]), runs=ex["iotemu"], target_op="<", target_value=1024, **ref("mosquitto", ex)))
    figs.append(bj.figure("scale", f"broker RSS with {n} idle connections, measured (iotemu)", "MB",
        med(rss["iotemu"]), runs=rss["iotemu"], **ref("mosquitto", rss)))
elif rss["iotemu"]:
    figs.append(bj.figure("scale", f"broker RSS with {n} idle connections (iotemu)", "MB", med(rss["iotemu"]),
        runs=rss["iotemu"], target_op="<", target_value=1024, **ref("mosquitto", rss)))
if per["iotemu"]:
    figs.append(bj.figure("scale", f"RSS per idle connection, {n} open (iotemu)", "bytes", med(per["iotemu"]),
        runs=per["iotemu"], **ref("mosquitto", per)))
if st["iotemu"]:
    kw = ref("mosquitto", st)
    if kw:
        kw.update(target_op=">=", target_value=1.0, target_on_ratio=True)
    figs.append(bj.figure("scale", f"{storm:,}-connection storm (iotemu)", "connects/s", med(st["iotemu"]),
        runs=st["iotemu"], **kw))
for l in ("iotemu", "mosquitto"):
    if p1[l] and p0[l]:
        kw = dict(ref_name=f"{l} p99 with nothing idle", ref_value=med(p0[l]))
        if l == "iotemu":
            kw.update(target_op="<=", target_value=1.5, target_on_ratio=True)
        figs.append(bj.figure("scale", f"fresh pairs' p99 latency with {n} idle ({l})", "us", med(p1[l]),
            runs=p1[l], **kw))
doc = bj.new_doc("bench-scale", runs,
    f"{os.cpu_count()} cores shared with other processes (builds); load average before start: {load0}")
doc["figures"] = figs
out = os.path.join(root, "bench-results", "bench-scale.json")
bj.save(out, doc)
print()
print(f"{'figure':<58} {'value':>12} {'reference':>12} {'ratio':>6} {'target':>8} met")
for f in figs:
    r = f.get("reference", {}).get("value")
    t = f.get("target")
    ts = f"{t['op']}{t['value']}{'x' if t.get('of') == 'ratio' else ''}" if t else ""
    met = {True: "yes", False: "NO", None: ""}[f.get("met")]
    print(f"{f['name']:<58} {f['value']:>12,.1f} {'' if r is None else format(r, ',.1f'):>12} "
          f"{f.get('ratio', ''):>6} {ts:>8} {met}")
    if f.get("runs"):
        print(f"{'':<58} runs: {', '.join(format(x, ',.1f') for x in f['runs'])}")
print(f"\nwritten: {out}")
EOF
