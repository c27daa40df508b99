#!/usr/bin/env bash
# Drain and fairness of the delivery worker with one flaky webhook next to a healthy one
# (issue 16, item 2), in one run:
#  - receiver: bench/flaky_receiver.py on 127.0.0.1 (HTTP/1.1, keep-alive, seeded draws):
#    /flaky answers 20% 500, 5% 200 only after 4 s (past the trigger's 3 s timeout), 3% drops
#    the connection, the rest 200 at once; /healthy answers 200 at once. It keeps, for every
#    request, the path, webhook-id, current_retry, what it answered, and when.
#  - server: a throwaway cluster (bench/lib.sh) with shared_preload_libraries = pg_eventhooks and
#    the eventhooks defaults; flaky_trigger on t_flaky (num_retries 5, interval_sec 1,
#    timeout_sec 3) and healthy_trigger on t_healthy (num_retries 3, interval_sec 1,
#    timeout_sec 3).
#  - load: for --seconds (60) single-row INSERT transactions, paced by pgbench --rate: 350/s into
#    t_flaky and 20/s into t_healthy; then up to --drain-limit (120) s for no event to be
#    pending. Every 5 s: pending events per trigger, retries overdue by more than 1 s, new events
#    not sent after 1 s, and the worker's counters.
#  - report: requests/s to /flaky during the load against the feed rate, and against the rate
#    needed to keep up (feed x attempts per event); commit-to-first-request and commit-to-2xx
#    latency per webhook (created_at, the transaction's start, against the receiver's clock:
#    the same machine); retry lateness = received - (previous attempt's end + interval_sec),
#    the end being when the 500 was answered or the connection dropped, or received + 3 s for a
#    request answered after the timeout; and the loss checks (nothing left pending, tries within
#    limits, one 2xx per delivered event, none for failed ones).
#
# Usage: bench/fairness.sh [--seconds S] [--flaky-rate R] [--healthy-rate R] [--drain-limit S]
#        [--seed N]   (run as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

seconds=60
flaky_rate=350
healthy_rate=20
drain_limit=120
seed=16
args="$*"
while (($#)); do
    case $1 in
        --seconds) seconds=$2; shift ;;
        --flaky-rate) flaky_rate=$2; shift ;;
        --healthy-rate) healthy_rate=$2; shift ;;
        --drain-limit) drain_limit=$2; shift ;;
        --seed) seed=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((seconds >= 5 && seconds <= 600 && flaky_rate >= 1 && flaky_rate <= 2000 && healthy_rate >= 1 &&
  healthy_rate <= 1000 && drain_limit >= 10 && drain_limit <= 1800)) || { echo "bad arguments" >&2; exit 2; }

make_work fairness
trap bench_cleanup EXIT
echo "# fairness benchmark: a flaky webhook next to a healthy one, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/fairness.sh $args  (load ${seconds}s: ${flaky_rate}/s into t_flaky, ${healthy_rate}/s into t_healthy; drain limit ${drain_limit}s; receiver seed $seed)"
machine_line
build_line
start_cluster 1
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB, shared_preload_libraries=pg_eventhooks,"
echo "  eventhooks.max_concurrent_deliveries=$(sql -c 'SHOW eventhooks.max_concurrent_deliveries')" \
    "fetch_batch_size=$(sql -c 'SHOW eventhooks.fetch_batch_size')" \
    "poll_interval=$(sql -c 'SHOW eventhooks.poll_interval') (defaults)"

# The receiver runs as root from the checkout; --watch-pid: it exits by itself once this
# script is gone.
python3 "$bench_dir/flaky_receiver.py" --port-file "$work/receiver.port" --log "$work/requests.tsv" \
    --seed "$seed" --delay-sec 4 --watch-pid $$ >"$work/receiver.log" 2>&1 &
receiver_pid=$!
bench_pids+=("$receiver_pid")
for _ in $(seq 100); do [[ -s $work/receiver.port ]] && break; sleep 0.1; done
[[ -s $work/receiver.port ]] || { echo "receiver did not start" >&2; cat "$work/receiver.log" >&2; exit 1; }
port=$(cat "$work/receiver.port")
echo "receiver: bench/flaky_receiver.py (Python $(python3 -c 'import platform; print(platform.python_version())'), ThreadingHTTPServer), seed $seed;" \
    "/flaky: 20% 500, 5% 200 after 4 s, 3% dropped, 72% 200; /healthy: 200"

