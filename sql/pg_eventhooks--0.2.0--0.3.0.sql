-- pg_eventhooks 0.2.0 -> 0.3.0 (issue 20): running it in production (SPEC §7). See what is
-- happening (trigger_stats, worker_status), pause and resume event triggers, redeliver what
-- failed, clean up old events, and a worker whose start does not depend on the history kept.
--
-- The released scripts (0.1.0, 0.1.0--0.2.0) are never edited: CREATE EXTENSION runs them and
-- then this one, so a new database and an updated one have the same schema
-- (test/t/095_upgrade.pl). The library is one for every version: what it reads must work with
-- 0.1.0's and 0.2.0's tables until ALTER EXTENSION ... UPDATE has run.
\echo Use "ALTER EXTENSION pg_eventhooks UPDATE TO '0.3.0'" to load this file. \quit

-- ===== A. Control: pause/resume_event_trigger, redeliver_failed ==============================
-- A paused trigger's events are recorded as usual and not sent until it is resumed (attempts
-- in flight finish). The worker leaves a paused trigger's events where they are, as it does
-- for a webhook with no room (src/pg/delivery/delivery_queue.cpp, TriggerCursor).
ALTER TABLE eventhooks.event_triggers ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- Events that ended in `error` (retries used up), by trigger: redeliver_failed and
-- trigger_stats.dead read them without a scan of event_log. Only failed events are in it, so
-- a delivered event costs the writer and the worker nothing (the columns of the predicate do
-- not change when an event is delivered: the update stays HOT).
CREATE INDEX event_log_failed ON eventhooks.event_log (trigger_name, id)
    WHERE error AND NOT archived;

-- Pause and resume (src/pg/api/event_trigger_api.cpp): the table's owner or a superuser, as
-- for delete_event_trigger. Pausing a paused trigger, or resuming a running one, is no error.
-- A replace (create_event_trigger(..., replace => true)) keeps `paused` as it was.
CREATE FUNCTION eventhooks.pause_event_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_pause_event_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.resume_event_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_resume_event_trigger' LANGUAGE C;

-- Makes every event of the trigger that ended in `error` (not archived; written since the
-- trigger was created; created at or after `since` when given) pending again with tries = 0,
-- as redeliver_event does for one; returns how many. Reads event_log_failed, not event_log.
CREATE FUNCTION eventhooks.redeliver_failed(trigger_name text, since timestamptz DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'eventhooks_redeliver_failed' LANGUAGE C;

-- ===== B. Clean up: cleanup_event_logs, retention ===========================================
-- Settled events older than a given age go, with their invocation logs; pending ones never.
-- Settled: event_log rows delivered, and with include_failed those that were never delivered:
-- in `error` (retries used up) or archived (their trigger was deleted); cron and scheduled
-- events 'delivered', and with include_failed 'error' and 'dead' (SPEC §7: delivered, and
-- failed if asked; the retention pass passes include_failed = false). "Older" for event_log is created_at (and the id,
-- whose time is the write's: the range of the primary key is what is read); for cron and
-- scheduled events the scheduled_time (and the id, the time the event row was written: a
-- scheduled event made after its time goes once both are old enough).
--
-- One batch: the next `batch_size` rows of one table after `after`, in id order, below the
-- first id at `cutoff`; deletes those settled (the condition is in the DELETE itself, so a row
-- requeued meanwhile by redeliver_event is re-checked and kept) and their invocation logs
-- (through the *_event_id indexes). Returns how many events it deleted, how many rows it read
-- and the last id read (the next batch starts after it: what was kept is never read again).
-- The DELETE runs only when there is something to delete: cron_events and scheduled_events
-- have statement triggers that make the worker reload what waits.
-- Internal: cleanup_event_logs and the delivery worker's retention pass
-- (src/pg/delivery/retention.cpp) call it, so that the rule is in one place.
CREATE FUNCTION eventhooks._cleanup_event_logs_batch(source text, cutoff timestamptz,
    include_failed boolean, after uuid, batch_size integer,
    OUT removed bigint, OUT scanned integer, OUT last_id uuid)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    low uuid := coalesce(after, '00000000-0000-0000-0000-000000000000');
    high uuid := eventhooks.first_event_id_at(cutoff);
    ids uuid[];
    candidates uuid[];
BEGIN
    removed := 0;
    scanned := 0;
    -- No event id is older than 1970 (first_event_id_at would not be an id then).
    IF cutoff < 'epoch'::timestamptz THEN
        RETURN;
    END IF;
    IF source = 'event_log' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.delivered OR (include_failed AND (e.error OR e.archived)))
                           AND e.created_at < cutoff AS settled
              FROM eventhooks.event_log e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.event_log e WHERE e.id = ANY (candidates)
                    AND (e.delivered OR (include_failed AND (e.error OR e.archived)))
                    AND e.created_at < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSIF source = 'cron_events' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.status = 'delivered'
                            OR (include_failed AND e.status IN ('error', 'dead')))
                           AND e.scheduled_time < cutoff AS settled
              FROM eventhooks.cron_events e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.cron_events e WHERE e.id = ANY (candidates)
                    AND (e.status = 'delivered' OR (include_failed AND e.status IN ('error', 'dead')))
                    AND e.scheduled_time < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.cron_event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSIF source = 'scheduled_events' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.status = 'delivered'
                            OR (include_failed AND e.status IN ('error', 'dead')))
                           AND e.scheduled_time < cutoff AS settled
              FROM eventhooks.scheduled_events e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.scheduled_events e WHERE e.id = ANY (candidates)
                    AND (e.status = 'delivered' OR (include_failed AND e.status IN ('error', 'dead')))
                    AND e.scheduled_time < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.scheduled_event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown event source "%"', source;
    END IF;
    scanned := coalesce(cardinality(ids), 0);
    last_id := ids[scanned];
