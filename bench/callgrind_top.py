#!/usr/bin/env python3
"""Turns `callgrind_annotate` output into a markdown table of the top functions.

Entries of one function that callgrind_annotate splits by source file (code inlined from a
header) are added up. With --below FUNC (for a run collected only inside FUNC, via
--toggle-collect), the frames that merely call FUNC are dropped: they carry (nearly) the whole
total. Divides by --per to print instructions per row. Used by bench/profile.sh.
"""

import argparse
import collections
import re
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def function_key(where):
    # "file:function [object]" or "file:function" -> ("function", "object")
    obj = ""
    m = re.match(r"^(.*) \[(.*)\]$", where)
    if m:
        where, obj = m.group(1), m.group(2).rsplit("/", 1)[-1]
    func = where.split(":", 1)[1] if ":" in where and not where.startswith("0x") else where
    if func.startswith(":"):
        func = func[1:]
    return strip_parameters(func), obj


def strip_parameters(func):
    # "ns::(anonymous namespace)::f(int, char*) const [clone .constprop.0]" -> "ns::(anon)::f"
    func = re.sub(r" \[clone [^]]*\]$", "", func)
    func = re.sub(r" const$", "", func)
    if not func.endswith(")"):
        return func.replace("(anonymous namespace)", "(anon)")
    depth = 0
    for i in range(len(func) - 1, -1, -1):
        if func[i] == ")":
            depth += 1
        elif func[i] == "(":
            depth -= 1
            if depth == 0:
                return func[:i].replace("(anonymous namespace)", "(anon)")
    return func


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--below")
    parser.add_argument("--per", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--title", default="function")
    args = parser.parse_args()
    total = None
    cost = collections.Counter()
    objects = {}
    for line in sys.stdin:
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        m = LINE.match(line)
        if not m or total is None:
            continue
        func, obj = function_key(m.group(3))
        if re.search(r"'\d+$", func):
            continue  # a recursion level: already inside its outer call's inclusive cost
        cost[func] += int(m.group(1).replace(",", ""))
        if obj:
            objects[func] = obj
    print(f"| # | Ir per row | share | {args.title} |")
    print("|---|---|---|---|")
    n = 0
    for func, ir in cost.most_common():
        if args.below and ir >= 0.98 * total and args.below not in func:
            continue
        n += 1
        obj = objects.get(func, "")
        label = f"{func} ({obj})" if obj else func
        print(f"| {n} | {ir / args.per:,.0f} | {100.0 * ir / total:.1f}% | `{label}` |")
        if n >= args.top:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
