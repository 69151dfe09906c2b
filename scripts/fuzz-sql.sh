#!/usr/bin/env bash
# Fuzzes the AWS IoT SQL parser and evaluator (crates/rules/fuzz, target sql_parse) for a number of
# seconds (default 600), installing cargo-fuzz and the nightly toolchain when they are missing.
# The corpus grows in crates/rules/fuzz/corpus/sql_parse (not committed), seeded from seeds/;
# a crash is saved under crates/rules/fuzz/artifacts/sql_parse and makes the script fail.
# Usage: bash scripts/fuzz-sql.sh [SECONDS] [TARGET]   (TARGET: sql_parse or template)
set -euo pipefail
cd "$(dirname "$0")/../crates/rules/fuzz"

seconds="${1:-600}"
target="${2:-sql_parse}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

mkdir -p "corpus/$target"
# -timeout: one input may legitimately spend a whole evaluation budget (seconds with ASan).
exec cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len=512 -timeout=30