columns="id bigserial PRIMARY KEY, k int NOT NULL, note text NOT NULL"
sql -c "CREATE EXTENSION pg_eventhooks"
sql >/dev/null <<SQL
CREATE TABLE t_flaky ($columns);
CREATE TABLE t_healthy ($columns);
SELECT eventhooks.create_event_trigger('flaky_trigger', 't_flaky',
    webhook => 'http://127.0.0.1:$port/flaky', on_insert => '{}',
    retry_conf => '{"num_retries": 5, "interval_sec": 1, "timeout_sec": 3}');
SELECT eventhooks.create_event_trigger('healthy_trigger', 't_healthy',
    webhook => 'http://127.0.0.1:$port/healthy', on_insert => '{}',
    retry_conf => '{"num_retries": 3, "interval_sec": 1, "timeout_sec": 3}');
SQL
for t in flaky healthy; do
    cat >"$work/insert_$t.sql" <<SQL
\set k random(1, 1000000)
INSERT INTO t_$t (k, note) VALUES (:k, 'row ' || :k::text);
SQL
done
chown postgres: "$work"/insert_*.sql

worker_pid=""
for _ in $(seq 100); do
    worker_pid=$(sql -c "SELECT pid FROM eventhooks.worker_status WHERE database_name = 'postgres'")
    [[ -n $worker_pid && $worker_pid != 0 ]] && break
    sleep 0.1
done
[[ -n $worker_pid ]] || { echo "no delivery worker" >&2; exit 1; }
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# One line every 5 s: pending events per trigger (NOT delivered AND NOT error AND NOT archived),
# of which retries overdue by more than 1 s and events with tries = 0 (never sent, or their first
# attempt still in flight) committed more than 1 s ago; the worker's counters.
sample() {
    local t=$1
    sql -F' ' -c "
        SELECT count(*) FILTER (WHERE trigger_name = 'flaky_trigger'),
               count(*) FILTER (WHERE trigger_name = 'flaky_trigger' AND tries > 0
                                  AND next_retry_at < now() - interval '1 s'),
               count(*) FILTER (WHERE trigger_name = 'flaky_trigger' AND tries = 0
                                  AND created_at < now() - interval '1 s'),
               count(*) FILTER (WHERE trigger_name = 'healthy_trigger'),
               count(*) FILTER (WHERE trigger_name = 'healthy_trigger'
                                  AND created_at < now() - interval '1 s'),
               (SELECT requests_in_flight || ' ' || events_pending || ' ' || events_due || ' ' || events_sent
                FROM eventhooks.worker_status WHERE database_name = 'postgres')
        FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived" |
        awk -v t="$t" '{printf "    %6s | %7d | %7d | %7d | %7d | %7d | %9d | %9d | %9d | %9d\n", t, $1, $2, $3, $4, $5, $6, $7, $8, $9}'
}
pending_total() { sql -c "SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived"; }

echo
echo "## load: pgbench -n -M prepared --rate=$flaky_rate -c 4 -j 2 -T $seconds (t_flaky) and --rate=$healthy_rate -c 1 -T $seconds (t_healthy), single-row INSERT"
echo "pending queue every 5 s (t: s since the load started; 'overdue': retries due more than 1 s ago;"
echo "'new>1s': tries = 0 (never sent, or the first attempt still in flight) and committed more than 1 s ago;"
echo "worker: requests_in_flight, events_pending, events_due, events_sent):"
echo "         t | flaky   | overdue | new>1s  | healthy | new>1s  | w.flight  | w.pending | w.due     | w.sent"
cpu_w0=$(cpu_ticks "$worker_pid") cpu_r0=$(cpu_ticks "$receiver_pid")
t_load=$(now)
pgbench -n -M prepared -c 4 -j 2 --rate="$flaky_rate" -T "$seconds" -f "$work/insert_flaky.sql" postgres \
    >"$work/pgbench_flaky.out" 2>&1 &
pgb_flaky=$!
bench_pids+=("$pgb_flaky")
pgbench -n -M prepared -c 1 -j 1 --rate="$healthy_rate" -T "$seconds" -f "$work/insert_healthy.sql" postgres \
    >"$work/pgbench_healthy.out" 2>&1 &
pgb_healthy=$!
bench_pids+=("$pgb_healthy")

