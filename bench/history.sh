#!/usr/bin/env bash
# A long history in the event tables (issue 20): N delivered events (default 10,000,000) and one
# invocation log each, loaded by SQL (ids spread over the 6 days before yesterday), then:
#  (a) the drain rate of D new events (default 100,000, committed in one transaction) on empty
#      tables and again with the history, same run, same nginx receiver;
#  (b) the time from a server start (after pg_ctl stop -m fast, and after -m immediate) to the
#      first delivered new event, with the history, and how many event_log tuples the worker
#      read until then (pg_stat_all_tables idx_tup_fetch + seq_tup_read; the worker's counters
#      reach the statistics when it exits: it is terminated after that first delivery);
#  (c) SELECT * FROM eventhooks.trigger_stats (if the build has the view);
#  (d) cleanup_event_logs of 90% of the history while pgbench writers run: their TPS before
#      and during, and the drain of their events during it (if the build has the function).
#
# Usage: bench/history.sh [--history N] [--drain D] [--phases a,b,c,d]   (run as root)
#   quick: bench/history.sh --history 200000 --drain 20000
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

history=10000000
backlog=100000
phases=a,b,c,d
args="$*"
while (($#)); do
    case $1 in
        --history) history=$2; shift ;;
        --drain) backlog=$2; shift ;;
        --phases) phases=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((history >= 1000 && history <= 100000000 && backlog >= 100 && backlog <= 1000000)) ||
    { echo "bad arguments" >&2; exit 2; }
