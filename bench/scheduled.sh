#!/usr/bin/env bash
# Scheduled events due in the same second (issue 18): N one-off events (default 10,000) created
# by one statement (SELECT eventhooks.create_scheduled_event(...) FROM generate_series), all due
# at the same whole second, a few seconds after that statement commits; the delivery worker
# sends them to nginx on 127.0.0.1 (answering 200, logging $msec and the webhook-id header).
# Reports: all sent, each exactly once (nginx's log against scheduled_events), and the spread
# between the due time and nginx's receipt: min, p50, p90, p99, max (and any sent early).
#
# Usage: bench/scheduled.sh [--quick] [--events N] [--lead S]   (run as root)
#   --lead S: seconds between the statement's start and the due time (default 10; the
#             statement must commit before the due time, else the run says so and fails).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

events=10000
lead=10
limit=120   # seconds after the due time to wait for the last delivery
while (($#)); do
    case $1 in
        --quick) events=500; lead=5; limit=30 ;;
        --events) events=$2; shift ;;
        --lead) lead=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
((events >= 1 && events <= 100000 && lead >= 2 && lead <= 120)) || { echo "bad arguments" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

make_work scheduled
trap bench_cleanup EXIT
echo "# scheduled events benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/scheduled.sh $*  (events=$events lead=${lead}s)"
machine_line
build_line
start_cluster 1
start_nginx 2
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB;" \
    "eventhooks.max_concurrent_deliveries=$(sql -c 'SHOW eventhooks.max_concurrent_deliveries')" \
    "fetch_batch_size=$(sql -c 'SHOW eventhooks.fetch_batch_size')" \
    "poll_interval=$(sql -c 'SHOW eventhooks.poll_interval') (defaults); nginx, 2 worker processes"
sql -c "CREATE EXTENSION pg_eventhooks"
wait_delivery_worker
hook="http://127.0.0.1:$nginx_port"
access_log=$work/nginx/logs/access.log

undelivered() { sql -c "SELECT count(*) FROM eventhooks.scheduled_events WHERE status = 'scheduled'"; }

# Warm-up: one event due now, so that the worker's connection to nginx is open.
sql -c "SELECT eventhooks.create_scheduled_event('$hook/warmup', now())" >/dev/null
for _ in $(seq 100); do [[ $(undelivered) == 0 ]] && break; sleep 0.1; done
[[ $(undelivered) == 0 ]] || { echo "warm-up event not delivered" >&2; tail "$work/server.log" >&2; exit 1; }

echo
echo "## $events events due at the same second, created by one statement"
due=$(sql -c "SELECT extract(epoch FROM date_trunc('second', clock_timestamp()) + interval '$lead s')::bigint")
t_start=$(now)
created=$(sql -c "SELECT count(eventhooks.create_scheduled_event('$hook/sched', to_timestamp($due),
                      jsonb_build_object('n', g), comment => 'bench'))
                  FROM generate_series(1, $events) g")
t_commit=$(now)
ahead=$(awk -v d="$due" -v c="$t_commit" 'BEGIN {printf "%.3f", d - c}')
echo "    created $created events in $(awk -v a="$t_start" -v b="$t_commit" 'BEGIN {printf "%.2f", b - a}') s;" \
    "committed ${ahead} s before the due time $(date -u -d "@$due" '+%H:%M:%S UTC')"
if awk -v a="$ahead" 'BEGIN {exit !(a <= 0)}'; then
    echo "the statement committed after the due time: rerun with a larger --lead" >&2
    exit 1
fi
ok=0
while awk -v d="$due" -v l="$limit" -v t="$(now)" 'BEGIN {exit !(t < d + l)}'; do
    if awk -v d="$due" -v t="$(now)" 'BEGIN {exit !(t > d)}' && [[ $(undelivered) == 0 ]]; then ok=1; break; fi
    sleep 0.2
done
((ok)) || echo "    NOT all delivered within ${limit}s of the due time: $(undelivered) still scheduled"
done_at=$(since "$due")
sleep 1   # nginx flushes its access log every 100 ms; a duplicate would arrive by now
echo "    none left scheduled ${done_at} s after the due time (polled every 0.2 s)"
sql -F' ' -c "SELECT status, count(*), sum(tries) FROM eventhooks.scheduled_events
              WHERE webhook = '$hook/sched' GROUP BY status ORDER BY status" | sed 's/^/    status, events, tries: /'
sql -c "SELECT id FROM eventhooks.scheduled_events WHERE webhook = '$hook/sched'" >"$work/ids.txt"
echo "    invocation-log rows: $(sql -c "SELECT count(*) FROM eventhooks.scheduled_event_invocation_logs l
    JOIN eventhooks.scheduled_events e ON e.id = l.event_id WHERE e.webhook = '$hook/sched'")"
awk '$4 == "/sched" {print $5, $1, $2}' "$access_log" >"$work/receipts.txt"

verdict=0
python3 - "$work/ids.txt" "$work/receipts.txt" "$due" "$events" <<'PY' || verdict=$?
import collections, sys
ids = {line.strip() for line in open(sys.argv[1]) if line.strip()}
due, expected = float(sys.argv[3]), int(sys.argv[4])
times = collections.Counter()
lat, non2xx = [], 0
for line in open(sys.argv[2]):
    event_id, received, status = line.split()
    times[event_id] += 1
    if status != "200":
        non2xx += 1
    if times[event_id] == 1:
        lat.append((float(received) - due) * 1000.0)
lat.sort()
missing = len(ids - set(times))
unknown = len(set(times) - ids)
dups = sum(n - 1 for n in times.values())
def pct(p):
    return lat[min(len(lat) - 1, max(0, int(round(p / 100.0 * len(lat))) - 1))]
print(f"    events in scheduled_events: {len(ids)} (expected {expected}); requests logged by nginx: "
      f"{sum(times.values())}, distinct ids {len(times)}, missing {missing}, unknown {unknown}, "
      f"duplicate requests {dups}, non-200 {non2xx}")
if lat:
    early = sum(1 for x in lat if x < 0)
    print(f"    due time to nginx receipt (first request of each event), ms: min {lat[0]:.0f}  "
          f"p50 {pct(50):.0f}  p90 {pct(90):.0f}  p99 {pct(99):.0f}  max {lat[-1]:.0f}; "
          f"sent before the due time: {early}")
    print(f"    => {len(lat) / max(lat[-1] / 1000.0, 0.001):.0f} events/s from the due time to the last receipt")
ok = len(ids) == expected and missing == 0 and unknown == 0 and dups == 0 and non2xx == 0
print("    all sent, exactly once: " + ("yes" if ok else "**NO**"))
sys.exit(0 if ok else 3)
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_check_build
exit "$verdict"
