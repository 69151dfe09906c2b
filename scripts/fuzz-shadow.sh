#!/usr/bin/env bash
# Fuzzes the Device Shadow update (parse, merge, delta, answers)
# (crates/shadow/fuzz, target shadow_update) for a number of seconds (default 600); see scripts/fuzz-run.sh.
# Usage: bash scripts/fuzz-shadow.sh [SECONDS]
exec bash "$(dirname "$0")/fuzz-run.sh" crates/shadow/fuzz shadow_update "${1:-600}"
