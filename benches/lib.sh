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