END
$$;
COMMENT ON FUNCTION eventhooks._cleanup_event_logs_batch(text, timestamptz, boolean, uuid, integer)
    IS 'internal: one batch of cleanup_event_logs and of the worker''s retention pass';

-- Returns the number of events removed: event_log rows plus cron_events and scheduled_events
-- rows (their invocation log rows are not counted). All in the caller's transaction: the row
-- locks of what is deleted are held until it commits, so a very large backlog is better left
-- to eventhooks.retention (the worker commits each batch) or cleaned with a growing age.
-- Superusers only (it deletes every trigger's history); SECURITY DEFINER so that a DBA may
-- GRANT EXECUTE to a maintenance role without giving it the tables.
CREATE FUNCTION eventhooks.cleanup_event_logs(older_than interval,
    include_failed boolean DEFAULT false, batch_size integer DEFAULT 10000) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    source text;
    after uuid;
    total bigint := 0;
    b record;
BEGIN
    IF older_than IS NULL THEN
        RAISE EXCEPTION 'older_than must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative: %', older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF include_failed IS NULL THEN
        RAISE EXCEPTION 'include_failed must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', coalesce(batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := now() - older_than;
    FOREACH source IN ARRAY ARRAY['event_log', 'cron_events', 'scheduled_events'] LOOP
        after := NULL;
        LOOP
            b := eventhooks._cleanup_event_logs_batch(source, cutoff, include_failed, after,
                                                      batch_size);
            total := total + b.removed;
            EXIT WHEN b.scanned < batch_size;
            after := b.last_id;
        END LOOP;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION eventhooks.cleanup_event_logs(interval, boolean, integer)
    IS 'deletes settled events older than older_than and their invocation logs; returns the events removed';
REVOKE EXECUTE ON FUNCTION eventhooks._cleanup_event_logs_batch(text, timestamptz, boolean, uuid, integer),
    eventhooks.cleanup_event_logs(interval, boolean, integer) FROM PUBLIC;

-- ===== C. See: trigger_stats, worker_status ==================================================

-- Per trigger, per minute delivery figures, written by the delivery worker about once a second
-- from what it gathers in memory as results come in (src/core/delivery_stats.cpp,
-- src/pg/delivery/stats_flush.cpp): events delivered, failed attempts, a histogram of the
-- commit-to-2xx latency (from the time in the event's UUIDv7 id to the 2xx response), the
-- minute's last error. trigger_stats reads the last hour of it instead of scanning
-- event_invocation_logs (20M rows an hour at 6,000 events a second). The worker deletes rows
-- older than a day. Histogram: sparse {"bucket": count}, 4 log-spaced buckets per doubling,
-- bucket b holding latencies up to 0.1 ms * 2^(b/4) (above the bound of b-1); 119: above a day.
-- Not dumped: figures, not configuration.
CREATE TABLE eventhooks.trigger_delivery_stats (
    trigger_name  text NOT NULL,
    minute        timestamptz NOT NULL,
    delivered     bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    latency       jsonb NOT NULL DEFAULT '{}',
    last_error    text,
    last_error_at timestamptz,
    PRIMARY KEY (trigger_name, minute)
);
-- The worker's deletion of old rows.
CREATE INDEX trigger_delivery_stats_minute ON eventhooks.trigger_delivery_stats (minute);
-- Readable as event_log is: a non-superuser sees the rows of the triggers it may see
-- (event_triggers' policy), from the minute the trigger was created on (not those of a deleted
-- trigger of the same name). trigger_stats reads it with the reader's rights.
GRANT SELECT ON eventhooks.trigger_delivery_stats TO PUBLIC;
ALTER TABLE eventhooks.trigger_delivery_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY of_managed_triggers ON eventhooks.trigger_delivery_stats FOR SELECT TO PUBLIC
    USING (EXISTS (SELECT FROM eventhooks.event_triggers t
                   WHERE t.name = trigger_delivery_stats.trigger_name
                     AND trigger_delivery_stats.minute >= date_trunc('minute', t.created_at)));

-- Two latency histograms added up (the worker's upsert of a minute; the view's merge of an
-- hour, through the aggregate below).
CREATE FUNCTION eventhooks._merge_latency(a jsonb, b jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT coalesce(jsonb_object_agg(h.bucket, h.n), '{}')
            FROM (SELECT e.key AS bucket, sum(e.value::bigint) AS n
                  FROM (SELECT * FROM jsonb_each_text(coalesce(a, '{}'))
                        UNION ALL SELECT * FROM jsonb_each_text(coalesce(b, '{}'))) e
                  GROUP BY e.key) h);
COMMENT ON FUNCTION eventhooks._merge_latency(jsonb, jsonb) IS
    'internal (pg_eventhooks): adds two latency histograms, for trigger_stats';
CREATE AGGREGATE eventhooks._latency_sum(jsonb) (
    SFUNC = eventhooks._merge_latency, STYPE = jsonb, INITCOND = '{}');
COMMENT ON AGGREGATE eventhooks._latency_sum(jsonb) IS
    'internal (pg_eventhooks): the sum of latency histograms, for trigger_stats';
-- The `fraction` quantile of a histogram, as the upper bound of its bucket (at most 19% above
-- the true value); NULL for an empty one. The same rule as src/core/delivery_stats.cpp.
CREATE FUNCTION eventhooks._latency_percentile(histogram jsonb, fraction double precision)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT 0.1 * power(2, c.bucket / 4.0)
            FROM (SELECT h.bucket, sum(h.n) OVER (ORDER BY h.bucket) AS seen,
                         sum(h.n) OVER () AS total
                  FROM (SELECT e.key::integer AS bucket, e.value::bigint AS n
                        FROM jsonb_each_text(histogram) e) h) c
            WHERE c.total > 0 AND c.seen >= fraction * c.total
            ORDER BY c.bucket LIMIT 1);
COMMENT ON FUNCTION eventhooks._latency_percentile(jsonb, double precision) IS
    'internal (pg_eventhooks): a percentile of a latency histogram, for trigger_stats';

-- From shared memory (src/pg/delivery/trigger_stats.cpp): the worker's requests in flight for a
-- trigger (NULL: unknown), and the point above which every pending event of event_log without
-- a next_retry_at lies (NULL: unknown, count from the beginning).
CREATE FUNCTION eventhooks._in_flight(trigger_name text) RETURNS integer
    AS 'MODULE_PATHNAME', 'eventhooks_trigger_in_flight' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION eventhooks._in_flight(text) IS
    'internal (pg_eventhooks): requests in flight for an event trigger, for trigger_stats';
CREATE FUNCTION eventhooks._resume_point() RETURNS uuid
    AS 'MODULE_PATHNAME', 'eventhooks_resume_point' LANGUAGE C STABLE;
COMMENT ON FUNCTION eventhooks._resume_point() IS
    'internal (pg_eventhooks): the delivery worker''s resume point, for trigger_stats';

-- One row per event trigger the reader may see (security_invoker: event_triggers, event_log
-- and trigger_delivery_stats are read with the reader's rights, so their row-level security
-- applies). Cheap with millions of events: no scan of event_log or event_invocation_logs.
--  pending: events not delivered, failed nor archived: those with a next_retry_at (the small
--    partial index event_log_retry) and those without, above the worker's resume point (a
--    primary-key range scan of the newest events; from the beginning if no worker published
--    one since the server started). due: of those, the ones to send now (none while paused).
--  dead: events in `error`, not archived (index event_log_failed).
--  in_flight: from the worker's shared memory; NULL when not known.
--  delivered_1h, failed_1h, latency_*, last_error*: from trigger_delivery_stats (the last 60
--    minutes; last_error over the day the rows are kept). Latency NULL: nothing delivered.
-- Only events written since the trigger was created count for it (as in event_log's policy).
CREATE VIEW eventhooks.trigger_stats WITH (security_invoker = true) AS
WITH recent AS (  -- pending without a next_retry_at: above the resume point only
    SELECT t.name, count(*) AS pending, min(e.created_at) AS oldest
    FROM eventhooks.event_log e
    JOIN eventhooks.event_triggers t ON t.name = e.trigger_name
    WHERE e.id > coalesce(eventhooks._resume_point(), '00000000-0000-0000-0000-000000000000')
      AND e.next_retry_at IS NULL AND NOT e.delivered AND NOT e.error AND NOT e.archived
      AND e.id >= eventhooks.first_event_id_at(t.created_at)
    GROUP BY t.name),
waiting AS (  -- pending with a next_retry_at (retries, requeued, held back)
    SELECT t.name, count(*) AS pending, count(*) FILTER (WHERE e.next_retry_at <= now()) AS due,
           min(e.created_at) AS oldest
    FROM eventhooks.event_log e
    JOIN eventhooks.event_triggers t ON t.name = e.trigger_name
    WHERE e.next_retry_at IS NOT NULL AND NOT e.delivered AND NOT e.error AND NOT e.archived
      AND e.id >= eventhooks.first_event_id_at(t.created_at)
    GROUP BY t.name)
SELECT t.name AS trigger_name,
       t.table_name,
       t.paused,
       coalesce(r.pending, 0) + coalesce(w.pending, 0) AS pending,
       CASE WHEN t.paused THEN 0 ELSE coalesce(r.pending, 0) + coalesce(w.due, 0) END AS due,
       eventhooks._in_flight(t.name) AS in_flight,
       coalesce(s.delivered, 0) AS delivered_1h,
       coalesce(s.failed, 0) AS failed_1h,
       d.dead,
       now() - least(r.oldest, w.oldest) AS oldest_pending_age,
       eventhooks._latency_percentile(s.latency, 0.50) AS latency_p50_ms,
       eventhooks._latency_percentile(s.latency, 0.95) AS latency_p95_ms,
       eventhooks._latency_percentile(s.latency, 0.99) AS latency_p99_ms,
       l.last_error,
       l.last_error_at
FROM eventhooks.event_triggers t
LEFT JOIN recent r ON r.name = t.name
LEFT JOIN waiting w ON w.name = t.name
CROSS JOIN LATERAL (
    SELECT count(*) AS dead FROM eventhooks.event_log e
    WHERE e.trigger_name = t.name AND e.id >= eventhooks.first_event_id_at(t.created_at)
      AND e.error AND NOT e.archived) d
CROSS JOIN LATERAL (
    SELECT sum(x.delivered)::bigint AS delivered, sum(x.failed)::bigint AS failed,
           eventhooks._latency_sum(x.latency) AS latency
    FROM eventhooks.trigger_delivery_stats x
    WHERE x.trigger_name = t.name AND x.minute > now() - interval '1 hour'
      AND x.minute >= date_trunc('minute', t.created_at)) s
LEFT JOIN LATERAL (
    SELECT x.last_error, x.last_error_at FROM eventhooks.trigger_delivery_stats x
    WHERE x.trigger_name = t.name AND x.last_error_at IS NOT NULL
      AND x.minute >= date_trunc('minute', t.created_at)
    ORDER BY x.minute DESC LIMIT 1) l ON true;
GRANT SELECT ON eventhooks.trigger_stats TO PUBLIC;

-- worker_status gets state, connections_open, last_wakeup_at and started_at
-- (src/pg/delivery/worker_status.cpp; it fills only the columns its caller's row has, so 0.2.0's
-- 9 columns keep working until this update; superusers and pg_monitor read it, see the 0.1.0
-- script).
-- state: starting, idle, delivering, holding (after a failed round: waits before it tries
-- again), stopping (finishing requests in flight at shutdown), stopped (no worker running).
SELECT pg_catalog.set_config('pg_eventhooks_upgrade.worker_status_function_acl',
    coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::text, true)
FROM pg_catalog.pg_proc p
WHERE p.oid = 'eventhooks.worker_status()'::pg_catalog.regprocedure;
-- The view is replaced in place (CREATE OR REPLACE VIEW, columns appended): it keeps its grants
-- and the views users built on it. Its new function has a name of its own (the C function
-- fills as many columns as its caller's row has, so 0.2.0's worker_status() stays as it was);
-- the old function's grants are carried over to it, since a view's functions run with the
-- reader's rights (0.1.0: pg_monitor needs both grants).
CREATE FUNCTION eventhooks._worker_status(
    OUT database_name name, OUT pid integer, OUT requests_in_flight integer,
    OUT events_pending bigint, OUT events_due bigint, OUT events_sent bigint,
    OUT events_failed bigint, OUT last_error text, OUT last_error_at timestamptz,
    OUT state text, OUT connections_open integer, OUT last_wakeup_at timestamptz,
    OUT started_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'eventhooks_worker_status' LANGUAGE C;
COMMENT ON FUNCTION eventhooks._worker_status() IS
    'internal: the rows of the view eventhooks.worker_status';
CREATE OR REPLACE VIEW eventhooks.worker_status AS SELECT * FROM eventhooks._worker_status();
DO $$
DECLARE
    g record;
BEGIN
    REVOKE ALL ON FUNCTION eventhooks._worker_status() FROM PUBLIC;
    FOR g IN SELECT * FROM pg_catalog.aclexplode(pg_catalog.current_setting(
                 'pg_eventhooks_upgrade.worker_status_function_acl')::pg_catalog.aclitem[])
             WHERE grantee <> (SELECT proowner FROM pg_catalog.pg_proc
                               WHERE oid = 'eventhooks.worker_status()'::pg_catalog.regprocedure)
    LOOP
        EXECUTE format('GRANT %s ON FUNCTION eventhooks._worker_status() TO %s%s',
                       g.privilege_type,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

-- ===== D. The worker's start: a resume point kept in a table ===============================

-- Where the delivery worker may start scanning event_log after a server restart (or a crash,
-- or a failover: the table is replicated), instead of at the beginning: a server keeping a long
-- history would otherwise read all of it at each start. The worker keeps its point here at most
-- every few seconds; why it is safe (no committed event lost): src/pg/delivery/resume_point.cpp.
-- One row per server (system_identifier: a physical standby shares it, a logical subscriber
-- that receives this table does not, so a copied row neither applies nor conflicts there),
-- for the event_log it was taken in (a new event_log after DROP and CREATE EXTENSION starts
-- from the beginning). Not a configuration table: pg_dump leaves its rows out, a restore starts
-- from the beginning. Internal: no grants, superusers only.
CREATE TABLE eventhooks.worker_resume_point (
    system_identifier bigint PRIMARY KEY,
    event_log_relid oid NOT NULL,
    resume_from uuid NOT NULL,
    saved_at timestamptz NOT NULL
);
REVOKE ALL ON eventhooks.worker_resume_point FROM PUBLIC;
COMMENT ON TABLE eventhooks.worker_resume_point IS
    'internal: where the delivery worker resumes scanning event_log after a server restart';
