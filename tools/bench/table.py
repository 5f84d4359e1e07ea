#!/usr/bin/env python3
"""Prints the end-to-end table of docs/PERFORMANCE.md (markdown) from the JSON lines written by
`EdgeQuant.Bench e2e --json FILE`. Usage: python3 tools/bench/table.py out/bench/results.jsonl"""
import json
import sys
from collections import OrderedDict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
groups = OrderedDict()
for r in rows:
    groups.setdefault((r["model"], r["Threads"]), {})[r["Engine"]] = r
print("| model (weights) | threads | EdgeQuant INT8 (ms) | ORT INT8 (ms) | ORT FP32 (ms) | EQ / ORT INT8 | ORT FP32 / EQ | peak RSS EQ / ORT INT8 / ORT FP32 (MiB) |")
print("|---|---|---|---|---|---|---|---|")
for (model, threads), v in groups.items():
    if not all(k in v for k in ("edgequant-int8", "ort-int8", "ort-fp32")):
        continue
    e, i8, f32 = v["edgequant-int8"], v["ort-int8"], v["ort-fp32"]
    digits = 3 if e["Median"] < 1 else 1
    print(f"| {model} | {threads} | {e['Median']:.{digits}f} | {i8['Median']:.{digits}f} | {f32['Median']:.{digits}f} | "
          f"**{e['Median'] / i8['Median']:.2f}** | {f32['Median'] / e['Median']:.2f}x | "
          f"{e['PeakRssMiB']:.0f} / {i8['PeakRssMiB']:.0f} / {f32['PeakRssMiB']:.0f} |")
speedups = []
for (model, threads), v in groups.items():
    if threads == 2 and (model, 1) in groups and "edgequant-int8" in v:
        speedups.append(f"{model} {groups[(model, 1)]['edgequant-int8']['Median'] / v['edgequant-int8']['Median']:.2f}x")
print("\nEdgeQuant 2-thread speed-up: " + ", ".join(speedups))