# Sample every 5 s while pgbench runs (at most seconds/5 + 4 samples), then during the drain
# until nothing is pending (at most drain_limit/5 + 1 samples).
next=5
for _ in $(seq $((seconds / 5 + 4))); do
    kill -0 "$pgb_flaky" 2>/dev/null || kill -0 "$pgb_healthy" 2>/dev/null || break
    while awk -v e="$(since "$t_load")" -v n="$next" 'BEGIN {exit !(e < n)}'; do
        kill -0 "$pgb_flaky" 2>/dev/null || kill -0 "$pgb_healthy" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pgb_flaky" 2>/dev/null || kill -0 "$pgb_healthy" 2>/dev/null || break
    sample "$next"
    next=$((next + 5))
done
wait "$pgb_flaky" || echo "pgbench (t_flaky) failed: $(tail -3 "$work/pgbench_flaky.out")"
wait "$pgb_healthy" || echo "pgbench (t_healthy) failed: $(tail -3 "$work/pgbench_healthy.out")"
t_load_end=$(now)
cpu_w1=$(cpu_ticks "$worker_pid") cpu_r1=$(cpu_ticks "$receiver_pid")
load_secs=$(awk -v a="$t_load" -v b="$t_load_end" 'BEGIN {printf "%.2f", b - a}')
echo "    -- load ended at ${load_secs}s; drain:"
drained=""
for _ in $(seq $((drain_limit / 5 + 1))); do
    for _ in $(seq 25); do
        [[ $(pending_total) == 0 ]] && { drained=$(since "$t_load_end"); break 2; }
        sleep 0.2
    done
    sample "$(awk -v a="$t_load" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')"
    awk -v e="$(since "$t_load_end")" -v l="$drain_limit" 'BEGIN {exit !(e > l)}' && break
done
if [[ -z $drained && $(pending_total) == 0 ]]; then drained=$(since "$t_load_end"); fi
sample "end"
cpu_w2=$(cpu_ticks "$worker_pid") cpu_r2=$(cpu_ticks "$receiver_pid")
for f in flaky healthy; do
    echo "pgbench t_$f: $(grep -E '^(number of transactions actually processed|tps)' "$work/pgbench_$f.out" |
        sed 's/ (without initial connection time)//' | paste -sd';')"
    grep -E '^rate limit schedule lag' "$work/pgbench_$f.out" | sed 's/^/    /' || true
done
echo "drain: nothing pending ${drained:-NEVER (still $(pending_total) pending)} s after the load ended (limit ${drain_limit}s)"
echo "CPU during the load: delivery worker $(awk -v t=$((cpu_w1 - cpu_w0)) -v s="$load_secs" -v hz="$clk_tck" 'BEGIN {printf "%.1f s = %.0f%% of one core", t / hz, 100 * t / hz / s}'),"\
     "receiver $(awk -v t=$((cpu_r1 - cpu_r0)) -v s="$load_secs" -v hz="$clk_tck" 'BEGIN {printf "%.1f s = %.0f%% of one core", t / hz, 100 * t / hz / s}');"\
     "during the drain: worker $(awk -v t=$((cpu_w2 - cpu_w1)) -v hz="$clk_tck" 'BEGIN {printf "%.1f s", t / hz}')"

# Answers written after the 4 s delay are recorded when written: wait for the last ones.
sleep 5
curl -s --noproxy '*' -o /dev/null "http://127.0.0.1:$port/_control/dump"
sql -F$'\t' -c "SELECT id, trigger_name, delivered, error, archived, tries, extract(epoch FROM created_at)
                FROM eventhooks.event_log" >"$work/events.tsv"
sql -F$'\t' -c "SELECT event_id, count(*) FROM eventhooks.event_invocation_logs GROUP BY 1" >"$work/invocations.tsv"

echo
echo "## results"
python3 - "$work/events.tsv" "$work/requests.tsv" "$t_load" "$t_load_end" "$flaky_rate" "$work/invocations.tsv" <<'PY'
import sys
from collections import defaultdict

events_path, requests_path, t_load, t_end, feed = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
TIMEOUT, INTERVAL = 3.0, 1.0
LIMIT = {"flaky_trigger": 5 + 1, "healthy_trigger": 3 + 1}   # attempts = num_retries + 1
PATH = {"flaky_trigger": "/flaky", "healthy_trigger": "/healthy"}

invocations = defaultdict(int)
for line in open(sys.argv[6]):
    eid, n = line.split()
    invocations[eid] = int(n)

events = {}
for line in open(events_path):
    eid, trig, delivered, error, archived, tries, created = line.rstrip("\n").split("\t")
    events[eid] = dict(trig=trig, delivered=delivered == "t", error=error == "t", archived=archived == "t",
                       tries=int(tries), created=float(created))

