#!/usr/bin/env bash
# The delivery half (issue 6), in one run against one nginx on 127.0.0.1 answering 200:
#  (i)   nginx's raw capacity: wrk, POST bodies of our events' size, keep-alive, 100 connections
#        (= eventhooks.max_concurrent_deliveries), 2 threads;
#  (ii)  our drain rate for a backlog of 100,000 events committed in one transaction, from the
#        commit until no event is left undelivered; requests counted in nginx's access log;
#  (iii) commit-to-receipt latency of single-row transactions at 100 per second
#        (pgbench --rate=100): nginx's receipt time ($msec) minus the transaction's commit
#        timestamp (track_commit_timestamp), joined on the webhook-id header (= event id);
#  (iv)  the delivery worker's RSS (VmHWM, VmRSS, RssAnon from /proc) during the drain, and
#        again with 100 requests held in flight by a receiver that answers after 300 ms
#        (test/receiver/receiver.py, since nginx-light cannot delay).
#
#  (v)   a perf profile of the delivery worker during one more drain (unless --no-perf).
# The worker's statements slower than 25 ms are logged with their plans (auto_explain).
#
# Usage: bench/delivery.sh [--quick] [--backlog N] [--wrk-seconds S] [--latency-seconds S]
#        [--no-perf]   (run as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

