#!/usr/bin/env bash
# The container image end to end: builds docker/Dockerfile, runs it with docker/seed.example.toml
# on a named volume, waits with `iotemu wait`, connects mosquitto clients and the AWS IoT Device
# SDK over mutual TLS, drives boto3, checks the entries with `iotemu check-entries`, restarts the
# container on its volume and finds the state again, and stops it with SIGTERM within 5 s.
#
# Installs docker.io (and debootstrap, for the offline base images) with apt-get when missing,
# and starts dockerd itself when none runs (`--bridge=none --iptables=false`, stopped again at
# the end). Skips, saying so, only when docker cannot run here. Host networking only: every
# listener is on 127.0.0.1 on free ports.
#
# The base images (rust:1-bookworm, gcr.io/distroless/static-debian12:nonroot) are made locally by
# scripts/docker-base-images.sh unless they are there already (IOTEMU_DOCKER_PULL=1 pulls them
# instead). IOTEMU_IMAGE names the image to build and test (default iotemu:test).
set -euo pipefail
cd "$(dirname "$0")/.."
started_at=$(date +%s)

IMAGE=${IOTEMU_IMAGE:-iotemu:test}
MAX_IMAGE_BYTES=$((30 * 1000 * 1000))
skip() { echo "test-container: SKIPPED: $*" >&2; exit 0; }
say() { echo "test-container: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

# --- docker ---------------------------------------------------------------------------------
missing=()
command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    skip "cannot install ${missing[*]} with apt-get"
fi
command -v docker >/dev/null 2>&1 || skip "no docker command after installing docker.io"

work=$(mktemp -d /tmp/iotemu-container-test.XXXXXX)
dockerd_pid=""
container=""
volume=""
cleanup() {
  set +e
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  [ -n "$volume" ] && docker volume rm -f "$volume" >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    as_root kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 100); do as_root kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null || skip "no docker daemon, and no root to start one"
  say "starting dockerd --bridge=none --iptables=false (log: $work/dockerd.log)"
  as_root dockerd --bridge=none --iptables=false >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 300); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 5 "$work/dockerd.log" >&2 || true
    dockerd_pid=""
    skip "dockerd does not start here (see its log above)"
  fi
fi

# --- base images and the image --------------------------------------------------------------
if [ "${IOTEMU_DOCKER_PULL:-0}" = 1 ]; then
  docker pull -q rust:1-bookworm >/dev/null && docker pull -q gcr.io/distroless/static-debian12:nonroot >/dev/null
else
  # The base images come from debootstrap and this machine's toolchain: a machine that cannot
  # make them (no Debian mirror, no debootstrap) cannot run this test, which is said, not failed.
  bash scripts/docker-base-images.sh || skip "could not make the base images here (see above)"
fi
# A container that does nothing: can this machine run containers at all?
docker run --rm --network host --entrypoint /bin/true rust:1-bookworm 2>"$work/run.err" ||
  { cat "$work/run.err" >&2; skip "docker cannot run a container here"; }

say "building $IMAGE (a release build: several minutes on 2 cores)"
build_start=$(date +%s)
previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
nice docker build --network host -q -f docker/Dockerfile -t "$IMAGE" . >"$work/build.log" 2>&1 ||
  { tail -n 30 "$work/build.log" >&2; exit 1; }
build_seconds=$(( $(date +%s) - build_start ))
# Disk: the build stage's untagged image (labelled by the Dockerfile) and the image this build
# replaced go; the base images stay for the next run.
docker image prune -f --filter label=iotemu.stage=build >/dev/null || true
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "image $IMAGE: $size bytes ($((size / 1000000)) MB), built in ${build_seconds} s"
[ "$size" -lt "$MAX_IMAGE_BYTES" ] || { echo "FAIL: the image is $size bytes, over $MAX_IMAGE_BYTES" >&2; exit 1; }
for label in title description version licenses; do
  [ -n "$(docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$label\"}}" "$IMAGE")" ] ||
    { echo "FAIL: no org.opencontainers.image.$label label" >&2; exit 1; }
done
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = "65532:65532" ] || { echo "FAIL: not nonroot" >&2; exit 1; }

# The image's own binary, for the start-to-ready measurement on this machine.
docker create --name "iotemu-extract-$$" "$IMAGE" >/dev/null
docker cp "iotemu-extract-$$:/usr/local/bin/iotemu" "$work/iotemu" >/dev/null
docker rm -v "iotemu-extract-$$" >/dev/null
# The Python clients (boto3, the AWS IoT Device SDK), as scripts/test.sh installs them.
if ! .venv/bin/python -c 'import awsiot, awscrt, boto3' >/dev/null 2>&1; then
  say "creating .venv with tests/requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q -r tests/requirements.txt
