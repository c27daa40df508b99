#!/usr/bin/env python3
"""Turns `callgrind_annotate` output into a markdown table of the top functions.

callgrind_annotate splits a function's entry by source file when code was inlined from a
header: self costs of the parts are added up; for inclusive listings (--inclusive) the largest
part is taken, since parts can nest (so inclusive figures of such functions are lower bounds).
With --below FUNC and --self-listing FILE (a run collected only inside FUNC, via
--toggle-collect), the frames that merely call FUNC are dropped: outside the collected
function their own instructions were not counted, so they have no self cost. Divides by --per
to print instructions per row. Used by bench/profile.sh.
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


def read_listing(stream, inclusive):
    total = None
    cost = collections.Counter()
    objects = {}
    for line in stream:
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        m = LINE.match(line)
        if not m or total is None:
            continue
        func, obj = function_key(m.group(3))
        if re.search(r"'\d+$", func):
            continue  # a recursion level: already inside its outer call's inclusive cost
        ir = int(m.group(1).replace(",", ""))
        cost[func] = max(cost[func], ir) if inclusive else cost[func] + ir
        if obj:
            objects[func] = obj
    return total, cost, objects


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--below")
    parser.add_argument("--self-listing")
    parser.add_argument("--inclusive", action="store_true")
    parser.add_argument("--per", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--title", default="function")
    args = parser.parse_args()
    total, cost, objects = read_listing(sys.stdin, args.inclusive)
    has_self = None
    if args.self_listing:
        with open(args.self_listing) as f:
            _, self_cost, _ = read_listing(f, False)
        has_self = {func for func, ir in self_cost.items() if ir > 0}
    print(f"| # | Ir per row | share | {args.title} |")
    print("|---|---|---|---|")
    n = 0
    for func, ir in cost.most_common():
        if args.below and args.below not in func:
            if has_self is not None and func not in has_self:
                continue  # only calls FUNC
            if ir >= 0.97 * total:
                continue  # a function both calling FUNC and called inside it (FunctionCall1Coll)
        n += 1
        obj = objects.get(func, "")
        label = f"{func} ({obj})" if obj else func
        print(f"| {n} | {ir / args.per:,.0f} | {100.0 * ir / total:.1f}% | `{label}` |")
        if n >= args.top:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
