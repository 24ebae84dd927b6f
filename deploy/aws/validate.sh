#!/usr/bin/env bash
# Validates and tests the AWS side of the nightly pipeline (deploy/aws/):
#   1. cfn-lint on the CloudFormation template,
#   2. asl-validator on the state machine definition,
#   3. the template's inlined definition equals nightly.asl.json,
#   4. nightly.dot is what asl_to_dot.py draws from the definition, and
#      nightly.png what Graphviz renders from nightly.dot,
#   5. check_template.py --self-test: the template's own rules (region in every
#      step, idle timeout above the steps' budget, history limit, security
#      groups, TLS, disk encryption, tags, the state machine's IAM actions,
#      the COPY role), each also shown to fail on the defect it guards,
#   6. shellcheck on every script under deploy/,
#   7. test_state_machine.py: the definition executed on moto (success, a failed,
#      cancelled or interrupted step, a failed bootstrap, a timed-out step,
#      refused settings).
# Every check runs even when an earlier one failed, so one run shows all that
# is wrong. The last line is "N passed, M failed" (the checks above, with the
# moto test's own checks counted one by one); the exit status is 0 only if M = 0.
#
# Idempotent: the tools are installed once, outside the repository, into
#   ${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}  cfn-lint==1.58.0
#   ${DFSTORE_NPM_DIR:-/var/tmp/dfstore-npm}        asl-validator@4.0.0
#   ${DFSTORE_VENV:-/var/tmp/dfstore-venv}          moto[server]==5.2.1 (+ boto3), shared with the Rust tests
#   (Debian's shellcheck and graphviz packages, installed with apt-get when missing)
# Needs python3, node 20 and npm, and the PyPI, npm and Debian registries the first time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
aws_venv="${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}"
npm_dir="${DFSTORE_NPM_DIR:-/var/tmp/dfstore-npm}"
moto_venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
cfn_lint_version=1.58.0
asl_validator_version=4.0.0
moto_spec='moto[server]==5.2.1'

passed=0
failed=0
check() { # check NAME COMMAND...: runs it, counts it, shows its output only on failure
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        printf '%s\n' "$out" | sed 's/^/     /'
    fi
}

# ---- tools (installed only when missing or at another version)
if [[ "$("$aws_venv/bin/cfn-lint" --version 2>/dev/null || true)" != "cfn-lint $cfn_lint_version" ]]; then
    echo "installing cfn-lint==$cfn_lint_version into $aws_venv"
    python3 -m venv "$aws_venv"
    "$aws_venv/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$cfn_lint_version"
fi
if [[ "$(node -p "require('$npm_dir/node_modules/asl-validator/package.json').version" 2>/dev/null || true)" != "$asl_validator_version" ]]; then
    echo "installing asl-validator@$asl_validator_version into $npm_dir"
    mkdir -p "$npm_dir"
    npm install --prefix "$npm_dir" --no-audit --no-fund --silent "asl-validator@$asl_validator_version"
fi
if ! "$moto_venv/bin/python" -c 'import boto3, moto, sys; sys.exit(moto.__version__ != "5.2.1")' 2>/dev/null; then
    echo "installing $moto_spec into $moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install --quiet --disable-pip-version-check "$moto_spec"
fi

if ! command -v shellcheck >/dev/null; then
    echo "installing shellcheck (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
if ! command -v dot >/dev/null; then
    echo "installing graphviz (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
fi

# ---- static checks
check "cfn-lint $cfn_lint_version: nightly.yaml (no errors, no warnings)" \
    "$aws_venv/bin/cfn-lint" "$here/nightly.yaml"
check "asl-validator $asl_validator_version: nightly.asl.json" \
    "$npm_dir/node_modules/.bin/asl-validator" --json-path "$here/nightly.asl.json"
check "nightly.yaml's inlined definition equals nightly.asl.json" \
    python3 "$here/sync_definition.py"
dot_is_current() {
    diff -u "$here/nightly.dot" <(python3 "$here/asl_to_dot.py" "$here/nightly.asl.json") \
        || { echo "regenerate: python3 deploy/aws/asl_to_dot.py deploy/aws/nightly.asl.json > deploy/aws/nightly.dot"; return 1; }
}
check "nightly.dot is drawn from nightly.asl.json" dot_is_current
png_is_current() {
    dot -Tpng -Gdpi=80 "$here/nightly.dot" | cmp - "$here/nightly.png" \
        || { echo "regenerate: dot -Tpng -Gdpi=80 deploy/aws/nightly.dot -o deploy/aws/nightly.png"; return 1; }
}
check "nightly.png is rendered from nightly.dot ($(dot -V 2>&1))" png_is_current
check "check_template.py: the template's rules hold, and each fails on its defect" \
    "$aws_venv/bin/python" "$here/check_template.py" --self-test
# Every script under deploy/, as bash (deploy/local/postgres.sh is sourced and
# has no shebang); -x follows what a script sources, from the repository root.
# deploy/aws/ at every severity; deploy/local/ at warning and above.
shellcheck_deploy() {
    local root aws_scripts local_scripts
    root="$(cd "$here/../.." && pwd)"
    mapfile -t aws_scripts < <(cd "$root" && find deploy/aws -name '*.sh' -type f | sort)
    mapfile -t local_scripts < <(cd "$root" && find deploy -name '*.sh' -type f -not -path 'deploy/aws/*' | sort)
    (cd "$root" && shellcheck -x --shell=bash "${aws_scripts[@]}" \
        && shellcheck -x --shell=bash --severity=warning "${local_scripts[@]}") \
        && echo "shellcheck: $((${#aws_scripts[@]} + ${#local_scripts[@]})) scripts clean"
}
check "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): every script under deploy/" shellcheck_deploy

# ---- the definition executed on moto
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
set +e
"$moto_venv/bin/python" "$here/test_state_machine.py" | tee "$test_log"
test_rc="${PIPESTATUS[0]}"
set -e
summary="$(tail -n 1 "$test_log")"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    if [[ "$test_rc" -ne 0 && "${BASH_REMATCH[2]}" -eq 0 ]]; then
        failed=$((failed + 1))  # non-zero exit without a failed check: count it
        echo "FAIL test_state_machine.py exited $test_rc"
    fi
else
    failed=$((failed + 1))
    echo "FAIL test_state_machine.py did not print its summary (exit $test_rc)"
fi

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
