#!/usr/bin/env bash
# The writer's cost of recording events (issue 5): pgbench single-row INSERT transactions on a
# 5-column table with a bigserial primary key, under four ways of recording the event, run
# interleaved in one cluster; then a bulk INSERT ... SELECT with and without the triggers.
# Prints TPS medians, ratios vs no trigger, WAL bytes per transaction, and the bulk timings.
#
#   (a) no trigger
#   (b) pg_eventhooks' C++ row trigger (eventhooks.create_event_trigger, on_insert => '{}')
#   (c) a PL/pgSQL trigger building the same payload with row_to_json and inserting it into
#       eventhooks.event_log, the way Hasura's generated trigger does
#   (d) PgQ's C trigger pgq.logutriga into a PgQ queue
#
# The cluster runs WITHOUT shared_preload_libraries: CREATE EXTENSION only warns, the trigger
# records events exactly as when preloaded, and no delivery worker competes for the 2 cores.
# (Preloaded, the only extra per-transaction work of (b) is one SetLatch of the worker at commit.)
# The library is loaded at session start instead (session_preload_libraries, every
# configuration), as preloading does in production: loaded in the middle of a statement, it
# would miss that statement's end and write its events one by one (src/pg/capture/event_batch.cpp).
#
# Usage: bench/enqueue.sh [--quick] [--duration SECONDS] [--rounds N] [--clients "8 2"]
#                         [--bulk-rows N] [--bulk-rounds N]      (run as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

duration=20
rounds=3
clients_list="8 2"
bulk_rows=1000000
bulk_rounds=3
while (($#)); do
    case $1 in
        --quick) duration=3; rounds=1; clients_list="8"; bulk_rows=20000; bulk_rounds=1 ;;
        --duration) duration=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --clients) clients_list=$2; shift ;;
        --bulk-rows) bulk_rows=$2; shift ;;
        --bulk-rounds) bulk_rounds=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((duration >= 1 && duration <= 600 && rounds >= 1 && rounds <= 10)) || { echo "bad duration/rounds" >&2; exit 2; }
((bulk_rows >= 1 && bulk_rows <= 10000000 && bulk_rounds >= 1 && bulk_rounds <= 10)) || { echo "bad bulk" >&2; exit 2; }

configs=(a b c d)
declare -A label=(
    [a]="(a) no trigger"
    [b]="(b) pg_eventhooks C++ trigger"
    [c]="(c) PL/pgSQL row_to_json trigger (Hasura-style)"
    [d]="(d) PgQ pgq.logutriga"
)

make_work enqueue
trap bench_cleanup EXIT
echo "# enqueue benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/enqueue.sh $*  (duration=${duration}s rounds=$rounds clients=\"$clients_list\" bulk_rows=$bulk_rows bulk_rounds=$bulk_rounds)"
machine_line
build_line
# Autovacuum off so that it does not fire in the middle of one run and not another; every run
# starts from an emptied, vacuumed table and a checkpoint instead.
start_cluster 0 "autovacuum = off" "session_preload_libraries = 'pg_eventhooks'"
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB max_wal_size=16GB autovacuum=off, no shared_preload_libraries, session_preload_libraries = 'pg_eventhooks'"

create_enqueue_configs >/dev/null


reset_tables() {
    sql >/dev/null <<'SQL'
TRUNCATE bench_a, bench_b, bench_c, bench_d RESTART IDENTITY;
TRUNCATE eventhooks.event_log;
TRUNCATE pgq.event_template;
VACUUM ANALYZE bench_a, bench_b, bench_c, bench_d, eventhooks.event_log, pgq.event_template;
CHECKPOINT;
SQL
}

# Events recorded by configuration c (to check that each trigger did fire, once per row).
events_recorded() {
    case $1 in
        a) echo 0 ;;
        b | c) sql -c "SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'bench_$1_events'" ;;
        d) sql -c "SELECT count(*) FROM pgq.event_template" ;;
    esac
}

