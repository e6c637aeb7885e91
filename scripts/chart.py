#!/usr/bin/env python3
"""Draws the benchmark chart (an SVG, by hand: no third-party packages).

The input is a data table, one figure a row, tab-separated:

    panel  group  series  value  unit

Rows of one panel are drawn as one chart: a cluster of bars per group, a bar
per series; a row whose series is `target` is drawn as a dashed line across
its group (e.g. end-to-end throughput ratio 0.95). A panel in `ns` (or `us`, `ms`) is drawn on a log scale, time in
one unit; any other unit (e.g. `ratio`) on a linear scale from 0. Lines
starting with `#` are comments. Panels appear in the order of their first
row.

With --criterion DIR, the rows of the `engines` panel are first rebuilt
from criterion's results for benches/engines.rs (the medians in
DIR/*/*/new/estimates.json) and written back to the table; the other
panels' rows (end-to-end ratios, say) are kept as they are.

    python3 scripts/chart.py --criterion target/criterion \\
        benches/engines/chart-data.tsv benches/engines.svg
"""

import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

# Criterion function ids of benches/engines.rs -> series shown, in order.
ENGINE_SERIES = [
    ("ours decide", "ours (decide)"),
    ("cedar is_authorized", "Cedar is_authorized"),
    ("rego eval_rule", "regorus eval_rule"),
    ("rego vm execute", "regorus RVM execute"),
]
ENGINE_GROUP_PREFIX = "engines/"
PALETTE = ["#1b6ca8", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#00798c"]
TIME_UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6}


def read_table(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if len(cells) != 5:
                sys.exit(f"{path}:{n}: expected 5 tab-separated cells, found {len(cells)}")
            panel, group, series, value, unit = cells
            try:
                value = float(value)
            except ValueError:
                sys.exit(f"{path}:{n}: value {value!r} is not a number")
            rows.append((panel, group, series, value, unit))
    return rows


def write_table(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# panel\tgroup\tseries\tvalue\tunit (see scripts/chart.py)\n")
        for panel, group, series, value, unit in rows:
            f.write(f"{panel}\t{group}\t{series}\t{value:.6g}\t{unit}\n")


def engine_rows(criterion_dir):
    """The median of each benches/engines.rs function, in ns."""
    found = {}
    for root, _dirs, files in os.walk(criterion_dir):
        if os.path.basename(root) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(root, "benchmark.json"), encoding="utf-8") as f:
            bench = json.load(f)
        group = bench.get("group_id", "")
        if not group.startswith(ENGINE_GROUP_PREFIX):
            continue
        with open(os.path.join(root, "estimates.json"), encoding="utf-8") as f:
            median = json.load(f)["median"]["point_estimate"]
        found[(group[len(ENGINE_GROUP_PREFIX):], bench.get("function_id"))] = median
    cases = sorted({case for case, _ in found}, key=case_order)
    rows = []
    for case in cases:
        for function, label in ENGINE_SERIES:
            if (case, function) in found:
                rows.append(("engines", case, label, found[(case, function)], "ns"))
    if not rows:
        sys.exit(f"no benches/engines.rs results under {criterion_dir}")
    return rows


def case_order(case):
    # The order of benches/decide.rs.
    order = ["CN", "US m7i", "unknown country", "US unknown"]
    return next((i for i, p in enumerate(order) if case.startswith(p)), len(order)), case


def fmt_time(ns):
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def panel_svg(y0, width, title, rows):
    """One panel's SVG elements, starting at y0; returns (elements, height)."""
    unit = rows[0][4]
    if any(r[4] != unit for r in rows):
        sys.exit(f"panel {title}: mixed units")
    targets = {r[1]: r[3] for r in rows if r[2] == "target"}
    rows = [r for r in rows if r[2] != "target"]
    groups = list(dict.fromkeys(r[1] for r in rows))
    series = list(dict.fromkeys(r[2] for r in rows))
    values = {(r[1], r[2]): r[3] for r in rows}
    log = unit in TIME_UNITS
    scale = TIME_UNITS.get(unit, 1.0)

    label_w, right = 210, 120
    plot_w = width - label_w - right
    bar_h, gap = 14, 12
    top = y0 + 44
    group_h = bar_h * len(series) + gap
    plot_h = group_h * len(groups)
    out = [f'<text x="10" y="{y0 + 20}" class="title">{escape(title)}</text>']

    if log:
        vals = [v * scale for v in values.values() if v > 0]
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))

        def x_of(v):
            return label_w + plot_w * (math.log10(v * scale) - math.log10(lo)) / (
                math.log10(hi) - math.log10(lo)
            )

        ticks = []
        t = lo
        while t <= hi * 1.0001:
            ticks.append((t, fmt_time(t)))
            t *= 10
        x_of_tick = lambda t: x_of(t / scale)  # noqa: E731
        axis_note = "median time per request, log scale (shorter is faster)"
    else:
        hi = max(1.0, max(list(values.values()) + list(targets.values())) * 1.1)
        x_of = lambda v: label_w + plot_w * v / hi  # noqa: E731
        step = 10 ** math.floor(math.log10(hi))
        if hi / step < 3:
            step /= 5 if hi / step < 1.5 else 2
        ticks = [(i * step, f"{i * step:g}") for i in range(int(hi / step) + 1)]
        x_of_tick = x_of
        axis_note = unit
    out.append(f'<text x="{label_w}" y="{y0 + 36}" class="note">{escape(axis_note)}</text>')

    for t, text in ticks:
        x = x_of_tick(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" class="tick">{escape(text)}</text>')

    for gi, group in enumerate(groups):
        gy = top + gi * group_h
        out.append(
            f'<text x="{label_w - 8}" y="{gy + bar_h * len(series) / 2 + 4:.1f}" '
            f'class="group">{escape(group)}</text>'
        )
        base = values.get((group, series[0]))
        for si, s in enumerate(series):
            v = values.get((group, s))
            if v is None:
                continue
            y = gy + si * bar_h
            x0 = label_w if not log else x_of(lo / scale)
            w = max(1.0, x_of(v) - x0)
            color = PALETTE[si % len(PALETTE)]
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 1}" width="{w:.1f}" height="{bar_h - 2}" fill="{color}"/>'
            )
            if log:
                text = fmt_time(v * scale)
                if si > 0 and base:
                    text += f"  ({v / base:,.0f}× ours)"
            else:
                text = f"{v:g}"
            tx = max(x0 + w, x_of(targets[group]) if group in targets else 0) + 4
            out.append(f'<text x="{tx:.1f}" y="{y + bar_h - 3}" class="value">{escape(text)}</text>')
        if group in targets:
            x = x_of(targets[group])
            out.append(
                f'<line x1="{x:.1f}" y1="{gy - 2}" x2="{x:.1f}" y2="{gy + bar_h * len(series) + 2}" class="target"/>'
            )

    ly = top + plot_h + 30
    lx = label_w
    for si, s in enumerate(series):
        color = PALETTE[si % len(PALETTE)]
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}" class="legend">{escape(s)}</text>')
        lx += 24 + 7 * len(s)
    if targets:
        out.append(f'<line x1="{lx}" y1="{ly - 9}" x2="{lx}" y2="{ly + 1}" class="target"/>')
        out.append(f'<text x="{lx + 6}" y="{ly}" class="legend">target</text>')
    return out, ly + 20 - y0


