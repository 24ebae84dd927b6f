#!/usr/bin/env bash
# What each build of `dfstore` costs (docs/src/reference/features.md):
#
#   benches/features.sh
#
# For the default build and three builds with fewer cargo features, in the
# build folder the rest of the project uses ($CARGO_TARGET_DIR, else
# ./target): the time to rebuild dfstore-jobs and link `dfstore` after a
# change to it (its dependencies already built: run `cargo build --release
# --workspace --bins` first), the size of the binary, and the crates in its
# dependency graph. Writes benches/results/features.md (BENCH_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
out="${BENCH_OUT:-benches/results/features.md}"
bin="$CARGO_TARGET_DIR/release/dfstore"

# Prints "| build | flags | seconds | MB | crates |" for one build.
measure() { # label, cargo flags...
  local label=$1 start end crates
  shift
  # Everything but dfstore-jobs is built already; warm it for these flags.
  cargo build --release -p dfstore-jobs --bin dfstore --locked "$@" > /dev/null 2>&1
  touch jobs/src/lib.rs
  start=$(date +%s.%N)
  cargo build --release -p dfstore-jobs --bin dfstore --locked "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  crates=$(cargo tree -p dfstore-jobs -e normal,build --prefix none --locked "$@" |
    sed 's/ (\*)//' | sort -u | wc -l)
  awk -v label="$label" -v flags="${*:-(none)}" -v s="$start" -v e="$end" \
    -v bytes="$(stat -c %s "$bin")" -v crates="$crates" \
    'BEGIN { printf "| %s | `%s` | %.0f | %.1f | %d |\n", label, flags, e - s, bytes / 1e6, crates }'
}

rows=$(
  measure "default: aws, serve, dashboard"
  measure "serve, dashboard" --no-default-features --features dashboard
  measure "serve" --no-default-features --features serve
  measure "none" --no-default-features
)
# The default binary is what the rest of the project runs.
cargo build --release -p dfstore-jobs --bin dfstore --locked > /dev/null 2>&1

cat > "$out" <<MD
# What each build of dfstore costs

Written by \`benches/features.sh\`; rerun it rather than editing this file.

- **Command:** \`benches/features.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'))
- **Machine:** $(bench_machine)
- **Rebuild:** seconds to rebuild dfstore-jobs and link \`dfstore\` after touching \`jobs/src/lib.rs\`, every dependency already built, release profile
- **Size:** of \`dfstore\`, symbols stripped (MB = 10^6 bytes)
- **Crates:** in \`cargo tree -p dfstore-jobs -e normal,build\`, each counted once

| build | cargo flags | rebuild (s) | size (MB) | crates |
|---|---|---:|---:|---:|
$rows
MD
cat "$out"
