"""The sizing table of benches/sizing.sh, from its runs (JSON lines).

Each line holds a scale, the engine, the machine's cores, the run's wall
time and peak RSS, and the run manifest (`dfstore run --format json`'s
"run"). Two stages:

- clean: raw -> staging -> trusted + rejected. A staging model writes its
  trusted and rejected tables in the same pass, so the stage's seconds are
  the staging steps' (their trusted and rejected steps share that time);
  its rows are the raw rows read.
- report: trusted -> analytic; its rows are the trusted rows it reads.

Prints a markdown table.

    python3 benches/sizing_table.py RUNS.jsonl
"""

import json
import sys
from collections import defaultdict


def main(path: str) -> None:
    print(
        "| scale | engine | stage | rows in | seconds | rows/s per core | "
        "run wall (s) | peak RSS (MiB) |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    with open(path) as lines:
        for line in lines:
            entry = json.loads(line)
            run = entry["run"]
            raw = sum(sum(i["rows"].values()) for i in run["inputs"])
            seconds = defaultdict(float)
            trusted = 0
            for step in run["steps"]:
                layer = step["table"].split(".")[0]
                seconds[layer] += step["seconds"]
                if layer == "trusted":
                    trusted += step["rows"]
            phases = run.get("timings", {})
            stages = [
                ("clean", raw, seconds["staging"]),
                ("report", trusted, seconds["analytic"]),
                ("reconcile + publish", None, phases.get("reconcile", 0) + phases.get("publish", 0)),
            ]
            for i, (stage, rows, secs) in enumerate(stages):
                first = i == 0
                rate = f"{rows / secs / entry['cores']:,.0f}" if rows and secs > 0 else ""
                print(
                    "| {} | {} | {} | {} | {:.2f} | {} | {} | {} |".format(
                        f"{entry['scale']:g}" if first else "",
                        entry["engine"] if first else "",
                        stage,
                        f"{rows:,}" if rows is not None else "",
                        secs,
                        rate,
                        f"{entry['wall']:.1f}" if first else "",
                        entry["rss_mib"] if first else "",
                    )
                )


if __name__ == "__main__":
    main(sys.argv[1])