# The load window: from the first flaky event's transaction to the last one's (pgbench's own
# start-up is not in it).
flaky_created = [e["created"] for e in events.values() if e["trig"] == "flaky_trigger"]
if flaky_created:
    t_load, t_end = min(flaky_created), max(flaky_created)
load_secs = max(t_end - t_load, 0.001)
reqs = defaultdict(list)      # event id -> [(received, answered, outcome, retry, path)]
by_path = defaultdict(list)
for line in open(requests_path):
    path, hid, retry, outcome, rec, ans = line.rstrip("\n").split("\t")
    r = (float(rec), float(ans), outcome, int(retry), path)
    reqs[hid].append(r)
    by_path[path].append(r)
for v in reqs.values():
    v.sort()

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs))) - 1))]

def stats(xs, unit="s"):
    if not xs:
        return "none"
    return (f"median {pct(xs, 50):.3f} {unit}, p90 {pct(xs, 90):.3f}, p99 {pct(xs, 99):.3f}, "
            f"max {max(xs):.3f} (n={len(xs)})")

def end_of(r):
    received, answered, outcome = r[0], r[1], r[2]
    return received + TIMEOUT if outcome == "late" else answered

fl = by_path["/flaky"]
in_load = [r for r in fl if t_load <= r[0] <= t_end]
first_in_load = [r for r in in_load if r[3] == 0]
ok_in_load = [r for r in in_load if r[2] == "ok"]
fed = [e for e in events.values() if e["trig"] == "flaky_trigger" and t_load <= e["created"] <= t_end]
flaky_events = [eid for eid, e in events.items() if e["trig"] == "flaky_trigger"]
attempts_per_event = sum(len(reqs[eid]) for eid in flaky_events) / max(1, len(flaky_events))
fed_rate = len(fed) / load_secs
need = fed_rate * attempts_per_event
sent_rate = len(in_load) / load_secs
print(f"load window {load_secs:.1f} s; feed: {len(fed)} flaky events = {fed_rate:.1f} events/s (asked {feed:.0f}/s)")
print(f"requests to /flaky during the load: {len(in_load)} = {sent_rate:.1f} req/s"
      f" = {sent_rate / fed_rate:.2f} x the feed rate")
print(f"  of which first attempts {len(first_in_load) / load_secs:.1f}/s ({len(first_in_load) / load_secs / fed_rate:.2f} x feed),"
      f" answered 200 at once {len(ok_in_load) / load_secs:.1f}/s ({len(ok_in_load) / load_secs / fed_rate:.2f} x feed)")
print(f"  attempts per flaky event over the whole run: {attempts_per_event:.3f}, so keeping up needs"
      f" {need:.1f} req/s; sent {sent_rate:.1f} = {sent_rate / need:.2f} x that")
outc = defaultdict(int)
for r in fl:
    outc[r[2]] += 1
print("  /flaky answers over the whole run: " + ", ".join(f"{k} {outc[k]} ({100.0 * outc[k] / max(1, len(fl)):.1f}%)"
                                                  for k in ("ok", "500", "late", "drop")))

for trig in ("flaky_trigger", "healthy_trigger"):
    ids = [eid for eid, e in events.items() if e["trig"] == trig]
    first, to2xx = [], []
    for eid in ids:
        rs = reqs.get(eid, [])
        if rs:
            first.append(rs[0][0] - events[eid]["created"])
        oks = [r for r in rs if r[2] == "ok"]
        if oks:
            to2xx.append(oks[0][1] - events[eid]["created"])
    print(f"{trig} ({PATH[trig]}): {len(ids)} events")
    print(f"  commit to first request: {stats(first)}")
    print(f"  commit to 2xx:           {stats(to2xx)}")

