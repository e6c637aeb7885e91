#!/usr/bin/env python3
"""Per-request cost by function: the difference between two callgrind
outputs (N requests and 1 request) divided by N-1, inclusive or self.

    scripts/callgrind-diff.py MANY.out ONE.out N [--self] [--top K] [--grep WORD]
"""
import re
import subprocess
import sys


def costs(path, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
         "--threshold=100", path],
        capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m:
            name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2))
            table[name] = table.get(name, 0) + int(m.group(1).replace(",", ""))
    return table


def main():
    args = sys.argv[1:]
    inclusive = "--self" not in args
    top = 40
    word = None
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
    if "--grep" in args:
        word = args[args.index("--grep") + 1]
    many, one, n = args[0], args[1], int(args[2])
    a, b = costs(many, inclusive), costs(one, inclusive)
    rows = [((a.get(k, 0) - b.get(k, 0)) / (n - 1), k) for k in set(a) | set(b)]
    rows = [r for r in rows if word is None or word in r[1]]
    rows.sort(reverse=True)
    for cost, name in rows[:top]:
        print(f"{cost:10.0f}  {name[:170]}")


main()
