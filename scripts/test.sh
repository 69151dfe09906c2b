#!/usr/bin/env bash
# Runs every test of iotemu on a fresh machine: installs what the tests drive (Debian's
# mosquitto-clients and openssl; a Python virtual environment in .venv/ with the AWS IoT Device
# SDK, paho-mqtt, boto3, the AWS CLI, websockets and pytest; lora-packet for Node.js in tests/lorawan, mqtt.js in tests/mqttjs;
# Debian's chromium and playwright-core in tests/console for the console's browser test), then `cargo test` over the whole workspace and
# the pytest suite in tests/python.
# Safe to re-run: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Users have only this repository: no tracked file may read or cite files beside it. (The
# patterns are bracketed so that this guard does not match itself.)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  outside=$(git grep -n -e '[.][.]/shared' -e '/work/[s]hared' -- . || true)
  if [ -n "$outside" ]; then
    echo "error: these tracked lines refer to files outside the repository:" >&2
    echo "$outside" >&2
    exit 1
  fi
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# Node.js runs the LoRaWAN tests' independent device (lora-packet, tests/lorawan).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# Headless Chromium runs the console's browser test (tests/console, playwright-core).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# And headless Firefox the same page (tests/console/firefox.test.js, puppeteer-core).
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! .venv/bin/python -c 'import awsiot, awscrt, paho.mqtt, boto3, pytest, websockets, moto.server' >/dev/null 2>&1; then
  echo "creating .venv with tests/requirements.txt" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r tests/requirements.txt
fi
if [ ! -d tests/lorawan/node_modules/lora-packet ]; then
  echo "installing tests/lorawan's Node.js packages (lora-packet)" >&2
  (cd tests/lorawan && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d tests/mqttjs/node_modules/mqtt ]; then
  echo "installing tests/mqttjs's Node.js packages (mqtt)" >&2
  (cd tests/mqttjs && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d tests/console/node_modules/playwright-core ]; then
  echo "installing tests/console's Node.js packages (playwright-core)" >&2
  (cd tests/console && npm ci --no-audit --no-fund --loglevel=error)
fi
export IOTEMU_PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

cargo test --workspace --locked "$@"
# The Python suite drives the binary cargo just built with boto3 and the AWS CLI.
IOTEMU_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/iotemu" .venv/bin/python -m pytest -q tests/python
