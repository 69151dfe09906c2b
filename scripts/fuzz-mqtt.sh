#!/usr/bin/env bash
# Fuzzes the MQTT 3.1.1 and 5 codec (CONNECT, then every packet type) and the topic checks
# (crates/broker/fuzz, target mqtt_codec) for a number of seconds (default 600); see scripts/fuzz-run.sh.
# Usage: bash scripts/fuzz-mqtt.sh [SECONDS]
exec bash "$(dirname "$0")/fuzz-run.sh" crates/broker/fuzz mqtt_codec "${1:-600}"
