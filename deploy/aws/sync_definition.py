#!/usr/bin/env python3
"""Keeps the state machine definition inlined in nightly.yaml equal to nightly.asl.json.

nightly.asl.json is the source (asl-validator and the moto test read it); the
template carries a copy under `DefinitionString: !Sub |` so that it deploys as
one self-contained file. Both keep the same `${...}` placeholders, which the
template's Fn::Sub fills in.

    python3 deploy/aws/sync_definition.py           # check: exit 1 if they differ
    python3 deploy/aws/sync_definition.py --write   # copy the ASL file into the template

Standard library only, so that it runs anywhere validate.sh does.
"""

import difflib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nightly.yaml"
ASL = HERE / "nightly.asl.json"
MARKER = "      DefinitionString: !Sub |"
INDENT = " " * 8  # the block scalar's indentation under MARKER


def split_template(lines):
    """(before the block incl. MARKER, the block's lines, after the block)."""
    try:
        start = lines.index(MARKER) + 1
    except ValueError:
        sys.exit(f"{TEMPLATE}: no line '{MARKER.strip()}'")
    end = start
    while end < len(lines) and (lines[end].startswith(INDENT) or lines[end].strip() == ""):
        end += 1
    # trailing blank lines belong to what follows, not to the block
    while end > start and lines[end - 1].strip() == "":
        end -= 1
    return lines[:start], lines[start:end], lines[end:]


def main():
    template_lines = TEMPLATE.read_text().split("\n")
    before, block, after = split_template(template_lines)
    inlined = "\n".join(line[len(INDENT):] for line in block)
    source = ASL.read_text().rstrip("\n")
    json.loads(source)  # the source must stay JSON (placeholders live inside strings)

    if "--write" in sys.argv[1:]:
        new_block = [INDENT + line if line else "" for line in source.split("\n")]
        TEMPLATE.write_text("\n".join(before + new_block + after))
        print(f"wrote {ASL.name} into {TEMPLATE.name}")
        return 0
    if inlined == source:
        print(f"ok: the definition inlined in {TEMPLATE.name} equals {ASL.name}")
        return 0
    print(f"{TEMPLATE.name}'s inlined definition differs from {ASL.name}; "
          f"run: python3 deploy/aws/sync_definition.py --write")
    sys.stdout.writelines(difflib.unified_diff(
        (source + "\n").splitlines(True), (inlined + "\n").splitlines(True),
        str(ASL.name), f"{TEMPLATE.name} (inlined)", n=2))
    return 1


if __name__ == "__main__":
    sys.exit(main())
