#!/usr/bin/env bash
# Profile of the enqueue hot path (issue 5), two ways:
#  1. perf: `perf record --call-graph dwarf` (software cpu-clock event: this VM has no
#     hardware counters) on the 8 backends of a pgbench run of single-row INSERTs into a table
#     with pg_eventhooks' trigger; prints where the backends' time goes, and the top symbols
#     inside the trigger by self and by children time.
#  2. callgrind: instructions per transaction, counted exactly (no noise from the shared
#     machine), for the four configurations of bench/enqueue.sh, in single-user postgres
#     running N single-row INSERT + COMMIT in a DO loop; then the trigger's own breakdown
#     (--toggle-collect=eventhooks_capture_event), self and inclusive.
#
# Usage: bench/profile.sh [--quick] [--duration SECONDS] [--rows N] [--no-perf]   (run as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

duration=30
rows=20000
use_perf=1
while (($#)); do
    case $1 in
        --quick) duration=6; rows=2000 ;;
        --duration) duration=$2; shift ;;
        --rows) rows=$2; shift ;;
        --no-perf) use_perf=0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((duration >= 5 && duration <= 600 && rows >= 100 && rows <= 1000000)) || { echo "bad arguments" >&2; exit 2; }
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
    { echo "valgrind missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

make_work profile
trap bench_cleanup EXIT
echo "# profile of the trigger hot path, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/profile.sh $*  (duration=${duration}s rows=$rows)"
machine_line
build_line
start_cluster 0 "autovacuum = off"
create_enqueue_configs >/dev/null

if ((use_perf)) && perf record -q -e cpu-clock -o "$work/perf.check" -- true >/dev/null 2>&1; then
    echo
    echo "## 1. perf: pgbench -n -M prepared -c 8 -j 2 -T $duration into bench_b (pg_eventhooks trigger)"
    pgbench -n -M prepared -c 8 -j 2 -T "$duration" -f "$work/insert_b.sql" postgres >"$work/pgbench.out" 2>&1 &
    pgbench_pid=$!
    bench_pids+=("$pgbench_pid")
    pids=""
    for _ in $(seq 50); do
        sleep 0.2
        pids=$(sql -c "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'pgbench' HAVING count(*) = 8")
        [[ -n $pids ]] && break
    done
    [[ -n $pids ]] || { echo "pgbench backends not found" >&2; exit 1; }
    sleep 1
    # dwarf unwinding: the Debian postgres binary is built without frame pointers.
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -p "$pids" -o "$work/perf.data" \
        -- sleep $((duration - 3)) >/dev/null 2>&1
    wait "$pgbench_pid"
    grep -E '^(tps|number of transactions actually)' "$work/pgbench.out"
    perf script -i "$work/perf.data" -F ip,sym 2>/dev/null >"$work/perf.stacks"
    echo
    python3 "$bench_dir/perf_stacks.py" --focus eventhooks_capture_event --top 15 <"$work/perf.stacks"
else
    echo
    echo "## 1. perf: not available here (perf record -e cpu-clock failed or --no-perf); callgrind only"
fi

echo
echo "## 2. callgrind: instructions per single-row INSERT transaction, $rows rows, single-user postgres"
stop_cluster
single_user() { # CONFIG OUTFILE TOGGLE_FUNCTION
    local c=$1 out=$2 toggle=$3
    cat >"$work/single_$c.sql" <<SQL
INSERT INTO bench_$c (customer_id, name, amount) SELECT g, 'customer ' || g::text, g * 0.01 FROM generate_series(1, 10) g;

DO \$\$ BEGIN FOR i IN 1..$rows LOOP INSERT INTO bench_$c (customer_id, name, amount) VALUES (i, 'customer ' || i::text, i * 0.01); COMMIT; END LOOP; END \$\$;

SQL
    chown postgres: "$work/single_$c.sql"
    (cd "$work" && as_postgres valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect="$toggle" "$pgbin/postgres" --single -j -D "$work/data" \
        -c shared_buffers=128MB -c autovacuum=off postgres <"$work/single_$c.sql" >"$work/single_$c.log" 2>&1) ||
        { tail -20 "$work/single_$c.log" >&2; exit 1; }
    if grep -q ERROR "$work/single_$c.log"; then grep ERROR "$work/single_$c.log" >&2; exit 1; fi
}
total_ir() { grep -m1 '^summary:' "$1" | awk '{print $2}'; }

# The warm-up INSERT (library load, caches) runs outside the collected function; the DO block
# (the loop, N INSERTs with their triggers, N COMMITs) is what is counted.
declare -A ir
for c in a b c d; do
    single_user "$c" "$work/cg_$c.out" plpgsql_inline_handler
    ir[$c]=$(total_ir "$work/cg_$c.out")
done
echo
echo "| configuration | instructions per transaction | vs (a) | added by recording the event |"
echo "|---|---|---|---|"
declare -A name=([a]="(a) no trigger" [b]="(b) pg_eventhooks C++ trigger"
                 [c]="(c) PL/pgSQL row_to_json trigger (Hasura-style)" [d]="(d) PgQ pgq.logutriga")
for c in a b c d; do
    per=$((ir[$c] / rows))
    base=$((ir[a] / rows))
    echo "| ${name[$c]} | $(printf "%'d" "$per") | $(ratio "$per" "$base") | $(printf "%'d" $((per - base))) |"
done
echo "(includes the DO loop's own PL/pgSQL overhead per row, the same in every configuration)"

single_user b "$work/cg_trigger.out" eventhooks_capture_event
calls=$((rows + 10))
echo
echo "### Inside eventhooks_capture_event: $(printf "%'d" $(( $(total_ir "$work/cg_trigger.out") / calls ))) instructions per row (inclusive)"
echo
echo "Top functions by inclusive cost (children), per row:"
echo
callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$work/cg_trigger.out" >"$work/cg_trigger_incl.txt" 2>/dev/null
callgrind_annotate --auto=no --threshold=100 "$work/cg_trigger.out" >"$work/cg_trigger_self.txt" 2>/dev/null
python3 "$bench_dir/callgrind_top.py" --inclusive --below eventhooks_capture_event \
    --self-listing "$work/cg_trigger_self.txt" --per "$calls" --top 20 <"$work/cg_trigger_incl.txt"
echo
echo "Top functions by self cost, per row:"
echo
python3 "$bench_dir/callgrind_top.py" --per "$calls" --top 15 <"$work/cg_trigger_self.txt"
echo
echo "(0x... = static functions of the stripped Debian postgres binary; no debug symbols installed)"
bench_check_build