def render(rows, title):
    width = 860
    panels = list(dict.fromkeys(r[0] for r in rows))
    parts, y = [], 30
    for p in panels:
        elems, h = panel_svg(y, width, PANEL_TITLES.get(p, p), [r for r in rows if r[0] == p])
        parts.extend(elems)
        y += h + 10
    style = (
        "text{font-family:sans-serif;font-size:11px;fill:#222}"
        ".title{font-size:14px;font-weight:bold}.note{fill:#555}"
        ".tick{text-anchor:middle;fill:#555}.group{text-anchor:end}"
        ".grid{stroke:#ddd;stroke-width:1}"
        ".target{stroke:#222;stroke-width:1.5;stroke-dasharray:4 3}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        f'viewBox="0 0 {width} {y}">\n<style>{style}</style>\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="10" y="18" class="note">{escape(title)}</text>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


PANEL_TITLES = {
    "engines": "The default policy's decision: ours vs Cedar vs Rego (regorus)",
    "end-to-end": "End to end: layered / bare, per request kind",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", help="the data table (TSV); created or updated with --criterion")
    ap.add_argument("svg", help="the SVG to write")
    ap.add_argument("--criterion", metavar="DIR", help="rebuild the engines rows from criterion's results in DIR")
    ap.add_argument("--title", default="tower-export-control benchmarks (benches/engines.rs; BENCHMARKS.md)")
    args = ap.parse_args()

    rows = read_table(args.table)
    if args.criterion:
        rows = engine_rows(args.criterion) + [r for r in rows if r[0] != "engines"]
        write_table(args.table, rows)
    if not rows:
        sys.exit(f"{args.table}: no rows")
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write(render(rows, args.title))


if __name__ == "__main__":
    main()
