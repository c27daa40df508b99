#!/usr/bin/env bash
# eventhooks.log_successful_request_bodies (issue 20): what keeping the request body of every
# delivered attempt costs. In one run, against one nginx on 127.0.0.1 answering 200, drains of
# N events (rows with a 1 kB text column, one transaction each) alternate between the setting on
# (the default) and off; for each: the WAL written from the insert's commit until no event is
# left undelivered (pg_current_wal_lsn diff: the worker's updates and invocation-log inserts),
# the growth of event_invocation_logs (table + TOAST + indexes), and the drain rate.
#
# Usage: bench/request_bodies.sh [--events N] [--pairs P]   (run as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

events=20000
pairs=2
while (($#)); do
    case $1 in
        --events) events=$2; shift ;;
        --pairs) pairs=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((events >= 100 && events <= 1000000 && pairs >= 1 && pairs <= 10)) || { echo "bad arguments" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

make_work request_bodies
trap bench_cleanup EXIT
echo "# log_successful_request_bodies benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/request_bodies.sh --events $events --pairs $pairs"
machine_line
build_line
start_cluster 1 "autovacuum = off"
start_nginx 2
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB autovacuum=off; eventhooks defaults; nginx 2 workers"

sql -c "CREATE EXTENSION pg_eventhooks"
sql >/dev/null <<SQL
CREATE TABLE bench_rows (id bigserial PRIMARY KEY, customer_id int NOT NULL, note text NOT NULL);
SELECT eventhooks.create_event_trigger('rows', 'bench_rows', webhook => 'http://127.0.0.1:$nginx_port/rows',
                                       on_insert => '{}');
SQL
wait_delivery_worker

pending() { sql -c "SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND NOT error AND NOT archived"; }
logs_size() { sql -c "SELECT pg_total_relation_size('eventhooks.event_invocation_logs')"; }

# set_mode on|off: the setting, reloaded; a warm-up event shows that the worker took it in.
set_mode() {
    sql -c "ALTER SYSTEM SET eventhooks.log_successful_request_bodies = $1" -c "SELECT pg_reload_conf()" >/dev/null
    local want=t
    [[ $1 == off ]] && want=f
    for _ in $(seq 50); do
        sql -c "INSERT INTO bench_rows (customer_id, note) VALUES (0, 'warm-up')"
        for _ in $(seq 100); do [[ $(pending) == 0 ]] && break; sleep 0.05; done
        got=$(sql -c "SELECT request->'payload' IS NOT NULL AND request->'payload' <> 'null'
                      FROM eventhooks.event_invocation_logs ORDER BY id DESC LIMIT 1")
        [[ $got == "$want" ]] && return
        sleep 0.1
    done
    echo "the worker did not take log_successful_request_bodies = $1 in" >&2
    exit 1
}

# drain MODE: one run; appends to the result arrays.
declare -a wal_on=() wal_off=() size_on=() size_off=() rate_on=() rate_off=()
drain() {
    local mode=$1 lsn0 lsn1 size0 size1 t0 secs wal grow rate
    set_mode "$mode"
    sql -c "CHECKPOINT"
    size0=$(logs_size)
    sql -c "INSERT INTO bench_rows (customer_id, note)
            SELECT g, (SELECT string_agg(md5(g::text || '.' || i::text), '') FROM generate_series(1, 32) i)
            FROM generate_series(1, $events) g"
    t0=$(now)
    lsn0=$(sql -c "SELECT pg_current_wal_lsn()")
    for _ in $(seq 6000); do [[ $(pending) == 0 ]] && break; sleep 0.05; done
    secs=$(since "$t0")
    [[ $(pending) == 0 ]] || { echo "drain did not finish in 300 s" >&2; exit 1; }
    lsn1=$(sql -c "SELECT pg_current_wal_lsn()")
    size1=$(logs_size)
    wal=$(sql -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")
    grow=$((size1 - size0))
    rate=$(awk -v n="$events" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
    printf '%-4s drain %6.2f s = %6s events/s; WAL during the drain %7.1f MB (%5.0f B/event); invocation logs +%6.1f MB (%5.0f B/event)\n' \
        "$mode" "$secs" "$rate" "$(awk -v w="$wal" 'BEGIN {print w / 1048576}')" \
        "$(awk -v w="$wal" -v n="$events" 'BEGIN {print w / n}')" \
        "$(awk -v w="$grow" 'BEGIN {print w / 1048576}')" "$(awk -v w="$grow" -v n="$events" 'BEGIN {print w / n}')"
    if [[ $mode == on ]]; then wal_on+=("$wal"); size_on+=("$grow"); rate_on+=("$rate");
    else wal_off+=("$wal"); size_off+=("$grow"); rate_off+=("$rate"); fi
}

body=1024   # 32 md5s of distinct texts: as little compressible as real data can be
echo "rows: $events per drain, a ${body}-byte text column (32 distinct md5s: not compressible by TOAST); pairs alternate on/off, on first"
echo
for _ in $(seq "$pairs"); do
    drain on
    drain off
done
echo
echo "## median of $pairs: off vs on"
printf 'WAL during the drain: on %.1f MB, off %.1f MB (off/on %s)\n' \
    "$(awk -v w="$(median "${wal_on[@]}")" 'BEGIN {print w / 1048576}')" \
    "$(awk -v w="$(median "${wal_off[@]}")" 'BEGIN {print w / 1048576}')" \
    "$(ratio "$(median "${wal_off[@]}")" "$(median "${wal_on[@]}")")"
printf 'invocation logs growth: on %.1f MB, off %.1f MB (off/on %s)\n' \
    "$(awk -v w="$(median "${size_on[@]}")" 'BEGIN {print w / 1048576}')" \
    "$(awk -v w="$(median "${size_off[@]}")" 'BEGIN {print w / 1048576}')" \
    "$(ratio "$(median "${size_off[@]}")" "$(median "${size_on[@]}")")"
printf 'drain rate: on %s events/s, off %s events/s (off/on %s)\n' \
    "$(median "${rate_on[@]}")" "$(median "${rate_off[@]}")" \
    "$(ratio "$(median "${rate_off[@]}")" "$(median "${rate_on[@]}")")"
bench_check_build
