#!/usr/bin/env bash
# Fuzzes the IoT policy-document parser and evaluator
# (crates/registry/fuzz, target policy_document) for a number of seconds (default 600); see scripts/fuzz-run.sh.
# Usage: bash scripts/fuzz-policy.sh [SECONDS]
exec bash "$(dirname "$0")/fuzz-run.sh" crates/registry/fuzz policy_document "${1:-600}"
