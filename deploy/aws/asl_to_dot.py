#!/usr/bin/env python3
"""Draws an Amazon States Language definition as a Graphviz dot graph.

    python3 deploy/aws/asl_to_dot.py deploy/aws/nightly.asl.json > deploy/aws/nightly.dot
    dot -Tpng -Gdpi=80 deploy/aws/nightly.dot -o deploy/aws/nightly.png

States are nodes (shaped by type); edges are Next (solid), Choice rules and
Default (labelled), and Catch (dashed red, labelled with the errors caught), so
that the review can check by eye that every failure passes TerminateOnFailure.
Standard library only; output is deterministic so the .dot file diffs cleanly.
"""

import json
import sys

SHAPES = {
    "Task": ("box", "rounded,filled", "#dbe9f6"),
    "Pass": ("box", "filled", "#f2f2f2"),
    "Wait": ("box", "filled", "#fff2cc"),
    "Choice": ("diamond", "filled", "#fde9d9"),
    "Succeed": ("doublecircle", "filled", "#d9ead3"),
    "Fail": ("doublecircle", "filled", "#f4cccc"),
    "Parallel": ("box3d", "filled", "#ead1dc"),
    "Map": ("box3d", "filled", "#ead1dc"),
}


def q(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def rule_label(rule):
    """A short human label for a Choice rule: 'State == COMPLETED', 'FAILED|CANCELLED'."""
    for combinator in ("Or", "And"):
        if combinator in rule:
            parts = [rule_label(r) for r in rule[combinator]]
            values = [p.split(" == ", 1)[1] for p in parts if " == " in p]
            if combinator == "Or" and len(values) == len(parts):
                return parts[0].split(" == ")[0] + " in " + "|".join(values)
            return f" {combinator.lower()} ".join(parts)
    if "Not" in rule:
        return "not " + rule_label(rule["Not"])
    var = rule.get("Variable", "?").split(".")[-1]
    for op, sym in (("StringEquals", "=="), ("NumericGreaterThanEqualsPath", ">="),
                    ("NumericGreaterThanEquals", ">="), ("NumericEquals", "=="),
                    ("BooleanEquals", "==")):
        if op in rule:
            value = rule[op]
            if op.endswith("Path"):
                value = value.split(".")[-1]
            return f"{var} {sym} {value}"
    return var


def main(path):
    with open(path) as f:
        asl = json.load(f)
    out = ["digraph nightly {",
           '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.3, ranksep=0.35];',
           '  node [fontname="Helvetica", fontsize=10];',
           '  edge [fontname="Helvetica", fontsize=8];',
           '  __start [shape=point, width=0.15];',
           f"  __start -> {q(asl['StartAt'])};"]
    for name, state in asl["States"].items():
        kind = state["Type"]
        shape, style, color = SHAPES.get(kind, ("box", "filled", "white"))
        label = name
        if kind == "Task":
            label += "\\n" + state["Resource"].split(":::", 1)[-1]
        out.append(f"  {q(name)} [label=\"{label}\", shape={shape}, style=\"{style}\", fillcolor=\"{color}\"];")
    for name, state in asl["States"].items():
        if "Next" in state:
            out.append(f"  {q(name)} -> {q(state['Next'])};")
        for rule in state.get("Choices", []):
            out.append(f"  {q(name)} -> {q(rule['Next'])} [label={q(rule_label(rule))}];")
        if "Default" in state:
            out.append(f"  {q(name)} -> {q(state['Default'])} [label=\"otherwise\", style=dotted];")
        for catch in state.get("Catch", []):
            errors = ",".join(catch["ErrorEquals"])
            out.append(f"  {q(name)} -> {q(catch['Next'])} [label={q('catch ' + errors)}, style=dashed, color=\"#cc0000\", fontcolor=\"#cc0000\"];")
    out.append("}")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: asl_to_dot.py DEFINITION.asl.json > OUT.dot")
    main(sys.argv[1])
