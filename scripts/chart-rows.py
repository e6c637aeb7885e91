#!/usr/bin/env python3
"""Replaces one panel's rows in the chart's data table (see chart.py).

    ... | python3 scripts/chart-rows.py PANEL TABLE

Reads tab-separated rows `group  series  value  unit` on stdin and writes
them to TABLE as the rows of PANEL, in place of the panel's former rows;
rows of other panels and comments are kept, in their order. scripts/wrk.sh
and scripts/callgrind.sh call it when CHART names the table.
"""

import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    panel, table = sys.argv[1], sys.argv[2]
    new = []
    for n, line in enumerate(sys.stdin, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 4:
            sys.exit(f"stdin:{n}: expected 4 tab-separated cells, found {len(cells)}")
        float(cells[2])
        new.append("\t".join([panel] + cells))
    try:
        with open(table, encoding="utf-8") as f:
            old = f.read().splitlines()
    except FileNotFoundError:
        old = []
    kept = [l for l in old if l.startswith("#") or l.split("\t", 1)[0] != panel]
    with open(table, "w", encoding="utf-8") as f:
        f.write("\n".join(kept + new) + "\n")


if __name__ == "__main__":
    main()
