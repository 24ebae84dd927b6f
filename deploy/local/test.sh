#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test of
# the workspace. Services the tests need are started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# One build folder outside the clone, reused between runs (and by CI).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (the cluster tests start the real binaries)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked
