#!/usr/bin/env bash
# The floor of the delivery worker's bookkeeping: how many events per second Postgres can
# claim and record with the worker's own statements, with no HTTP at all. By the spec every
# attempt updates its event_log row and inserts an event_invocation_logs row holding the
# request (headers + body) and the response; if even that, alone, runs below 0.5 x nginx's
# raw capacity (measured in the same run), no sender can drain at 0.5 x nginx.
#
#  - A cluster WITHOUT shared_preload_libraries: no delivery worker runs, so nothing is ever
#    sent or recorded behind our back (CREATE EXTENSION only warns).
#  - $events events from one INSERT into a table shaped like bench/delivery.sh's (same names,
#    so the payloads have the same size); webhook http://127.0.0.1:9/hook, never contacted.
#  - Untimed: for each batch of 100 consecutive events (id order), the ten column arrays the
#    worker passes to kRecordSql (as record_results() builds them from run_round()'s records:
#    ids, trigger names, archive/delivered/error, tries, retry_in_ms, status, and the JSON
#    texts of the request log as dispatch() builds it, body as build_event_body() builds it,
#    and of the response log of nginx's '{"ok":true}'), in docs(batch, ids uuid[], names
#    text[], archive bool[], delivered bool[], error bool[], tries int[], retry int8[], status
#    int[], requests text[], responses text[]), and the cursor mark before the batch in
#    marks(batch, after uuid).
#  - Timed, pgbench -n -c 1 -j 1 -t $batches (one connection, like the one worker; 100 events
#    per transaction, like its rounds), each statement PREPAREd once per connection with the
#    worker's own text and parameter types, then EXECUTEd with the batch's arrays/mark:
#      (B) claim:  kClaimSql, plan_cache_mode = force_custom_plan (the worker prepares it with
#                  CURSOR_OPT_CUSTOM_PLAN), $1 = 100, $2 = $3 = '{}', $4 = the batch's mark;
#      (A) record: kRecordSql, $1..$10 = the batch's ten arrays (its ::jsonb of each request
#                  and response text is part of the statement), default plan cache (as the
#                  worker's). The batch number is a pgbench variable, advanced once per
#                  transaction; ten SQL functions rec_*(batch) read its columns (EXECUTE takes
#                  no subqueries), so all ten arguments come from the same batch, which
#                  check_state verifies after each run (one log row per event, whose request
#                  names that event);
#      (C) round (extra): A of batch k and B of batch k+1 in one transaction, as the worker's
#                  round does it (checks the 1/(1/A + 1/B) combination);
#      harness, subtracted for the "net" figures: (A0) fetching a batch's ten arrays alone
#                  (round trip + ten calls + detoast), (A1) the same and the ::jsonb of its
#                  request and response texts, (B0) fetching a mark.
#    Each repetition: B0, B, A0, A1, A on pending events, reset, C, reset. The reset (untimed)
#    makes the events pending again (event_log_retry_time disabled meanwhile, so that they keep
#    next_retry_at NULL and stay on the cursor's path), empties event_invocation_logs and
#    vacuums. autovacuum is off; every timed run starts after VACUUM ANALYZE.
#  - nginx's raw capacity with wrk, as bench/delivery.sh (i) measures it.
# Everything simplified here makes the floor higher than the worker's (no HTTP client, empty
# in-flight list $3, no counts refresh, no autovacuum); only the harness's round trips and
# fetches make it lower, and the "net" figures take those out.
#
# Usage: bench/record_floor.sh [--quick] [--events N] [--reps N] [--wrk-seconds S]  (as root)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

events=100000
reps=3
wrk_seconds=10
while (($#)); do
    case $1 in
        --quick) events=10000; reps=2; wrk_seconds=3 ;;
        --events) events=$2; shift ;;
        --reps) reps=$2; shift ;;
        --wrk-seconds) wrk_seconds=$2; shift ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
bench_require_root
batch_size=100   # the worker's rounds (eventhooks.fetch_batch_size, max_concurrent_deliveries)
((events >= 1000 && events <= 1000000 && events % batch_size == 0 && reps >= 1 && reps <= 5 &&
  wrk_seconds >= 1 && wrk_seconds <= 60)) || { echo "bad arguments" >&2; exit 2; }
batches=$((events / batch_size))
command -v wrk >/dev/null && command -v nginx >/dev/null ||
    { echo "wrk/nginx missing: bash scripts/install-deps.sh --bench" >&2; exit 1; }

# The worker's statements, copied from src/pg/delivery/delivery_queue.cpp at commit 55d531c (the
# string literals concatenated, macros EVENT_COLUMNS and PENDING expanded; only line breaks
# differ). check_statements below compares them with the checkout and says so if they drifted.
record_sql=$(cat <<'SQL'
WITH r AS (  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::bool[], $5::bool[],
    $6::int[], $7::int8[], $8::int[], $9::text[], $10::text[])
  AS r(id, trigger_name, archive, delivered, error, tries, retry_in_ms, status, request,
    response)),
u AS (  UPDATE eventhooks.event_log e SET delivered = r.delivered, error = r.error,
    tries = CASE WHEN r.archive THEN e.tries ELSE r.tries END,
    archived = e.archived OR r.archive, locked = NULL,
    next_retry_at = CASE WHEN r.retry_in_ms IS NULL OR r.retry_in_ms < 0 THEN NULL
      ELSE pg_catalog.clock_timestamp() + r.retry_in_ms * interval '1 millisecond' END
  FROM r WHERE e.id = r.id)
INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, NULLIF(status, 0), request::jsonb, response::jsonb
FROM r WHERE NOT r.archive
SQL
)
claim_sql=$(cat <<'SQL'
SELECT * FROM (
 (SELECT e.id, e.trigger_name, e.schema_name, e.table_name, e.payload::text,
    to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), e.tries,
    t.name IS NOT NULL, t.webhook, t.webhook_from_env, t.headers::text, t.retry_conf::text , false
  FROM eventhooks.event_log e
  LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name
  WHERE e.next_retry_at IS NOT NULL AND e.next_retry_at <= now() AND
    NOT e.delivered AND NOT e.error AND NOT e.archived
    AND e.trigger_name <> ALL ($2) AND e.id <> ALL ($3::uuid[])
  ORDER BY e.next_retry_at LIMIT $1)
 UNION ALL
 (SELECT e.id, e.trigger_name, e.schema_name, e.table_name, e.payload::text,
    to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), e.tries,
    t.name IS NOT NULL, t.webhook, t.webhook_from_env, t.headers::text, t.retry_conf::text , true
  FROM eventhooks.event_log e
  LEFT JOIN eventhooks.event_triggers t ON t.name = e.trigger_name
  WHERE e.id > $4 AND e.next_retry_at IS NULL AND
    NOT e.delivered AND NOT e.error AND NOT e.archived
    AND e.id <> ALL ($3::uuid[])
  ORDER BY e.id LIMIT $1)) claim
LIMIT $1
SQL
)
# The worker's parameter types: UUIDARRAYOID, TEXTARRAYOID, BOOLARRAYOID x3, INT4ARRAYOID,
# INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID x2; INT4OID, TEXTARRAYOID, UUIDARRAYOID, UUIDOID.
prepare_record="PREPARE record(uuid[], text[], bool[], bool[], bool[], int4[], int8[], int4[], text[], text[]) AS $record_sql;"
prepare_claim="PREPARE claim(int, text[], uuid[], uuid) AS $claim_sql;"

# check_statements: "same" or a note when the checkout's kRecordSql/kClaimSql differ from ours
# (compared without whitespace).
check_statements() {
    python3 - "$repo_dir/src/pg/delivery/delivery_queue.cpp" "$record_sql" "$claim_sql" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
def concat(expr, macros):
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)', expr):
        if m.group(1) is not None:
            out.append(re.sub(r'\\(.)', r'\1', m.group(1)))
        elif m.group(2) in macros:
            out.append(macros[m.group(2)])
        else:
            raise KeyError(m.group(2))
    return ''.join(out)
macros = {}
for m in re.finditer(r'^#define (EVENT_COLUMNS|PENDING)\s((?:.*\\\n)*.*)$', src, re.M):
    macros[m.group(1)] = concat(m.group(2).replace('\\\n', ' '), macros)
squash = lambda s: re.sub(r'\s+', '', s)
problems = []
for name, ours in (('kRecordSql', sys.argv[2]), ('kClaimSql', sys.argv[3])):
    m = re.search(r'const char \*const ' + name + r' =(.*?);\n', src, re.S)
    try:
        theirs = concat(m.group(1), macros) if m else None
    except KeyError:
        theirs = None
    if theirs is None:
        problems.append(name + ' not found')
    elif squash(theirs) != squash(ours):
        problems.append(name + ' differs')
print('same' if not problems else '; '.join(problems))
PY
}

make_work record_floor
trap bench_cleanup EXIT
echo "# record floor: the worker's claim and record statements alone, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bench/record_floor.sh $*  (events=$events in $batches batches of $batch_size, reps=$reps, wrk=${wrk_seconds}s)"
machine_line
build_line
statements_check=$(check_statements)
if [[ $statements_check == same ]]; then
    echo "statements: kRecordSql and kClaimSql as in the checkout's src/pg/delivery/delivery_queue.cpp (copied at 55d531c)"
else
    echo "statements: **the checkout's src/pg/delivery/delivery_queue.cpp changed: $statements_check** (this script runs its copy from 55d531c)"
fi
start_cluster 0 "autovacuum = off"
start_nginx 2
echo "cluster: fsync=on synchronous_commit=on shared_buffers=1GB autovacuum=off, no shared_preload_libraries" \
    "(no delivery worker); nginx 1.22 (Debian), 2 worker processes"