backlog=100000
wrk_seconds=10
latency_seconds=20
slow_backlog=3000
drain_limit=300
profile_backlog=30000
use_perf=1
while (($#)); do
    case $1 in
        --quick) backlog=5000; wrk_seconds=3; latency_seconds=3; slow_backlog=400; drain_limit=60; profile_backlog=3000 ;;
        --no-perf) use_perf=0 ;;
        --backlog) backlog=$2; shift ;;
        --wrk-seconds) wrk_seconds=$2; shift ;;
        --latency-seconds) latency_seconds=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((backlog >= 100 && backlog <= 1000000 && wrk_seconds >= 1 && wrk_seconds <= 120 &&
  latency_seconds >= 1 && latency_seconds <= 120)) || { echo "bad arguments" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null ||
    { echo "wrk/nginx missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

make_work delivery
trap bench_cleanup EXIT
echo "# delivery benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/delivery.sh $*  (backlog=$backlog wrk=${wrk_seconds}s latency=${latency_seconds}s at 100/s)"
machine_line
build_line
# auto_explain logs the plan of any statement slower than 25 ms, the worker's included.
start_cluster 1 "track_commit_timestamp = on" "shared_preload_libraries = 'pg_eventhooks, auto_explain'" \
    "auto_explain.log_min_duration = '25ms'"
start_nginx 2
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB, shared_preload_libraries=pg_eventhooks,auto_explain,"
echo "  eventhooks.max_concurrent_deliveries=$(sql -c 'SHOW eventhooks.max_concurrent_deliveries')" \
    "fetch_batch_size=$(sql -c 'SHOW eventhooks.fetch_batch_size') (defaults); nginx 1.22 (Debian), 2 worker processes"

hook="http://127.0.0.1:$nginx_port"
columns="id bigserial PRIMARY KEY, customer_id int NOT NULL, name text NOT NULL,
         amount numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp()"
sql -c "CREATE EXTENSION pg_eventhooks"
sql >/dev/null <<SQL
CREATE TABLE bench_drain ($columns);
CREATE TABLE bench_latency ($columns);
CREATE TABLE bench_slow ($columns);
SELECT eventhooks.create_event_trigger('drain_events', 'bench_drain', webhook => '$hook/drain', on_insert => '{}');
SELECT eventhooks.create_event_trigger('latency_events', 'bench_latency', webhook => '$hook/latency', on_insert => '{}');
SQL

wait_delivery_worker

access_log=$work/nginx/logs/access.log
# log_lines PATH: requests nginx logged for that path (the log is flushed every 100 ms).
log_lines() { { grep -c " $1 " "$access_log" 2>/dev/null || true; } | tail -1; }
sent() { sql -c "SELECT events_sent FROM eventhooks.worker_status WHERE database_name = 'postgres'"; }
pending() { sql -c "SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived"; }
rss_sample() { # pid -> "VmRSS VmHWM RssAnon RssShmem" in kB
    awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} /^RssAnon:/ {a=$2} /^RssShmem:/ {s=$2} END {print r+0, h+0, a+0, s+0}' \
        "/proc/$1/status" 2>/dev/null || echo "0 0 0 0"
}
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime
nginx_ticks() {
    local pid total=0
    for pid in $(pgrep -P "$(cat "$nginx_pid_file")"); do total=$((total + $(cpu_ticks "$pid"))); done
    echo "$total"
}
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# Warm-up: one event, to see our real body size and open the worker's first connection.
sql -c "INSERT INTO bench_drain (customer_id, name, amount) VALUES (1, 'customer 1', 0.01)"
for _ in $(seq 100); do [[ $(pending) == 0 ]] && break; sleep 0.1; done
sleep 0.3
body_size=$(awk '$4 == "/drain" {print $3; exit}' "$access_log")
[[ -n $body_size ]] || { echo "warm-up event not delivered" >&2; cat "$access_log" >&2; exit 1; }
echo "our webhook body: $body_size bytes (Content-Length of the warm-up event's POST)"

echo
echo "## (i) nginx raw capacity: wrk -t2 -c100 -d${wrk_seconds}s, POST $body_size-byte body, keep-alive"
measure_nginx_capacity "$body_size" "$hook/wrk" "$wrk_seconds"

# drain ANALYZE(0|1): inserts $backlog rows into bench_drain in one transaction and waits from
# its commit until no event is left undelivered. With ANALYZE=1, event_log is analyzed right
# after the commit (inside the measured time). Sets drain_rps, peak_hwm, peak_anon, ...
drain() {
    local analyze=$1 sent0 log0 t_start t_commit s flight r h a shm left requests cpu0 cpu1 ng0 ng1
    sent0=$(sent)
    log0=$(log_lines /drain)
    slow_claims0=$(grep -c 'pg_eventhooks delivery LOG:  duration: .*plan:' "$work/server.log" || true)
    t_start=$(now)
    sql -c "INSERT INTO bench_drain (customer_id, name, amount)
            SELECT g, 'customer ' || g::text, g * 0.01 FROM generate_series(1, $backlog) g"
    t_commit=$(now)
    cpu0=$(cpu_ticks "$worker_pid") ng0=$(nginx_ticks)
    if ((analyze)); then sql -c "ANALYZE eventhooks.event_log"; fi
    insert_seconds=$(awk -v a="$t_start" -v b="$t_commit" 'BEGIN {printf "%.2f", b - a}')
    peak_rss=0 peak_hwm=0 peak_anon=0 peak_shm=0 max_flight=0 all_sent_at=""
    while :; do
        read -r s flight < <(sql -F' ' -c "SELECT events_sent, requests_in_flight FROM eventhooks.worker_status WHERE database_name = 'postgres'")
        read -r r h a shm < <(rss_sample "$worker_pid")
        ((r > peak_rss)) && peak_rss=$r
        ((h > peak_hwm)) && peak_hwm=$h
        ((a > peak_anon)) && peak_anon=$a
        ((shm > peak_shm)) && peak_shm=$shm
        ((flight > max_flight)) && max_flight=$flight
        if [[ -z $all_sent_at ]] && ((s - sent0 >= backlog)); then all_sent_at=$(since "$t_commit"); fi
        if [[ -n $all_sent_at ]] && [[ $(pending) == 0 ]]; then break; fi
        if awk -v e="$(since "$t_commit")" -v l="$drain_limit" 'BEGIN {exit !(e > l)}'; then
            echo "drain not finished after ${drain_limit}s: $(pending) pending" >&2
            break
        fi
        sleep 0.1
    done
    drain_seconds=$(since "$t_commit")
    cpu1=$(cpu_ticks "$worker_pid") ng1=$(nginx_ticks)
    left=$(pending)
    sleep 0.5
    requests=$(($(log_lines /drain) - log0))
    drain_rps=$(awk -v n="$backlog" -v s="$drain_seconds" 'BEGIN {printf "%.0f", n / s}')
    echo "insert of $backlog rows (with the trigger) took ${insert_seconds}s; then, from its commit:"
    echo "    all $backlog sent (worker's events_sent): ${all_sent_at:-never}s; none undelivered in event_log: ${drain_seconds}s ($left left)"
    echo "    drain rate: $drain_rps events/s = $(ratio "$drain_rps" "$raw_rps") x nginx's raw capacity"
    echo "    nginx logged $requests POSTs to /drain; $(awk '$4 == "/drain" {print $5}' "$access_log" | sort -u | wc -l) distinct webhook-ids so far (all parts + warm-up)"
    echo "    CPU during the drain: delivery worker $(awk -v t=$((cpu1 - cpu0)) -v s="$drain_seconds" -v hz="$clk_tck" 'BEGIN {printf "%.1f s = %.0f%% of one core", t / hz, 100 * t / hz / s}'), nginx workers $(awk -v t=$((ng1 - ng0)) -v hz="$clk_tck" 'BEGIN {printf "%.1f s", t / hz}')"
    echo "    worker pid $worker_pid: max requests_in_flight seen (polled every 100 ms): $max_flight"
    echo "    worker peak: VmHWM $(mb "$peak_hwm") MB, VmRSS $(mb "$peak_rss") MB = RssAnon (private) $(mb "$peak_anon") MB + RssShmem (shared_buffers pages touched) $(mb "$peak_shm") MB + files"
    echo "    worker statements slower than 25 ms (auto_explain): $(($(grep -c 'pg_eventhooks delivery LOG:  duration: .*plan:' "$work/server.log" || true) - slow_claims0))"
    sql -c "SELECT 'event_log autoanalyzed: ' || coalesce(last_autoanalyze::text, 'never') || ', analyzed: ' || coalesce(last_analyze::text, 'never')
            FROM pg_stat_user_tables WHERE relid = 'eventhooks.event_log'::regclass" | sed 's/^/    /'
    sql -F', ' -c "SELECT 'event_log ' || pg_size_pretty(pg_total_relation_size('eventhooks.event_log')),
                          'event_invocation_logs ' || pg_size_pretty(pg_total_relation_size('eventhooks.event_invocation_logs'))" |
        sed 's/^/    sizes after the drain: /'
}

echo
echo "## (ii-a) drain: $backlog events committed in one transaction, until none is undelivered (as a user gets it)"
drain 0
drain_a=$drain_rps anon_a=$peak_anon
echo "    the first of the worker's statements slower than 25 ms (auto_explain), if any:"
awk '/ LOG:  / {on = 0} /pg_eventhooks delivery LOG:  duration: .*plan:/ {n++; on = (n == 1)} on {print "      " $0}' \
    "$work/server.log" | cut -c1-160 | head -30

echo
echo "## (ii-b) the same drain again, with ANALYZE eventhooks.event_log right after the commit (counted in the time)"
drain 1
drain_b=$drain_rps anon_b=$peak_anon

echo
echo "## (iii) commit-to-receipt latency: pgbench -c 1 --rate=100 -T $latency_seconds, single-row INSERT"
cat >"$work/latency.sql" <<'SQL'
\set k random(1, 1000000)
INSERT INTO bench_latency (customer_id, name, amount) VALUES (:k, 'customer ' || :k::text, :k * 0.01);
SQL
chown postgres: "$work/latency.sql"
pgb=$(pgbench -n -M prepared -c 1 -j 1 --rate=100 -T "$latency_seconds" -f "$work/latency.sql" postgres 2>&1)
grep -E '^(number of transactions actually|latency average|tps)' <<<"$pgb" | sed 's/^/    /'
for _ in $(seq 100); do [[ $(pending) == 0 ]] && break; sleep 0.1; done
sleep 0.5
sql -F' ' -c "SELECT e.id, extract(epoch FROM pg_xact_commit_timestamp(t.xmin))
              FROM eventhooks.event_log e JOIN bench_latency t ON t.id = (e.payload->'data'->'new'->>'id')::bigint
              WHERE e.trigger_name = 'latency_events'" >"$work/commits.txt"
awk '$4 == "/latency" {print $5, $1}' "$access_log" >"$work/receipts.txt"
python3 - "$work/commits.txt" "$work/receipts.txt" <<'PY'
import sys
commits = dict(line.split() for line in open(sys.argv[1]) if line.strip())
lat = []
seen = set()
for line in open(sys.argv[2]):
    event_id, received = line.split()
    if event_id in commits and event_id not in seen:
        seen.add(event_id)
        lat.append((float(received) - float(commits[event_id])) * 1000.0)
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, max(0, int(round(p / 100.0 * len(lat))) - 1))]
print(f"    events: {len(commits)} committed, {len(lat)} received")
if lat:
    print(f"    latency ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  max {lat[-1]:.1f}  min {lat[0]:.1f}")
    with open(sys.argv[2] + ".summary", "w") as out:
        out.write(f"{pct(50):.1f} {pct(99):.1f}\n")
