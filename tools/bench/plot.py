#!/usr/bin/env python3
"""Renders docs/perf_e2e.svg from the JSON lines written by `EdgeQuant.Bench e2e --json FILE` (no plotting library
needed). Usage: python3 tools/bench/plot.py results.jsonl docs/perf_e2e.svg"""
import json
import sys
from collections import OrderedDict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
groups = OrderedDict()
for r in rows:
    groups.setdefault((r["model"], r["Threads"]), {})[r["Engine"]] = r["Median"]
engines = [("edgequant-int8", "#2b7a3d", "EdgeQuant INT8"), ("ort-int8", "#3b6fb6", "ONNX Runtime INT8"), ("ort-fp32", "#b0b0b0", "ONNX Runtime FP32")]
W, bar, gap, left, top, height = 900, 18, 26, 230, 50, 0
height = top + len(groups) * (len(engines) * bar + gap) + 40
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">',
       f'<text x="{left}" y="20" font-size="14" font-weight="bold">Batch-1 latency, median ms (scaled per group; shorter is faster)</text>']
for i, (name, color, label) in enumerate(engines):
    out.append(f'<rect x="{left + i * 170}" y="28" width="12" height="12" fill="{color}"/><text x="{left + i * 170 + 16}" y="38">{label}</text>')
y = top
for (model, threads), vals in groups.items():
    ref = max(vals.values())
    out.append(f'<text x="{left - 10}" y="{y + bar * 1.8}" text-anchor="end">{model}, {threads} thread{"s" if threads > 1 else ""}</text>')
    for name, color, _ in engines:
        if name not in vals:
            continue
        w = (W - left - 120) * vals[name] / ref
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 3}" fill="{color}"/>')
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 6}">{vals[name]:.2f} ms</text>')
        y += bar
    y += gap
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out))
print(f"wrote {sys.argv[2]} ({len(groups)} groups)")
