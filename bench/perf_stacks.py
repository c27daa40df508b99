#!/usr/bin/env python3
"""Summarises `perf script -F ip,sym` output (call chains, leaf first) of PostgreSQL backends.

Prints the share of samples spent in a few phases of a single-row INSERT transaction, then,
for the samples inside the function named by --focus, the top symbols by self time and by
children (inclusive) time. Used by bench/profile.sh.
"""

import argparse
import collections
import sys

INSERT_PHASES = [
    ("AFTER trigger queue (AfterTriggerEndQuery, incl. the trigger)", "AfterTriggerEndQuery"),
    ("inside the trigger (eventhooks_capture_event, inclusive)", "eventhooks_capture_event"),
    ("  of which write_event (event_log heap + index insert)", "eventhooks::pg::write_event"),
    ("  of which to_jsonb (row to jsonb)", "to_jsonb"),
    ("  of which jsonb_in (JSON text parsed to jsonb)", "jsonb_in"),
    ("executor: INSERT into the user table (standard_ExecutorRun)", "standard_ExecutorRun"),
    ("commit (CommitTransactionCommand, incl. WAL flush)", "CommitTransactionCommand"),
    ("  of which XLogFlush", "XLogFlush"),
    ("waiting for the client (pq_getbyte / secure_read)", "secure_read"),
]

WORKER_PHASES = [
    ("run_round: the worker's SQL transactions (record results, claim)", "eventhooks::pg::run_round"),
    ("  of which the executor (standard_ExecutorRun)", "standard_ExecutorRun"),
    ("  of which sorting (tuplesort_*)", "tuplesort_"),
    ("  of which jsonb_in (results JSON parsed)", "jsonb_in"),
    ("  of which commit (CommitTransactionCommand)", "CommitTransactionCommand"),
    ("dispatch: request body, headers, request log (where not inlined)", "=dispatch"),
    ("HttpClient::submit (libcurl: start the transfer, send the request)", "HttpClient::submit"),
    ("record_attempt: retry decision, response log JSON", "=record_attempt"),
    ("libcurl (curl_multi_socket_action)", "curl_multi_socket_action"),
    ("kernel: TCP send/receive", "tcp_"),
    ("kernel: file writes (WAL, relation extension)", "vfs_write"),
]


def read_stacks(stream):
    stacks, current = [], []
    for line in stream:
        line = line.strip()
        if not line:
            if current:
                stacks.append(current)
                current = []
            continue
        parts = line.split(None, 1)
        current.append(parts[1] if len(parts) > 1 else "[unknown]")
    if current:
        stacks.append(current)
    return stacks


def name(frame):
    # "sym+0x12 (dso)" or "sym (inlined)" -> "sym"
    frame = frame.split(" (")[0]
    if "+0x" in frame:
        frame = frame.split("+0x")[0]
    return frame


def short(sym, width=90):
    return sym if len(sym) <= width else sym[: width - 3] + "..."


def matches(frame, symbol):
    # "=name": the function itself (any namespace, also when inlined); otherwise a substring
    if symbol.startswith("="):
        return frame == symbol[1:] or frame.endswith("::" + symbol[1:])
    return symbol in frame


def is_kernel(frame):
    return "[kernel.kallsyms]" in frame


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--focus", default="eventhooks_capture_event")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--phases", choices=["insert", "worker"], default="insert")
    args = parser.parse_args()
    stacks = [[name(f) for f in s] for s in read_stacks(sys.stdin)]
    total = len(stacks)
    if total == 0:
        print("no samples")
        return 0
    print(f"CPU samples: {total}")
    print()
    print("| phase | share of CPU samples (inclusive) |")
    print("|---|---|")
    for label, symbol in INSERT_PHASES if args.phases == "insert" else WORKER_PHASES:
        n = sum(1 for s in stacks if any(matches(f, symbol) for f in s))
        print(f"| {label} | {100.0 * n / total:.1f}% |")

    if args.focus == "":
        inside = stacks
    else:
        inside = [s for s in stacks if args.focus in s]
    if not inside:
        print(f"\nno samples inside {args.focus}")
        return 0
    self_counts = collections.Counter()
    child_counts = collections.Counter()
    for s in inside:
        self_counts[s[0]] += 1
        depth = max(i for i, f in enumerate(s) if f == args.focus) if args.focus else len(s) - 1
        for f in set(s[: depth + 1]):
            child_counts[f] += 1
    n = len(inside)
    print()
    if args.focus:
        print(f"Inside {args.focus}: {n} samples ({100.0 * n / total:.1f}% of all samples).")
        print(f"Percentages below are of the samples inside {args.focus}.")
    print("[unknown] = a static function of the Debian postgres binary (stripped, no debug")
    print("symbols installed).")
    print()
    print(f"| # | self | symbol (self time) |")
    print("|---|---|---|")
    for i, (sym, c) in enumerate(self_counts.most_common(args.top), 1):
        print(f"| {i} | {100.0 * c / n:.1f}% | `{short(sym)}` |")
    print()
    print(f"| # | children (inclusive) | symbol |")
    print("|---|---|---|")
    shown = 0
    for sym, c in child_counts.most_common():
        if (sym in ("[unknown]", "operator()", "_start", "main", "__libc_start_main_impl",
                    "__libc_start_call_main", "PostmasterMain", "StartBackgroundWorker")
                or sym.startswith(("guard_entry<", "0x", "call_postgres<", "eventhooks::pg::call_postgres<"))
                or "{lambda()" in sym or "__GI___select" in sym):
            continue  # wrappers and entry frames that contain everything
        shown += 1
        print(f"| {shown} | {100.0 * c / n:.1f}% | `{short(sym)}` |")
        if shown >= args.top + 5:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