phase() { [[ ,$phases, == *,$1,* ]]; }
command -v nginx >/dev/null || { echo "nginx missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

make_work history
trap bench_cleanup EXIT
echo "# history benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/history.sh $args  (history=$history drain=$backlog phases=$phases)"
machine_line
build_line
start_cluster 1
start_nginx 2
hook="http://127.0.0.1:$nginx_port"
sql -c "CREATE EXTENSION pg_eventhooks"
sql >/dev/null <<SQL
CREATE TABLE bench_drain (id bigserial PRIMARY KEY, customer_id int NOT NULL, name text NOT NULL,
    amount numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE bench_writes (LIKE bench_drain INCLUDING ALL);
SELECT eventhooks.create_event_trigger('drain_events', 'bench_drain', webhook => '$hook/drain', on_insert => '{}');
SELECT eventhooks.create_event_trigger('write_events', 'bench_writes', webhook => '$hook/w', on_insert => '{}');
SQL
wait_delivery_worker
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB, autovacuum on; nginx 2 worker processes"

sent() { sql -c "SELECT events_sent FROM eventhooks.worker_status WHERE database_name = 'postgres'"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
# Tuples of event_log read so far (by processes that have exited or report idle).
tuples_read() {
    sql -c "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) FROM pg_stat_all_tables
            WHERE relid = 'eventhooks.event_log'::regclass"
}
# Terminates the delivery worker (its statistics are then written) and waits for the next one.
flush_worker_stats() {
    local old=$worker_pid
    sql -c "SELECT pg_terminate_backend($old)" >/dev/null
    for _ in $(seq 100); do
        wait_delivery_worker
        [[ $worker_pid != "$old" ]] && break
        sleep 0.1
    done
}

# drain LABEL: inserts $backlog rows into bench_drain in one transaction; time from its commit
# until the worker has sent them all (worker_status.events_sent: no scan of event_log).
drain() {
    local sent0 t0 t1 s done_at=""
    sent0=$(sent)
    t0=$(now)
    sql -c "INSERT INTO bench_drain (customer_id, name, amount)
            SELECT g, 'customer ' || g, g * 0.01 FROM generate_series(1, $backlog) g"
    t1=$(now)
    for _ in $(seq 6000); do   # at most 600 s
        s=$(sent)
        if ((s - sent0 >= backlog)); then done_at=$(since "$t1"); break; fi
        sleep 0.1
    done
    [[ -n $done_at ]] || { echo "    $1: drain not finished after 600 s ($((s - sent0)) sent)"; drain_rps=0; return; }
    drain_rps=$(awk -v n="$backlog" -v s="$done_at" 'BEGIN {printf "%.0f", n / s}')
    echo "    $1: insert $(elapsed "$t0" "$t1") s; all $backlog sent ${done_at} s after the commit: $drain_rps events/s"
}

sizes() {
    sql -F', ' -c "SELECT 'event_log ' || pg_size_pretty(pg_total_relation_size('eventhooks.event_log'))
                      || ' (' || (SELECT reltuples::bigint FROM pg_class WHERE oid = 'eventhooks.event_log'::regclass) || ' rows est.)',
                          'event_invocation_logs ' || pg_size_pretty(pg_total_relation_size('eventhooks.event_invocation_logs'))"
}

if phase a; then
    echo
    echo "## (a) drain of $backlog new events, empty tables"
    # A first drain on a new cluster runs before event_log has statistics (delivery.sh (ii-a)
    # vs (ii-b)): warm up and ANALYZE, as the history gets VACUUM (ANALYZE) below.
    drain "empty tables, warm-up (not compared)"
    sql -c "ANALYZE eventhooks.event_log" -c "ANALYZE eventhooks.event_invocation_logs"
    drain "empty tables"
    empty_rps=$drain_rps
fi

echo
echo "## history: $history delivered events with one invocation log each, loaded by SQL"
chunk=1000000
t_load=$(now)
for ((from = 1; from <= history; from += chunk)); do
    to=$((from + chunk - 1)); ((to > history)) && to=$history
    # Event g written at 7 days ago + g * (6 days / N); its attempt 20 ms later.
    sql <<SQL
INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload, delivered, tries, created_at)
SELECT eventhooks.first_event_id_at(t), 'public', 'bench_drain', 'drain_events',
       jsonb_build_object('op', 'INSERT', 'data', jsonb_build_object('old', NULL, 'new',
           jsonb_build_object('id', g, 'customer_id', g, 'name', 'customer ' || g, 'amount', g * 0.01,
                              'created_at', t)), 'session_variables', NULL),
       true, 1, t
FROM (SELECT g, now() - interval '7 days' + g * (interval '6 days' / $history) AS t
      FROM generate_series($from, $to) g) s;
INSERT INTO eventhooks.event_invocation_logs (id, event_id, trigger_name, status, request, response, created_at)
SELECT eventhooks.first_event_id_at(t + interval '20 ms'), eventhooks.first_event_id_at(t), 'drain_events', 200,
       jsonb_build_object('version', '2', 'headers', '[]'::jsonb, 'payload', jsonb_build_object('id', g)),
       '{"type": "webhook_response", "data": {"status": 200, "body": "{\"ok\":true}", "headers": []}}'::jsonb,
       t + interval '20 ms'
FROM (SELECT g, now() - interval '7 days' + g * (interval '6 days' / $history) AS t
      FROM generate_series($from, $to) g) s;
SQL
    log "loaded $to of $history"
done
load_s=$(since "$t_load")
t_vac=$(now)
sql -c "VACUUM (ANALYZE) eventhooks.event_log" -c "VACUUM (ANALYZE) eventhooks.event_invocation_logs" -c "CHECKPOINT"
echo "    load: ${load_s} s, then VACUUM (ANALYZE) of both tables and a checkpoint: $(since "$t_vac") s"
echo "    sizes: $(sizes)"

if phase a; then
    echo
    echo "## (a) drain of $backlog new events, with the history"
    # Twice: the first drain follows the load's VACUUM and CHECKPOINT (every page it touches
    # first is a full-page image in the WAL); the empty tables' drain followed a warm-up one.
    drain "with the history, first (right after the checkpoint)"
    echo "    ratio with/empty: $(ratio "$drain_rps" "$empty_rps")"
    drain "with the history, second"
    echo "    ratio with/empty: $(ratio "$drain_rps" "$empty_rps")"
fi

# restart MODE: stops the server (pg_ctl -m MODE), starts it, writes one event and measures
# until it is sent; then the worker's reads of event_log since the start.
restart() {
    local mode=$1 t_stop t_start t_ready s0 s t_sent="" reads0 reads
    # Give the worker a moment after the last delivery to keep its resume point (every 5 s).
    sql -c "INSERT INTO bench_drain (customer_id, name, amount) VALUES (0, 'warm', 0)"
    if [[ $(sql -c "SELECT to_regclass('eventhooks.worker_resume_point') IS NOT NULL") == t ]]; then
        for _ in $(seq 150); do
            [[ $(sql -c "SELECT count(*) FROM eventhooks.worker_resume_point WHERE saved_at > now() - interval '1 s'") == 1 ]] && break
            sleep 0.1
        done
        echo "    kept point before the stop: $(sql -c "SELECT resume_from || ' saved ' || saved_at FROM eventhooks.worker_resume_point")"
    else
        echo "    (no eventhooks.worker_resume_point in this build)"
        sleep 6
    fi
    flush_worker_stats
    reads0=$(tuples_read)
    t_stop=$(now)
    as_postgres "$pgbin/pg_ctl" -D "$work/data" -m "$mode" -w -t 120 stop >/dev/null
    t_start=$(now)
    as_postgres "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 300 start >/dev/null
    t_ready=$(now)
    # After a crash the statistics start from zero.
    [[ $mode == immediate ]] && reads0=0
    sql -c "INSERT INTO bench_drain (customer_id, name, amount) VALUES (0, 'after restart', 0)"
    for _ in $(seq 6000); do   # at most 600 s
        s=$(sql -c "SELECT coalesce(sum(events_sent), 0) FROM eventhooks.worker_status WHERE database_name = 'postgres'")
        if ((s >= 1)); then t_sent=$(now); break; fi
        sleep 0.1
    done
    wait_delivery_worker
    flush_worker_stats
    reads=$(($(tuples_read) - reads0))
    echo "    -m $mode: stop $(elapsed "$t_stop" "$t_start") s; start (pg_ctl -w) $(elapsed "$t_start" "$t_ready") s;" \
        "first new event sent $([[ -n $t_sent ]] && echo "$(elapsed "$t_start" "$t_sent") s after pg_ctl start" || echo "never (600 s)");" \
        "event_log tuples read by the worker meanwhile: $reads"
}

if phase b; then
    echo
    echo "## (b) server restart with the history: time to the first delivered new event"
    restart fast
    restart immediate
fi

if phase c; then
    echo
    echo "## (c) SELECT * FROM eventhooks.trigger_stats with the history"
    if [[ $(sql -c "SELECT to_regclass('eventhooks.trigger_stats') IS NOT NULL") == t ]]; then
        times=()
        for _ in 1 2 3 4 5; do
            t0=$(now); sql -c "SELECT * FROM eventhooks.trigger_stats" >/dev/null
            times+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", (b - a) * 1000}')")
        done
        echo "    5 runs (ms, psql round trip included): ${times[*]}; median $(median "${times[@]}") ms"
        sql -c "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) SELECT * FROM eventhooks.trigger_stats" | tail -3 | sed 's/^/    /'
    else
        echo "    skipped: this build has no eventhooks.trigger_stats"
    fi
fi

if phase d; then
    echo
    echo "## (d) cleanup_event_logs of 90% of the history while pgbench writers run"
    if [[ $(sql -c "SELECT to_regprocedure('eventhooks.cleanup_event_logs(interval,boolean,integer)') IS NOT NULL") == t ]]; then
        cat >"$work/write.sql" <<'SQL'
\set k random(1, 1000000)
INSERT INTO bench_writes (customer_id, name, amount) VALUES (:k, 'customer ' || :k::text, :k * 0.01);
SQL
        chown postgres: "$work/write.sql"
        tps() { awk '/^tps = / {printf "%.0f", $3}'; }
        before=$(pgbench -n -M prepared -c 4 -j 2 -T 20 -f "$work/write.sql" postgres 2>&1 | tps)
        echo "    writers before (pgbench -c 4 -T 20): $before TPS"
        # 90% of the history is older than 7 days - 0.9 * 6 days = 1.6 days.
        s0=$(sent)
        t0=$(now)
        sql -c "SELECT eventhooks.cleanup_event_logs(interval '1.6 days')" >"$work/cleanup.out" 2>&1 &
        cleanup_pid=$!
        bench_pids+=("$cleanup_pid")
        during=$(pgbench -n -M prepared -c 4 -j 2 -T 20 -f "$work/write.sql" postgres 2>&1 | tps)
        s1=$(sent)
        running=$(kill -0 "$cleanup_pid" 2>/dev/null && echo "still running" || echo "already finished")
        echo "    writers during the cleanup (pgbench -c 4 -T 20, cleanup $running at its end): $during TPS = $(ratio "$during" "$before") x before"
        echo "    events sent by the worker over those 20 s: $((s1 - s0))"
        for _ in $(seq 36000); do kill -0 "$cleanup_pid" 2>/dev/null || break; sleep 0.1; done   # at most 1 h
        wait "$cleanup_pid" || true
        echo "    cleanup_event_logs returned $(cat "$work/cleanup.out") after $(since "$t0") s"
        echo "    sizes after: $(sizes)"
    else
        echo "    skipped: this build has no eventhooks.cleanup_event_logs"
    fi
fi
echo
bench_check_build