PY
read -r p50 p99 <"$work/receipts.txt.summary"

echo
echo "## (iv) worker RSS with 100 requests in flight: $slow_backlog events to a receiver answering after 300 ms"
cp "$repo_dir/test/receiver/receiver.py" "$work/receiver.py"
chown postgres: "$work/receiver.py"
# --watch-pid: the receiver exits by itself once this script is gone.
as_postgres python3 "$work/receiver.py" --port 0 --port-file "$work/receiver.port" --quiet \
    --watch-pid $$ >"$work/receiver.log" 2>&1 &
for _ in $(seq 100); do [[ -s $work/receiver.port ]] && break; sleep 0.1; done
slow_port=$(cat "$work/receiver.port")
read -r receiver_pid < <(ss -ltnpH "sport = :$slow_port" | grep -o 'pid=[0-9]*' | cut -d= -f2)
bench_pids+=("$receiver_pid")
curl -s --noproxy '*' -o /dev/null -X POST -d '{"path": "/slow", "delay_ms": 300}' "http://127.0.0.1:$slow_port/_control/rules"
sql >/dev/null -c "SELECT eventhooks.create_event_trigger('slow_events', 'bench_slow', webhook => 'http://127.0.0.1:$slow_port/slow', on_insert => '{}')"
sql -c "INSERT INTO bench_slow (customer_id, name, amount) SELECT g, 'customer ' || g::text, g * 0.01 FROM generate_series(1, $slow_backlog) g"
t_commit=$(now)
slow_rss=0 slow_anon=0 slow_flight=0 flight_samples=0 flight_sum=0
while [[ $(pending) != 0 ]]; do
    flight=$(sql -c "SELECT requests_in_flight FROM eventhooks.worker_status WHERE database_name = 'postgres'")
    read -r r h a _ < <(rss_sample "$worker_pid")
    ((r > slow_rss)) && slow_rss=$r
    ((a > slow_anon)) && slow_anon=$a
    ((flight > slow_flight)) && slow_flight=$flight
    flight_samples=$((flight_samples + 1)) flight_sum=$((flight_sum + flight))
    if awk -v e="$(since "$t_commit")" -v l="$drain_limit" 'BEGIN {exit !(e > l)}'; then echo "slow drain not finished" >&2; break; fi
    sleep 0.1