fi
PY=.venv/bin/python
if "$work/iotemu" --version >/dev/null 2>&1; then
  "$PY" tests/container/start_to_ready.py "$work/iotemu" 5 | sed 's/^/test-container: /' >&2
else
  say "the image's binary does not run on this host; start-to-ready not measured"
fi

# --- run it ----------------------------------------------------------------------------------
read -r MQTT MQTTS API LNS DEVICE < <("$PY" -c '
import socket
s = [socket.socket() for _ in range(5)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
container="iotemu-test-$$"
volume="iotemu-test-data-$$"
docker volume create "$volume" >/dev/null
run_start=$(date +%s%N)
docker run -d --name "$container" --network host \
  -v "$volume:/var/lib/iotemu" -v "$PWD/docker/seed.example.toml:/seed/seed.toml:ro" \
  -e IOTEMU_BIND=127.0.0.1 -e IOTEMU_MQTT_PORT="$MQTT" -e IOTEMU_MQTTS_PORT="$MQTTS" -e IOTEMU_API_PORT="$API" -e IOTEMU_LNS_PORT="$LNS" -e IOTEMU_DEVICE_PORT="$DEVICE" \
  -e IOTEMU_SEED=/seed/seed.toml -e IOTEMU_SERVER_NAMES=iotemu.test "$IMAGE" >/dev/null
wait_ready() {
  docker exec "$container" iotemu wait --timeout 20 || { docker logs "$container" 2>&1 | tail -n 20 >&2; exit 1; }
}
wait_ready
say "container start to ready (docker run, seed applied, iotemu wait via docker exec): $(( ($(date +%s%N) - run_start) / 1000000 )) ms"
for _ in $(seq 50); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$container")" = healthy ] && break
  sleep 0.2
done
[ "$(docker inspect -f '{{.State.Health.Status}}' "$container")" = healthy ] ||
  { echo "FAIL: the HEALTHCHECK never reported healthy" >&2; exit 1; }
# Into a variable first: with pipefail, `docker logs | grep -q` fails when grep stops reading
# before docker logs has written everything (SIGPIPE), which the entries on stdout make likely.
logs=$(docker logs "$container" 2>&1)
grep -q "iotemu seed applied" <<<"$logs" || { echo "FAIL: no seed line" >&2; exit 1; }

# The seed wrote the certificates into the volume.
docker cp "$container:/var/lib/iotemu/certs" "$work/certs" >/dev/null
certs="$work/certs"
ls "$certs"/sensor-1.cert.pem "$certs"/sensor-1.private.key "$certs"/sdk-device.cert.pem "$certs"/ca.pem >/dev/null
served_ca=$("$PY" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$API/_iotemu/ca.pem').read().decode())")
[ "$served_ca" = "$(cat "$certs/ca.pem")" ] || { echo "FAIL: GET /_iotemu/ca.pem differs from certs/ca.pem" >&2; exit 1; }

# Strict hostname checks: the server certificate holds --server-name and the hostname.
for name in localhost 127.0.0.1 iotemu.test "$(docker inspect -f '{{.Config.Hostname}}' "$container")"; do
  flag=-verify_hostname; [[ "$name" =~ ^[0-9.]+$ ]] && flag=-verify_ip
  out=$(openssl s_client -connect "127.0.0.1:$MQTTS" -CAfile "$certs/ca.pem" "$flag" "$name" -verify_return_error \
    -cert "$certs/sensor-1.cert.pem" -key "$certs/sensor-1.private.key" </dev/null 2>&1 || true)
  grep -q "Verify return code: 0 (ok)" <<<"$out" || { echo "FAIL: server certificate vs $name: $out" | head -n 20 >&2; exit 1; }
done
out=$(openssl s_client -connect "127.0.0.1:$MQTTS" -CAfile "$certs/ca.pem" -verify_hostname not-a-name.test -verify_return_error \
  -cert "$certs/sensor-1.cert.pem" -key "$certs/sensor-1.private.key" </dev/null 2>&1 || true)
grep -q "Verify return code: 0 (ok)" <<<"$out" && { echo "FAIL: a name the certificate does not hold passed" >&2; exit 1; }

# mosquitto over mutual TLS with the seeded certificate; boto3 publishes one of the messages.
tls=(-h localhost -p "$MQTTS" --cafile "$certs/ca.pem" --cert "$certs/sensor-1.cert.pem" --key "$certs/sensor-1.private.key")
mosquitto_sub "${tls[@]}" -i sensor-1-sub -t 'sensors/#' -t 'alerts/#' -q 1 -C 3 -W 20 -v >"$work/sub.out" &
sub_pid=$!
sleep 1
mosquitto_pub "${tls[@]}" -i sensor-1 -t sensors/sensor-1/telemetry -m '{"temperature":21}' -q 1
cert_id=$("$PY" tests/container/drive.py seeded "http://127.0.0.1:$API")
wait "$sub_pid" || { echo "FAIL: mosquitto_sub got $(cat "$work/sub.out")" >&2; exit 1; }
grep -q '^sensors/sensor-1/telemetry {"temperature":21}$' "$work/sub.out" &&
  grep -q '^alerts/sensor-1 {"temperature": \?35}$' "$work/sub.out" ||
  { echo "FAIL: mosquitto_sub got: $(cat "$work/sub.out")" >&2; exit 1; }

# The AWS IoT Device SDK v2, which checks the server certificate strictly.
"$PY" tests/python/device_sdk_roundtrip.py localhost "$MQTTS" "$certs/sdk-device.cert.pem" \
  "$certs/sdk-device.private.key" "$certs/ca.pem" sdk-device sensors/sdk-device/telemetry >/dev/null

# The entries: the log file in the volume, checked by the image's check-entries.
sleep 0.5
docker cp "$container:/var/lib/iotemu/entries.jsonl" "$work/entries.jsonl" >/dev/null
required=(--require Connect --require Subscribe --require Publish-In --require Publish-Out --require Disconnect
          --require RuleMatch --require RuleExecution)
if docker run --rm --network none "$IMAGE" check-entries --help >/dev/null 2>&1; then
  docker run --rm -i --network none "$IMAGE" check-entries - "${required[@]}" <"$work/entries.jsonl" >"$work/check.out" 2>&1 ||
    { cat "$work/check.out" >&2; echo "FAIL: iotemu check-entries" >&2; exit 1; }
  say "check-entries: $(tail -n 1 "$work/check.out")"
else
  # Until the image's iotemu has check-entries: at least the required entry types are there.
  say "WARNING: this iotemu has no check-entries command; checking only that the entry types are present"
  "$PY" - "$work/entries.jsonl" "${required[@]}" <<'PYTHON'
import json, sys
types = {json.loads(line)["eventType"] for line in open(sys.argv[1]) if line.strip()}
missing = [t for t in sys.argv[3::2] if t not in types]
assert not missing, f"no {missing} entries; found {sorted(types)}"
PYTHON
fi

# --- restart on the same volume --------------------------------------------------------------
stop_start=$(date +%s%N)
docker stop -t 10 "$container" >/dev/null
stop_ms=$(( ($(date +%s%N) - stop_start) / 1000000 ))
[ "$(docker inspect -f '{{.State.ExitCode}}' "$container")" = 0 ] || { echo "FAIL: exit code after SIGTERM" >&2; exit 1; }
[ "$stop_ms" -lt 5000 ] || { echo "FAIL: docker stop took $stop_ms ms" >&2; exit 1; }
say "docker stop (SIGTERM) took $stop_ms ms"
docker start "$container" >/dev/null
wait_ready
logs=$(docker logs "$container" 2>&1)
grep "iotemu seed applied" <<<"$logs" | tail -n 1 | grep -q "[1-9][0-9]* entries already there" ||
  { echo "FAIL: the seed did not find its entries on the restart" >&2; exit 1; }
"$PY" tests/container/drive.py restarted "http://127.0.0.1:$API" "$cert_id"
mosquitto_pub "${tls[@]}" -i sensor-1 -t sensors/sensor-1/telemetry -m '{"temperature":22}' -q 1

# --- SIGTERM ----------------------------------------------------------------------------------
term_start=$(date +%s%N)
docker kill --signal TERM "$container" >/dev/null
docker wait "$container" >"$work/exit.code"
term_ms=$(( ($(date +%s%N) - term_start) / 1000000 ))
[ "$(cat "$work/exit.code")" = 0 ] || { echo "FAIL: exit code $(cat "$work/exit.code") after SIGTERM" >&2; exit 1; }
[ "$term_ms" -lt 5000 ] || { echo "FAIL: SIGTERM to exit took $term_ms ms" >&2; exit 1; }
say "SIGTERM to exit: $term_ms ms"
say "PASSED in $(( $(date +%s) - started_at )) s (image build ${build_seconds} s)"
