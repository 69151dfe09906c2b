#!/usr/bin/env bash
# Runs one cargo-fuzz target for a number of seconds, installing cargo-fuzz and the nightly
# toolchain when they are missing (the pattern of scripts/fuzz-sql.sh). Every fuzz folder is a
# workspace of its own; they share one build directory, target/fuzz, so common dependencies are
# built once. The corpus grows in <folder>/corpus/<target> (not committed), seeded from
# <folder>/seeds/<target>; a crash is saved under <folder>/artifacts/<target> and fails the run.
# Usage: bash scripts/fuzz-run.sh FUZZ_FOLDER TARGET [SECONDS] [MAX_LEN]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
folder="$1"
target="$2"
seconds="${3:-600}"
max_len="${4:-4096}"
cd "$root/$folder"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

mkdir -p "corpus/$target"
exec cargo +nightly fuzz run --target-dir "$root/target/fuzz" "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len="$max_len" -timeout=30