done
read -r _ final_hwm _ _ < <(rss_sample "$worker_pid")
echo "    drained in $(since "$t_commit")s; requests_in_flight: max $slow_flight, mean $((flight_sum / (flight_samples > 0 ? flight_samples : 1))) over $flight_samples samples"
echo "    worker peak: VmRSS $(mb "$slow_rss") MB, RssAnon (private) $(mb "$slow_anon") MB; VmHWM over the whole run $(mb "$final_hwm") MB"

if ((use_perf)) && perf record -q -e cpu-clock -o "$work/perf.check" -- true >/dev/null 2>&1; then
    echo
    echo "## (v) profile of the delivery worker: perf during a drain of $profile_backlog events (ANALYZE after commit)"
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -p "$worker_pid" -o "$work/worker.perf" \
        >"$work/perf.log" 2>&1 &
    perf_pid=$!
    bench_pids+=("$perf_pid")
    sleep 1
    sql -c "INSERT INTO bench_drain (customer_id, name, amount)
            SELECT g, 'customer ' || g::text, g * 0.01 FROM generate_series(1, $profile_backlog) g"
    sql -c "ANALYZE eventhooks.event_log"
    t_commit=$(now)
    while [[ $(pending) != 0 ]]; do
        if awk -v e="$(since "$t_commit")" -v l="$drain_limit" 'BEGIN {exit !(e > l)}'; then break; fi
        sleep 0.1
    done
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    echo "drained in $(since "$t_commit")s under perf"
    perf script -i "$work/worker.perf" -F ip,sym 2>/dev/null >"$work/worker.stacks"
    echo
    python3 "$bench_dir/perf_stacks.py" --phases worker --focus "" --top 15 <"$work/worker.stacks"