# Attempts are told apart by the body's delivery_info.current_retry: libcurl sends a request a
# second time, at once and with the same current_retry, when a reused keep-alive connection is
# closed without an answer (our "drop"); such a resend is not a retry of the worker.
late_all, late_by_kind = [], defaultdict(list)
resends, resend_after = 0, defaultdict(int)
dup_gap, dup_overlap, dup_times = [], 0, defaultdict(int)
for eid in flaky_events:
    attempts = defaultdict(list)
    for r in reqs.get(eid, []):
        attempts[r[3]].append(r)
    for k, rs in attempts.items():
        for prev, cur in zip(rs, rs[1:]):
            resends += 1
            resend_after[prev[2]] += 1
            if prev[2] != "drop":
                dup_gap.append(cur[0] - prev[0])
                dup_overlap += cur[0] < prev[1]
                dup_times[int((cur[0] - t_load) // 10) * 10] += 1
        if k >= 1 and attempts.get(k - 1):
            prev = attempts[k - 1][-1]
            lateness = rs[0][0] - (end_of(prev) + INTERVAL)
            late_all.append(lateness)
            late_by_kind[prev[2]].append(lateness)
print("retry lateness, received - (previous attempt's end + interval_sec 1 s), flaky events:")
print(f"  all retries: {stats(late_all)}")
for k, what in (("500", "after a 500"), ("drop", "after a drop"), ("late", "after a timeout (end = received + 3 s)")):
    print(f"  {what}: {stats(late_by_kind[k])}")
if late_all:
    n = len(late_all)
    print(f"  retries sent more than 1 s late: {sum(1 for x in late_all if x > 1.0)}"
          f" ({100.0 * sum(1 for x in late_all if x > 1.0) / n:.1f}%), more than 5 s late:"
          f" {sum(1 for x in late_all if x > 5.0)} ({100.0 * sum(1 for x in late_all if x > 5.0) / n:.1f}%);"
          f" sent early (< -0.05 s): {sum(1 for x in late_all if x < -0.05)}")
print(f"  same attempt received twice (libcurl's resend on a fresh connection): {resends}, after: "
      + ", ".join(f"{k} {v}" for k, v in sorted(resend_after.items())))
if dup_gap:
    print(f"  same attempt sent again after an answer (not a drop): {len(dup_gap)}; second request's"
          f" received - first's received: {stats(dup_gap)}; second received before the first was"
          f" answered: {dup_overlap}")
    print("    by 10 s of the run (s since the first flaky event: count): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(dup_times.items())))

print("loss and limits (after the drain):")
for trig in ("flaky_trigger", "healthy_trigger"):
    ids = [eid for eid, e in events.items() if e["trig"] == trig]
    ev = [events[i] for i in ids]
    pending = [i for i in ids if not (events[i]["delivered"] or events[i]["error"] or events[i]["archived"])]
    delivered = [i for i in ids if events[i]["delivered"]]
    failed = [i for i in ids if events[i]["error"]]
    over = [i for i in ids if len(set(r[3] for r in reqs.get(i, []))) > LIMIT[trig] or events[i]["tries"] > LIMIT[trig]]
    oks = {i: sum(1 for r in reqs.get(i, []) if r[2] == "ok") for i in ids}
    lates = {i: sum(1 for r in reqs.get(i, []) if r[2] == "late") for i in ids}
    deliv_one = sum(1 for i in delivered if oks[i] == 1)
    deliv_zero = [i for i in delivered if oks[i] == 0]
    deliv_more = [i for i in delivered if oks[i] > 1]
    failed_ok = [i for i in failed if oks[i] > 0]
    inv_mismatch = sum(1 for i in ids if invocations[i] != len(reqs.get(i, [])))
    inv_fewer = sum(1 for i in ids if invocations[i] < len(reqs.get(i, [])))
    tries_mismatch = sum(1 for i in ids if events[i]["tries"] != len(set(r[3] for r in reqs.get(i, []))))
    print(f"  {trig}: {len(ids)} events: delivered {len(delivered)}, error {len(failed)}, "
          f"neither (lost or still pending) {len(pending)}, archived {sum(1 for e in ev if e['archived'])}")
    print(f"    attempts over num_retries + 1 = {LIMIT[trig]}: {len(over)};"
          f" event_log.tries != attempts received (distinct current_retry): {tries_mismatch};"
          f" max requests for one event: {max((len(reqs.get(i, [])) for i in ids), default=0)}")
    print(f"    delivered with exactly one 200 at once: {deliv_one}; with none: {len(deliv_zero)}"
          f" (of which after a 200 past the timeout: {sum(1 for i in deliv_zero if lates[i])});"
          f" with more than one: {len(deliv_more)}; error events that got a 200 at once: {len(failed_ok)}")
    print(f"    events whose event_invocation_logs rows != requests received: {inv_mismatch}"
          f" (fewer rows than requests: {inv_fewer}; libcurl's resends after a drop are one attempt)")
    if failed:
        print(f"    error events: requests each: {sorted(set(len(reqs.get(i, [])) for i in failed))}")
unknown = [h for h in reqs if h not in events]
print(f"  requests whose webhook-id is not in event_log: {sum(len(reqs[h]) for h in unknown)}")
PY
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_check_build