sql -c "CREATE EXTENSION pg_eventhooks" 2>"$work/create.err" || { cat "$work/create.err" >&2; exit 1; }
sql >/dev/null <<'SQL'
CREATE TABLE bench_drain (id bigserial PRIMARY KEY, customer_id int NOT NULL, name text NOT NULL,
    amount numeric(10,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
SELECT eventhooks.create_event_trigger('drain_events', 'bench_drain',
    webhook => 'http://127.0.0.1:9/hook', on_insert => '{}');
SQL
t0=$(date +%s.%N)
sql -c "INSERT INTO bench_drain (customer_id, name, amount)
        SELECT g, 'customer ' || g::text, g * 0.01 FROM generate_series(1, $events) g"
t1=$(date +%s.%N)
[[ $(sql -c "SELECT count(*) FROM eventhooks.event_log") == "$events" ]] ||
    { echo "expected $events events in event_log" >&2; exit 1; }
log "inserted $events rows (events) in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; building the arrays"

# The records' column arrays, as record_results() passes them. The request and response texts
# byte for byte as the worker builds them (nlohmann's dump: keys sorted, no spaces; the
# request splices the body, which splices payload::text with jsonb's spaces, verbatim).
# elapsed_ms: a double as curl timed it; 0.412345 is as long as a typical one.
# archive false, delivered true, error false, tries 1, retry_in_ms -1, status 200: a first
# attempt answered 200 (record_attempt()).
sql -v batch_size="$batch_size" >/dev/null <<'SQL'
CREATE UNLOGGED TABLE rec AS
SELECT e.id, e.trigger_name, row_number() OVER (ORDER BY e.id) AS rn,
       (row_number() OVER (ORDER BY e.id) - 1) / :batch_size + 1 AS batch,
       lag(e.id) OVER (ORDER BY e.id) AS prev, b.body,
       '{"headers":{"Content-Type":"application/json","webhook-id":"' || e.id
         || '"},"url":' || to_json(t.webhook)::text || ',"payload":' || b.body || '}' AS request,
       '{"body":"{\"ok\":true}","body_truncated":false,"elapsed_ms":0.412345,"status":200}'::text
         AS response
FROM eventhooks.event_log e
JOIN eventhooks.event_triggers t ON t.name = e.trigger_name
CROSS JOIN LATERAL (SELECT
       '{"event":' || e.payload::text
         || ',"created_at":' || to_json(to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
         || ',"id":"' || e.id || '","delivery_info":{"max_retries":0,"current_retry":' || e.tries
         || '},"trigger":{"name":' || to_json(e.trigger_name)::text
         || '},"table":{"schema":' || to_json(e.schema_name)::text || ',"name":' || to_json(e.table_name)::text
         || '}}' AS body) b;

-- STORAGE EXTERNAL: no pglz decompression of the arrays (60+ KiB of texts per batch) when
-- the harness fetches them (the worker builds them in memory).
CREATE TABLE docs (batch int PRIMARY KEY, ids uuid[] NOT NULL, names text[] NOT NULL,
    archive bool[] NOT NULL, delivered bool[] NOT NULL, error bool[] NOT NULL, tries int[] NOT NULL,
    retry int8[] NOT NULL, status int[] NOT NULL, requests text[] NOT NULL, responses text[] NOT NULL);
ALTER TABLE docs ALTER ids SET STORAGE EXTERNAL, ALTER names SET STORAGE EXTERNAL,
    ALTER archive SET STORAGE EXTERNAL, ALTER delivered SET STORAGE EXTERNAL,
    ALTER error SET STORAGE EXTERNAL, ALTER tries SET STORAGE EXTERNAL,
    ALTER retry SET STORAGE EXTERNAL, ALTER status SET STORAGE EXTERNAL,
    ALTER requests SET STORAGE EXTERNAL, ALTER responses SET STORAGE EXTERNAL;
INSERT INTO docs
SELECT batch, array_agg(id ORDER BY id), array_agg(trigger_name ORDER BY id),
       array_agg(false ORDER BY id), array_agg(true ORDER BY id), array_agg(false ORDER BY id),
       array_agg(1 ORDER BY id), array_agg(-1::int8 ORDER BY id), array_agg(200 ORDER BY id),
       array_agg(request ORDER BY id), array_agg(response ORDER BY id)
FROM rec GROUP BY batch;
CREATE TABLE marks (batch int PRIMARY KEY, after uuid NOT NULL);
INSERT INTO marks
SELECT batch, coalesce(prev, '00000000-0000-0000-0000-000000000000')
FROM rec WHERE (rn - 1) % :batch_size = 0;
SQL
read -r body_size request_size response_size texts_kb n_docs n_marks n_bad < <(sql -F' ' -c "
    SELECT round(avg(octet_length(body))), round(avg(octet_length(request))),
           round(avg(octet_length(response))),
           (SELECT round(avg((SELECT sum(octet_length(x)) FROM unnest(requests || responses) x)) / 1024)
              FROM docs),
           (SELECT count(*) FROM docs), (SELECT count(*) FROM marks),
           (SELECT count(*) FROM docs d WHERE NOT (
                cardinality(ids) = $batch_size AND cardinality(names) = $batch_size
                AND cardinality(archive) = $batch_size AND cardinality(delivered) = $batch_size
                AND cardinality(error) = $batch_size AND cardinality(tries) = $batch_size
                AND cardinality(retry) = $batch_size AND cardinality(status) = $batch_size
                AND cardinality(requests) = $batch_size AND cardinality(responses) = $batch_size
                AND (SELECT bool_and(q::jsonb->'headers'->>'webhook-id' = i::text
                                     AND s::jsonb->>'status' = '200')
                     FROM unnest(ids, requests, responses) u(i, q, s))))
    FROM rec")
((n_docs == batches && n_marks == batches && n_bad == 0)) ||
    { echo "expected $batches docs and marks, all well formed; got $n_docs/$n_marks, $n_bad bad" >&2; exit 1; }
sample_body=$(sql -c "SELECT body FROM rec ORDER BY id LIMIT 1")
sql -c "DROP TABLE rec"
echo "our webhook body: $body_size bytes; one request log (with the body): $request_size bytes; one response log:" \
    "$response_size bytes;"
echo "  one batch's ten arrays hold $texts_kb KiB of request and response texts. The first event's body:"
echo "    $sample_body"

# Helpers the harness calls: the columns of batch b (a pgbench variable, advanced once per
# transaction: all ten arguments of one EXECUTE read the same batch), the next batch's mark
# (by a sequence reset before each run). STABLE: the caller's snapshot, no new one per call.
sql >/dev/null <<'SQL'
CREATE SEQUENCE claim_batch;
CREATE FUNCTION rec_ids(b int) RETURNS uuid[] LANGUAGE sql STABLE
    AS $$ SELECT ids FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_names(b int) RETURNS text[] LANGUAGE sql STABLE
    AS $$ SELECT names FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_archive(b int) RETURNS bool[] LANGUAGE sql STABLE
    AS $$ SELECT archive FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_delivered(b int) RETURNS bool[] LANGUAGE sql STABLE
    AS $$ SELECT delivered FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_error(b int) RETURNS bool[] LANGUAGE sql STABLE
    AS $$ SELECT error FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_tries(b int) RETURNS int[] LANGUAGE sql STABLE
    AS $$ SELECT tries FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_retry(b int) RETURNS int8[] LANGUAGE sql STABLE
    AS $$ SELECT retry FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_status(b int) RETURNS int[] LANGUAGE sql STABLE
    AS $$ SELECT status FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_requests(b int) RETURNS text[] LANGUAGE sql STABLE
    AS $$ SELECT requests FROM docs WHERE batch = b $$;
CREATE FUNCTION rec_responses(b int) RETURNS text[] LANGUAGE sql STABLE
    AS $$ SELECT responses FROM docs WHERE batch = b $$;
CREATE FUNCTION claim_mark() RETURNS uuid LANGUAGE sql VOLATILE
    AS $$ SELECT after FROM marks WHERE batch = (SELECT nextval('claim_batch')) $$;
SQL

# pgbench scripts. PREPARE once per connection (pgbench variable "prepared", -D prepared=0);
# the record batch is the pgbench variable "batch" (-D batch=0, plus one per transaction).
# -M simple: pgbench leaves the unknown ":MI" ":SS" of to_char's format and the casts "::" alone.
prepare_once() { # STATEMENTS...
    printf '%s\n' '\if :prepared = 0'
    printf '%s\n' "$@"
    printf '%s\n' '\set prepared 1'
    printf '%s\n' '\endif'
}
record_args="rec_ids(:batch), rec_names(:batch), rec_archive(:batch), rec_delivered(:batch),"
record_args+=" rec_error(:batch), rec_tries(:batch), rec_retry(:batch), rec_status(:batch),"
record_args+=" rec_requests(:batch), rec_responses(:batch)"
# The same fetches as A's arguments, each detoasted (cardinality reads a whole array).
fetch_sum="cardinality(rec_ids(:batch)) + cardinality(rec_names(:batch))"
fetch_sum+=" + cardinality(rec_archive(:batch)) + cardinality(rec_delivered(:batch))"
fetch_sum+=" + cardinality(rec_error(:batch)) + cardinality(rec_tries(:batch))"
fetch_sum+=" + cardinality(rec_retry(:batch)) + cardinality(rec_status(:batch))"
{ prepare_once "SET plan_cache_mode = force_custom_plan;" "$prepare_claim"
  echo "EXECUTE claim($batch_size, '{}', '{}', claim_mark());"; } >"$work/claim.sql"
{ prepare_once "$prepare_record"
  echo '\set batch :batch + 1'
  echo "EXECUTE record($record_args);"; } >"$work/record.sql"
{ prepare_once "$prepare_record" "$prepare_claim"
  echo '\set batch :batch + 1'
  echo "BEGIN;"
  echo "EXECUTE record($record_args);"
  echo "SET LOCAL plan_cache_mode = force_custom_plan;"
  echo "EXECUTE claim($batch_size, '{}', '{}', claim_mark());"
  echo "COMMIT;"; } >"$work/round.sql"
echo "SELECT claim_mark() IS NOT NULL;" >"$work/mark_only.sql"
{ echo '\set batch :batch + 1'
  echo "SELECT $fetch_sum + cardinality(rec_requests(:batch)) + cardinality(rec_responses(:batch));"
} >"$work/fetch_only.sql"
{ echo '\set batch :batch + 1'
  echo "SELECT $fetch_sum + (SELECT count(*) FROM unnest(rec_requests(:batch), rec_responses(:batch)) r(q, s)"
  echo "    WHERE q::jsonb IS NOT NULL AND s::jsonb IS NOT NULL);"
} >"$work/fetch_parse.sql"
chown postgres: "$work"/*.sql

# run_pgbench NAME SCRIPT [CLAIM_FROM]: one timed run of $batches transactions; sets tps
# (pgbench's, without initial connection time). Record batches from 1 (pgbench variable
# batch), claim_batch from CLAIM_FROM (default 1).
run_pgbench() {
    local name=$1 script=$2 claim_from=${3:-1} out
    sql -c "SELECT setval('claim_batch', $claim_from, false)" >/dev/null
    out=$(pgbench -n -M simple -c 1 -j 1 -t "$batches" -D prepared=0 -D batch=0 -f "$work/$script" postgres 2>&1) ||
        { echo "pgbench $name failed:" >&2; echo "$out" >&2; exit 1; }
    grep -q "actually processed: $batches/$batches" <<<"$out" ||
        { echo "pgbench $name: not all transactions processed:" >&2; echo "$out" >&2; exit 1; }
    tps=$(awk '/^tps = / {print $3}' <<<"$out")
    [[ -n $tps ]] || { echo "pgbench $name: no tps:" >&2; echo "$out" >&2; exit 1; }
}

reset_events() {
    sql >/dev/null <<'SQL'
ALTER TABLE eventhooks.event_log DISABLE TRIGGER event_log_retry_time;
UPDATE eventhooks.event_log SET delivered = false, error = false, tries = 0, next_retry_at = NULL,
    locked = NULL, archived = false;
ALTER TABLE eventhooks.event_log ENABLE ALWAYS TRIGGER event_log_retry_time;
TRUNCATE eventhooks.event_invocation_logs;
SQL
    vacuum_all
}
vacuum_all() {
    sql -c "VACUUM ANALYZE eventhooks.event_log" -c "VACUUM ANALYZE eventhooks.event_invocation_logs" \
        -c "VACUUM ANALYZE docs" -c "VACUUM ANALYZE marks"
}
# check_state DELIVERED LOGS: expected counts. Also: the logs are of LOGS distinct events, each
# logged event is delivered, and every log row's request and response are its own event's
# (its request names the event's id twice: webhook-id header and body id): so each record
# statement took its ten arrays from one batch, and each batch was recorded exactly once.
check_state() {
    local got
    got=$(sql -F' ' -c "SELECT (SELECT count(*) FROM eventhooks.event_log WHERE delivered AND tries = 1
                                  AND next_retry_at IS NULL AND NOT error AND NOT archived),
                               (SELECT count(*) FROM eventhooks.event_log WHERE NOT delivered AND next_retry_at IS NULL),
                               (SELECT count(*) FROM eventhooks.event_invocation_logs),
                               (SELECT count(DISTINCT event_id) FROM eventhooks.event_invocation_logs),
                               (SELECT count(*) FROM eventhooks.event_invocation_logs l
                                  JOIN eventhooks.event_log e ON e.id = l.event_id
                                  WHERE e.delivered AND l.trigger_name = e.trigger_name AND l.status = 200
                                    AND l.request->'headers'->>'webhook-id' = e.id::text
                                    AND l.request->'payload'->>'id' = e.id::text
                                    AND l.response->>'status' = '200')")
    [[ $got == "$1 $((events - $1)) $2 $2 $2" ]] ||
        { echo "unexpected state (delivered, pending, logs, logged events, logs matching their event): $got," \
               "expected $1 $((events - $1)) $2 $2 $2" >&2; exit 1; }
}
wal_lsn() { sql -c "SELECT pg_current_wal_lsn()"; }
wal_bytes_since() { sql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$1')"; }

vacuum_all
check_state 0 0

echo
echo "## Plans (EXPLAIN ANALYZE once, before the timed runs)"
echo "claim, batch 2 (custom plan, as the worker's):"
sql -v prepare_claim="$prepare_claim" -v batch_size="$batch_size" >"$work/claim_plan.txt" <<'SQL'
:prepare_claim
SET plan_cache_mode = force_custom_plan;
SELECT after AS mark FROM marks WHERE batch = 2 \gset
EXPLAIN (ANALYZE, BUFFERS) EXECUTE claim(:batch_size, '{}', '{}', :'mark');
SQL
sed 's/^/    /' "$work/claim_plan.txt"
claim_uses_pkey=$(grep -c 'Index Scan using event_log_pkey' "$work/claim_plan.txt" || true)
claim_rows=$(grep -m1 -o 'Limit .*actual [^)]*rows=[0-9]*' "$work/claim_plan.txt" | grep -o 'rows=[0-9]*$' || true)
echo "record, batch 1 (in a transaction rolled back):"
sql -v prepare_record="$prepare_record" -v record_args="${record_args//:batch/1}" >"$work/record_plan.txt" <<'SQL'
:prepare_record
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE record(:record_args);
ROLLBACK;
SQL
sed 's/^/    /' "$work/record_plan.txt"
record_uses_pkey=$(grep -c 'Index Scan using event_log_pkey' "$work/record_plan.txt" || true)
vacuum_all
check_state 0 0

declare -a a_tps b_tps c_tps a0_tps a1_tps b0_tps a_wal
for rep in $(seq "$reps"); do
    log "repetition $rep/$reps"
    run_pgbench B0 mark_only.sql; b0_tps+=("$tps")
    run_pgbench B claim.sql; b_tps+=("$tps")
    check_state 0 0
    run_pgbench A0 fetch_only.sql; a0_tps+=("$tps")
    run_pgbench A1 fetch_parse.sql; a1_tps+=("$tps")
    lsn=$(wal_lsn)
    run_pgbench A record.sql; a_tps+=("$tps")
    a_wal+=("$(awk -v b="$(wal_bytes_since "$lsn")" -v n="$events" 'BEGIN {printf "%.0f", b / n}')")
    check_state "$events" "$events"
    reset_events
    check_state 0 0
    run_pgbench C round.sql 2; c_tps+=("$tps")
    check_state "$events" "$events"
    reset_events
    check_state 0 0
    log "  B $(awk -v t="${b_tps[-1]}" -v n=$batch_size 'BEGIN {printf "%.0f", t * n}') events/s," \
        "A $(awk -v t="${a_tps[-1]}" -v n=$batch_size 'BEGIN {printf "%.0f", t * n}') events/s," \
        "C $(awk -v t="${c_tps[-1]}" -v n=$batch_size 'BEGIN {printf "%.0f", t * n}') events/s"
done

echo
echo "## nginx raw capacity: wrk -t2 -c100 -d${wrk_seconds}s, POST $body_size-byte body, keep-alive (as bench/delivery.sh (i))"
measure_nginx_capacity "$body_size" "http://127.0.0.1:$nginx_port/wrk" "$wrk_seconds"
[[ -n $raw_rps ]] || { echo "wrk gave no Requests/sec" >&2; echo "$wrk_out" >&2; exit 1; }

# Figures. evs TPS -> events/s; net TPS HARNESS_TPS -> events/s of the statement without the
# harness's own time per transaction (round trip, function calls, array fetches).
evs() { awk -v t="$1" -v n=$batch_size 'BEGIN {printf "%.0f", t * n}'; }
net() { awk -v t="$1" -v h="$2" -v n=$batch_size 'BEGIN {d = 1 / t - 1 / h; if (d <= 0) print "n/a"; else printf "%.0f", n / d}'; }
combine() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "n/a" || b == "n/a" || a <= 0 || b <= 0) print "n/a"; else printf "%.0f", 1 / (1 / a + 1 / b)}'; }
ms_per_batch() { awk -v t="$1" 'BEGIN {printf "%.3f", 1000 / t}'; }
declare -a a_ev b_ev c_ev floor_ev a_net b_net floor_net a_noparse floor_noparse parse_ms
for i in $(seq 0 $((reps - 1))); do
    a_ev+=("$(evs "${a_tps[i]}")") b_ev+=("$(evs "${b_tps[i]}")") c_ev+=("$(evs "${c_tps[i]}")")
    floor_ev+=("$(combine "${a_ev[i]}" "${b_ev[i]}")")
    a_net+=("$(net "${a_tps[i]}" "${a0_tps[i]}")") b_net+=("$(net "${b_tps[i]}" "${b0_tps[i]}")")
    floor_net+=("$(combine "${a_net[i]}" "${b_net[i]}")")
    # A1 subtracted: as if the requests and responses cost no ::jsonb at all (an extreme
    # bound: the jsonb columns request and response would still need their values built).
    a_noparse+=("$(net "${a_tps[i]}" "${a1_tps[i]}")")
    floor_noparse+=("$(combine "${a_noparse[i]}" "${b_net[i]}")")
    parse_ms+=("$(awk -v p="${a1_tps[i]}" -v f="${a0_tps[i]}" 'BEGIN {printf "%.3f", 1000 / p - 1000 / f}')")
done
row() { # LABEL UNIT VALUES... -> table row with the values and their median
    local label=$1 unit=$2
    shift 2
    local cells="" v
    for v in "$@"; do cells+=" $v |"; done
    local fmt='%.0f'
    [[ $unit == ms ]] && fmt='%.3f'
    # shellcheck disable=SC2068,SC2059
    echo "| $label |$cells **$(printf "$fmt" "$(median $@)")** $unit |"
}
ms_row() { # LABEL TPS... -> ms per transaction
    local label=$1 v
    shift
    local -a ms=()
    for v in "$@"; do ms+=("$(ms_per_batch "$v")"); done
    row "$label" "ms" "${ms[@]}"
}

floor=$(printf '%.0f' "$(median "${floor_ev[@]}")")
floor_n=$(printf '%.0f' "$(median "${floor_net[@]}")")
floor_p=$(printf '%.0f' "$(median "${floor_noparse[@]}")")
target=$(awk -v r="$raw_rps" 'BEGIN {printf "%.0f", 0.5 * r}')

echo
echo "## Summary: one connection, $batch_size events per transaction, $events events per run, $reps repetitions"
echo
header="| measure |" rule="|---|"
for i in $(seq "$reps"); do header+=" run $i |"; rule+="---|"; done
echo "$header median |"
echo "$rule---|"
row "(B) claim: kClaimSql, custom plan, events/s" "events/s" "${b_ev[@]}"
row "(A) record: kRecordSql (::jsonb of requests and responses included), events/s" "events/s" "${a_ev[@]}"
row "**floor** 1/(1/A + 1/B), events/s" "events/s" "${floor_ev[@]}"
row "(C) round: A and B in one transaction (as the worker), events/s" "events/s" "${c_ev[@]}"
row "(B) net of the harness (B0 subtracted), events/s" "events/s" "${b_net[@]}"
row "(A) net of the harness (A0 subtracted), events/s" "events/s" "${a_net[@]}"
row "floor net of the harness, events/s" "events/s" "${floor_net[@]}"
row "(A) net of the harness and of the ::jsonb parse (A1 subtracted), events/s" "events/s" "${a_noparse[@]}"
row "floor net of the harness and of the ::jsonb parse (extreme bound), events/s" "events/s" "${floor_noparse[@]}"
ms_row "(B) claim, ms per transaction of $batch_size" "${b_tps[@]}"
ms_row "(A) record, ms per transaction of $batch_size" "${a_tps[@]}"
ms_row "(B0) harness: fetch a mark (round trip + call)" "${b0_tps[@]}"
ms_row "(A0) harness: fetch a batch's ten arrays (round trip + 10 calls + detoast)" "${a0_tps[@]}"
ms_row "(A1) fetch + ::jsonb of the batch's request and response texts" "${a1_tps[@]}"
row "the ::jsonb parse of $batch_size requests and responses (A1 - A0)" "ms" "${parse_ms[@]}"
row "(A) WAL bytes per event" "B" "${a_wal[@]}"
echo
echo "| nginx raw capacity (wrk -t2 -c100, ${wrk_seconds}s, $body_size-byte POST) | $(printf '%.0f' "$raw_rps") req/s |"
echo "|---|---|"
echo "| floor / nginx | $(ratio "$floor" "$raw_rps") (net of the harness: $(ratio "$floor_n" "$raw_rps")) |"
echo "| floor / (0.5 x nginx) | $(ratio "$floor" "$target") (net of the harness: $(ratio "$floor_n" "$target")) |"
echo "| floor net of the harness and of the ::jsonb parse / (0.5 x nginx) | $(ratio "$floor_p" "$target") |"
echo
echo "target: drain ≥ 0.5 × nginx = $target events/s; the bookkeeping alone allows $floor events/s" \
    "($(ratio "$floor" "$raw_rps") × nginx; net of the harness $floor_n events/s = $(ratio "$floor_n" "$raw_rps") × nginx)"
if awk -v f="$floor_n" -v t="$target" 'BEGIN {exit !(f < t)}'; then
    echo "=> even net of the harness, claiming and recording alone stay below the target: no sender can meet it."
    echo "   (even with no ::jsonb parse at all, an extreme bound: $floor_p events/s = $(ratio "$floor_p" "$target") × the target)"
else
    echo "=> the bookkeeping alone does not rule the target out."
fi
echo
echo "claim plan: $( ((claim_uses_pkey > 0)) && echo "Index Scan using event_log_pkey" || echo "**no index scan of event_log_pkey**"), ${claim_rows:-rows=?} returned;" \
    "record plan: $( ((record_uses_pkey > 0)) && echo "Index Scan using event_log_pkey" || echo "**no index scan of event_log_pkey**") (plans above)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_check_build