fi

echo
echo "## Summary"
echo
echo "| measure | result | target | met? |"
echo "|---|---|---|---|"
verdict() { if awk "BEGIN {exit !($1)}"; then echo "yes"; else echo "**no**"; fi; }
echo "| nginx raw capacity (wrk, 100 conns, $body_size-byte POST) | $(printf '%.0f' "$raw_rps") req/s | - | - |"
echo "| drain of $backlog events, as is | $drain_a events/s ($(ratio "$drain_a" "$raw_rps") x raw) | >= 0.50 x raw | $(verdict "$drain_a >= 0.5 * $raw_rps") |"
echo "| drain of $backlog events, ANALYZE after commit | $drain_b events/s ($(ratio "$drain_b" "$raw_rps") x raw) | >= 0.50 x raw | $(verdict "$drain_b >= 0.5 * $raw_rps") |"
echo "| commit-to-receipt p50 at 100 txn/s | $p50 ms | <= 5 ms | $(verdict "$p50 <= 5") |"
echo "| commit-to-receipt p99 at 100 txn/s | $p99 ms | <= 25 ms | $(verdict "$p99 <= 25") |"
anon_max=$(( anon_a > anon_b ? anon_a : anon_b ))
echo "| worker peak private memory (RssAnon), drains | $(mb "$anon_max") MB | <= 64 MB | $(verdict "$anon_max <= 65536") |"
echo "| worker peak private memory (RssAnon), $slow_flight requests in flight | $(mb "$slow_anon") MB | <= 64 MB | $(verdict "$slow_anon <= 65536") |"
echo "| worker peak VmHWM (RSS incl. shared_buffers pages it touched), whole run | $(mb "$final_hwm") MB | (<= 64 MB if read literally) | $(verdict "$final_hwm <= 65536") |"
echo
echo "Peers (from shared/PEERS.md, NOT measured in this run): pg_net drains 100,000 requests at"
echo "195 req/s (batch 200), 910 (1,000), 1,666 (10,000, worker RSS 337 MB); its commit-to-receipt"
echo "latency at 100 commits/s is p50 499 ms, p99 1,003 ms; Hasura polls every second by default."
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_check_build
