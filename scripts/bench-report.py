#!/usr/bin/env python3
"""One table and one chart of every benchmark figure in bench-results/.

    python3 scripts/bench-report.py [--dir bench-results]

Reads every ``<dir>/*.json`` written by the bench scripts (format: benches/README.md,
"Results files"; report.json itself is skipped), prints one table (area, figure, value,
reference, ratio, target, met), and writes ``<dir>/report.json`` (all figures, each with the
script it came from) and ``<dir>/report.svg``: per figure a bar of its value relative to its
target (1.0 = on the target; the target line is drawn), green where the target is met, red
where it is missed, grey where there is no target. Plain SVG, standard library only.
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import math
import os
import sys
from typing import Any

AREA_ORDER = ["broker", "log pipeline", "log store", "rules", "shadows", "scale", "start"]
MET_COLOUR = "#2e8b57"
MISSED_COLOUR = "#c0392b"
NONE_COLOUR = "#9e9e9e"
REPORT_NAMES = ("report.json",)


def load_results(directory: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(figures with their script, the files' headers, warnings)."""
    figures: list[dict[str, Any]] = []
    headers: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        if os.path.basename(path) in REPORT_NAMES:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            warnings.append(f"{path}: not readable JSON ({e})")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("figures"), list):
            warnings.append(f"{path}: no 'figures' list")
            continue
        script = str(doc.get("script") or os.path.splitext(os.path.basename(path))[0])
        headers.append(
            {
                "script": script,
                "file": os.path.basename(path),
                "started": doc.get("started"),
                "machine": doc.get("machine"),
                "runs": doc.get("runs"),
            }
        )
        for fig in doc["figures"]:
            if not isinstance(fig, dict) or not isinstance(fig.get("value"), (int, float)):
                warnings.append(f"{path}: skipped a figure without a numeric value: {fig!r:.80}")
                continue
            f2 = dict(fig)
            f2["script"] = script
            f2.setdefault("area", "?")
            f2.setdefault("name", "?")
            f2.setdefault("unit", "")
            f2["met"] = judge(f2)
            figures.append(f2)
    figures.sort(key=lambda f: (area_rank(f["area"]), f["script"]))
    return figures, headers, warnings


def area_rank(area: str) -> int:
    return AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER)


def judged_value(fig: dict[str, Any]) -> float | None:
    """The number the target applies to: the ratio when the target says ``"of": "ratio"``."""
    t = fig.get("target") or {}
    if t.get("of") == "ratio":
        r = fig.get("ratio")
        if r is None:
            ref = (fig.get("reference") or {}).get("value")
            r = fig["value"] / ref if ref else None
        return r
    return fig["value"]


def judge(fig: dict[str, Any]) -> bool | None:
    """met as the file says; computed from value and target when the file leaves it out."""
    if isinstance(fig.get("met"), bool):
        return fig["met"]
    t = fig.get("target")
    if not isinstance(t, dict) or not isinstance(t.get("value"), (int, float)):
        return None
    v = judged_value(fig)
    if v is None:
        return None
    op, x = t.get("op"), t["value"]
    return {"<": v < x, "<=": v <= x, ">": v > x, ">=": v >= x}.get(op)


