"""The sizing table of benches/sizing.sh, from its runs (JSON lines).

Each line holds a scale, the engine, the machine's cores, the run's wall
time and peak RSS, and the run manifest (`dfstore run --format json`'s
"run"). A stage is the models of one schema (staging, trusted, rejected,
analytic); its rows are the rows they wrote and its seconds the sum of
their wall times. Prints a markdown table.

    python3 benches/sizing_table.py RUNS.jsonl
"""

import json
import sys
from collections import defaultdict

STAGES = ["staging", "trusted", "rejected", "analytic"]


def main(path: str) -> None:
    print(
        "| scale | engine | raw rows read | stage | rows written | seconds | "
        "rows/s per core | run wall (s) | peak RSS (MiB) |"
    )
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|")
    with open(path) as lines:
        for line in lines:
            entry = json.loads(line)
            run = entry["run"]
            raw = sum(sum(i["rows"].values()) for i in run["inputs"])
            rows = defaultdict(int)
            seconds = defaultdict(float)
            for step in run["steps"]:
                stage = step["table"].split(".")[0]
                rows[stage] += step["rows"]
                seconds[stage] += step["seconds"]
            phases = run.get("timings", {})
            stages = [(s, rows[s], seconds[s]) for s in STAGES if s in seconds]
            stages += [
                (f"phase {p}", None, phases[p])
                for p in ("reconcile", "publish")
                if p in phases
            ]
            for i, (stage, written, secs) in enumerate(stages):
                first = i == 0
                rate = (
                    f"{written / secs / entry['cores']:,.0f}"
                    if written and secs > 0
                    else ""
                )
                print(
                    "| {} | {} | {} | {} | {} | {:.2f} | {} | {} | {} |".format(
                        f"{entry['scale']:g}" if first else "",
                        entry["engine"] if first else "",
                        f"{raw:,}" if first else "",
                        stage,
                        f"{written:,}" if written is not None else "",
                        secs,
                        rate,
                        f"{entry['wall']:.1f}" if first else "",
                        entry["rss_mib"] if first else "",
                    )
                )


if __name__ == "__main__":
    main(sys.argv[1])
