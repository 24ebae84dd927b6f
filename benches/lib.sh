# Shared by the benchmark scripts: reading what `/usr/bin/time -v -o LOG` wrote.

# Wall-clock seconds of the timed command.
time_wall_seconds() { # log
  awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$1" |
    awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'
}

# Peak resident memory of the timed command, in KiB.
time_peak_kib() { # log
  awk -F': ' '/Maximum resident set size/ {print $2}' "$1"
}

# The machine in one line: cores, memory, CPU model, operating system.
bench_machine() {
  local os
  os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
  echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)${os:+, $os}, Linux $(uname -r)"
}

# Points DFSTORE_PII_KEY_FILE at DIR/pii.key, creating a random key there the
# first time. The key only needs to exist; benchmarks never print it.
bench_pii_key() { # dir
  export DFSTORE_PII_KEY_FILE="$1/pii.key"
  [ -s "$DFSTORE_PII_KEY_FILE" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DFSTORE_PII_KEY_FILE"
}

# Runs a command under `/usr/bin/time -v` and prints "seconds max_rss_kib".
# Its output goes to $bench_dir/last.out and last.err (the caller sets
# bench_dir); a failing command stops the benchmark with its errors shown.
bench_measure() { # command...
  local log="$bench_dir/time.$$"
  /usr/bin/time -v -o "$log" "$@" > "$bench_dir/last.out" 2> "$bench_dir/last.err" || {
    echo "command failed: $*" >&2; cat "$bench_dir/last.err" >&2; exit 1; }
  echo "$(time_wall_seconds "$log") $(time_peak_kib "$log")"
}