def fmt(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if v == int(v):
        return str(int(v))
    return f"{v:.3g}"


def target_text(fig: dict[str, Any]) -> str:
    t = fig.get("target")
    if not isinstance(t, dict):
        return ""
    if t.get("of") == "ratio" and isinstance(t.get("value"), (int, float)):
        return f"{t.get('op', '?')} {t['value']:.1f}x"
    return f"{t.get('op', '?')} {fmt(t.get('value'))}"


def met_text(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def table(figures: list[dict[str, Any]]) -> str:
    rows = [("area", "figure", "value", "unit", "reference", "ratio", "target", "met")]
    for f in figures:
        ref = f.get("reference") or {}
        ref_s = f"{ref.get('name')} {fmt(ref.get('value'))}" if ref else ""
        rows.append(
            (
                f["area"],
                f["name"],
                fmt(f["value"]),
                f["unit"],
                ref_s,
                fmt(f.get("ratio")) if f.get("ratio") is not None else "",
                target_text(f),
                met_text(f["met"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2, 5}
    out = []
    for k, r in enumerate(rows):
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    met = sum(1 for f in figures if f["met"] is True)
    judged = sum(1 for f in figures if f["met"] is not None)
    out.append("")
    out.append(f"{len(figures)} figure(s); targets met: {met}/{judged}")
    return "\n".join(out)


def relative(fig: dict[str, Any]) -> float | None:
    """Value relative to the target: 1.0 on the target; for a "<" target lower is better."""
    t = fig.get("target")
    v = judged_value(fig)
    if v is None:
        return None
    if isinstance(t, dict) and isinstance(t.get("value"), (int, float)):
        x = t["value"]
        if x == 0:
            return 0.0 if v == 0 else 2.0  # "0 dropped": any drop is off the scale
        return v / x
    r = fig.get("ratio")
    return float(r) if isinstance(r, (int, float)) else None


def svg(figures: list[dict[str, Any]], title: str = "iotemu benchmarks: value / target") -> str:
    cap = 3.0
    label_w, bar_w, value_w = 560, 420, 260
    row_h, top = 22, 60
    width = label_w + bar_w + value_w + 20
    height = top + row_h * max(1, len(figures)) + 40
    scale = bar_w / cap
    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" font-size="16" font-weight="bold">{e(title)}</text>',
        f'<text x="10" y="42" fill="#555">bar = value / target (1.0 = target line; '
        f'for "&lt;" targets shorter is better, for "&gt;" longer), capped at {cap:g}; '
        f'<tspan fill="{MET_COLOUR}">met</tspan>, <tspan fill="{MISSED_COLOUR}">missed</tspan>, '
        f'<tspan fill="{NONE_COLOUR}">no target (bar = ratio to reference)</tspan></text>',
    ]
    x0 = label_w
    for i, f in enumerate(figures):
        y = top + i * row_h
        rel = relative(f)
        colour = {True: MET_COLOUR, False: MISSED_COLOUR, None: NONE_COLOUR}[f["met"]]
        label = f"[{f['area']}] {f['name']}"
        if len(label) > 88:
            label = label[:85] + "..."
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="figure">{e(label)}</text>'
        )
        if rel is not None and math.isfinite(rel):
            w = max(1.0, min(rel, cap) * scale) if rel > 0 else 1.0
            parts.append(
                f'<rect class="bar" x="{x0}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{colour}" data-met="{met_text(f["met"]) or "none"}"/>'
            )
        val = f"{fmt(f['value'])} {f['unit']}"
        if f.get("target"):
            val += f" (target {target_text(f)})"
        parts.append(f'<text x="{x0 + bar_w + 8}" y="{y + 15}">{e(val)}</text>')
    # the target line at 1.0
    xt = x0 + scale
    parts.append(
        f'<line x1="{xt:.1f}" y1="{top - 4}" x2="{xt:.1f}" y2="{top + row_h * len(figures) + 4}" '
        'stroke="black" stroke-dasharray="4,3"/>'
    )
    parts.append(
        f'<text x="{xt:.1f}" y="{top + row_h * len(figures) + 18}" text-anchor="middle">target</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=os.path.join(root, "bench-results"))
    args = p.parse_args(argv)
    figures, headers, warnings = load_results(args.dir)
    for w in warnings:
        print(f"bench-report: warning: {w}", file=sys.stderr)
    if not headers:
        print(f"bench-report: no results in {args.dir}/*.json; run a bench script first", file=sys.stderr)
        return 1
    print(table(figures))
    for h in headers:
        m = h.get("machine") or {}
        print(f"  {h['file']}: started {h.get('started')}, runs {h.get('runs')}, {m.get('note', '')}")
    report = {"sources": headers, "figures": figures}
    with open(os.path.join(args.dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.dir, "report.svg"), "w", encoding="utf-8") as f:
        f.write(svg(figures))
    print(f"written: {os.path.join(args.dir, 'report.json')}, {os.path.join(args.dir, 'report.svg')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
