#!/usr/bin/env bash
# Fuzzes the CloudWatch Logs filter-pattern parser and matcher
# (crates/cwlogs/fuzz, target filter_pattern) for a number of seconds (default 600); see scripts/fuzz-run.sh.
# Usage: bash scripts/fuzz-logs-filter.sh [SECONDS]
exec bash "$(dirname "$0")/fuzz-run.sh" crates/cwlogs/fuzz filter_pattern "${1:-600}"