declare -A tps wal tps_round
for clients in $clients_list; do
    echo
    echo "## pgbench -n -M prepared -c $clients -j 2 -T $duration, single-row INSERT per transaction"
    printf '%-6s %-5s %10s %10s %10s %10s\n' round conf tps txns wal_B/txn events
    for ((r = 1; r <= rounds; r++)); do
        for c in "${configs[@]}"; do
            reset_tables
            lsn0=$(sql -c "SELECT pg_current_wal_insert_lsn()")
            out=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$duration" -f "$work/insert_$c.sql" postgres 2>&1) || {
                echo "$out" >&2
                exit 1
            }
            lsn1=$(sql -c "SELECT pg_current_wal_insert_lsn()")
            txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
            t=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
            bytes=$(sql -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
            per_txn=$(awk -v b="$bytes" -v n="$txns" 'BEGIN {printf "%.0f", b / n}')
            events=$(events_recorded "$c")
            rows=$(sql -c "SELECT count(*) FROM bench_$c")
            if [[ $c != a && $events != "$rows" ]]; then
                echo "configuration $c recorded $events events for $rows rows" >&2
                exit 1
            fi
            tps[$clients,$c]+="$t "
            tps_round[$clients,$r,$c]=$t
            wal[$clients,$c]+="$per_txn "
            printf '%-6s %-5s %10.0f %10s %10s %10s\n' "$r" "$c" "$t" "$txns" "$per_txn" "$events"
        done
    done
done

echo
echo "## Summary: TPS median of $rounds interleaved runs, ratio to (a) in the same run"
echo
header="| configuration |"
rule="|---|"
for clients in $clients_list; do
    header+=" TPS, $clients clients (min-max) | vs (a) |"
    rule+="---|---|"
done
header+=" WAL bytes/txn (median) |"
rule+="---|"
echo "$header"
echo "$rule"
declare -A med
for c in "${configs[@]}"; do
    line="| ${label[$c]} |"
    for clients in $clients_list; do
        # shellcheck disable=SC2086
        m=$(median ${tps[$clients,$c]})
        med[$clients,$c]=$m
        # shellcheck disable=SC2086
        lo=$(printf '%s\n' ${tps[$clients,$c]} | sort -g | head -1)
        # shellcheck disable=SC2086
        hi=$(printf '%s\n' ${tps[$clients,$c]} | sort -g | tail -1)
        line+=" $(printf '%.0f (%.0f-%.0f)' "$m" "$lo" "$hi") | $(ratio "$m" "${med[$clients,a]}") |"
    done
    first=${clients_list%% *}
    # shellcheck disable=SC2086
    line+=" $(median ${wal[$first,$c]}) |"
    echo "$line"
done

echo
echo "Per-round ratios to (a) of the same round (each round runs a b c d back to back), median:"
for clients in $clients_list; do
    line="- $clients clients:"
    for c in b c d; do
        rs=""
        for ((r = 1; r <= rounds; r++)); do rs+="$(ratio "${tps_round[$clients,$r,$c]}" "${tps_round[$clients,$r,a]}") "; done
        # shellcheck disable=SC2086
        line+=" ($c) $(median $rs) [${rs% }];"
    done
    echo "${line%;}"
done

echo
echo "## Bulk load: INSERT INTO bench_X ... SELECT FROM generate_series(1, $bulk_rows), one statement"
printf '%-6s %-5s %10s %12s\n' round conf seconds wal_B/row
declare -A bulk
# (e) A floor for any trigger that records these events: the same number of event rows, their
# payload computed beforehand (one real event's), written by one INSERT ... SELECT into a copy
# of event_log (same columns, defaults and indexes, no trigger). (a) plus (e) is what a bulk
# load with events costs at the least through the executor; compare it with 2 x (a).
sql >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_floor_events, bench_floor_payload;
CREATE TABLE bench_floor_events (LIKE eventhooks.event_log INCLUDING DEFAULTS INCLUDING INDEXES);
INSERT INTO bench_b (customer_id, name, amount) VALUES (123456, 'customer 123456', 1234.56);
CREATE TABLE bench_floor_payload AS
    SELECT schema_name, table_name, trigger_name, payload FROM eventhooks.event_log LIMIT 1;
SQL
for ((r = 1; r <= bulk_rounds; r++)); do
    for c in "${configs[@]}"; do
        reset_tables
        lsn0=$(sql -c "SELECT pg_current_wal_insert_lsn()")
        out=$(sql <<SQL
\timing on
INSERT INTO bench_$c (customer_id, name, amount)
SELECT g % 1000000, 'customer ' || g::text, (g % 1000000) * 0.01 FROM generate_series(1, $bulk_rows) g;
SQL
        )
        lsn1=$(sql -c "SELECT pg_current_wal_insert_lsn()")
        ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
        s=$(awk -v ms="$ms" 'BEGIN {printf "%.2f", ms / 1000}')
        bytes=$(sql -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
        events=$(events_recorded "$c")
        if [[ $c != a && $events != "$bulk_rows" ]]; then
            echo "configuration $c recorded $events events for $bulk_rows rows" >&2
            exit 1
        fi
        bulk[$c]+="$s "
        printf '%-6s %-5s %10s %12.0f\n' "$r" "$c" "$s" "$(awk -v b="$bytes" -v n="$bulk_rows" 'BEGIN {print b / n}')"
    done
    sql >/dev/null -c "TRUNCATE bench_floor_events" -c "VACUUM ANALYZE bench_floor_events" -c "CHECKPOINT"
    out=$(sql <<SQL
\timing on
INSERT INTO bench_floor_events (schema_name, table_name, trigger_name, payload)
SELECT p.schema_name, p.table_name, p.trigger_name, p.payload
FROM generate_series(1, $bulk_rows) g, bench_floor_payload p;
SQL
    )
    ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out")
    s=$(awk -v ms="$ms" 'BEGIN {printf "%.2f", ms / 1000}')
    bulk[e]+="$s "
    printf '%-6s %-5s %10s %12s\n' "$r" "e" "$s" "-"
done

echo
echo "| configuration | seconds (median of $bulk_rounds) | vs (a) |"
echo "|---|---|---|"
# shellcheck disable=SC2086
bulk_a=$(median ${bulk[a]})
for c in "${configs[@]}"; do
    # shellcheck disable=SC2086
    m=$(median ${bulk[$c]})
    med[bulk,$c]=$m
    echo "| ${label[$c]} | $m | $(ratio "$m" "$bulk_a") |"
done
# shellcheck disable=SC2086
floor=$(median ${bulk[e]})
echo "| (e) the event rows alone, payload precomputed, INSERT ... SELECT into a copy of event_log | $floor | $(ratio "$floor" "$bulk_a") |"
echo "| (a) + (e): the least a bulk load with these events costs through the executor | $(awk -v a="$bulk_a" -v e="$floor" 'BEGIN {printf "%.2f", a + e}') | $(awk -v a="$bulk_a" -v e="$floor" 'BEGIN {printf "%.2f", (a + e) / a}') |"

echo
echo "## Targets"
verdict() { if awk "BEGIN {exit !($1)}"; then echo "met"; else echo "NOT met"; fi; }
for clients in $clients_list; do
    b=${med[$clients,b]} a=${med[$clients,a]} cc=${med[$clients,c]} d=${med[$clients,d]}
    echo "- $clients clients: (b) >= 0.90 x (a): $(ratio "$b" "$a") -> $(verdict "$b >= 0.9 * $a")"
    echo "- $clients clients: (b) faster than (c) and (d): $(ratio "$b" "$cc") x (c), $(ratio "$b" "$d") x (d) -> $(verdict "$b > $cc && $b > $d")"
done
echo "- bulk load with our trigger <= 2 x without: $(ratio "${med[bulk,b]}" "$bulk_a") -> $(verdict "${med[bulk,b]} <= 2 * $bulk_a")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_check_build
