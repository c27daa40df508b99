-- eventhooks.trigger_stats and worker_status's 0.3.0 columns (issue 20, SPEC §7): the view's
-- columns, its figures from hand-made event_log and trigger_delivery_stats rows (no worker runs
-- here), who sees which row, and plans that read no table in full.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

-- The contract's columns, in order.
SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'eventhooks.trigger_stats'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attnum, attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'eventhooks.worker_status'::regclass AND attnum > 0 ORDER BY attnum;
-- Without preload there is no worker, and nothing is known of requests in flight or of the
-- worker's resume point (pending events are then counted from the beginning).
SELECT count(*) FROM eventhooks.worker_status;
SELECT eventhooks._in_flight('x') IS NULL AS in_flight_unknown,
       eventhooks._resume_point() IS NULL AS resume_point_unknown;

CREATE ROLE ts_alice NOLOGIN;
CREATE ROLE ts_bob NOLOGIN;
GRANT CREATE ON SCHEMA public TO ts_alice, ts_bob;
SET ROLE ts_alice;
CREATE TABLE ts_alice_orders (id int);
SELECT eventhooks.create_event_trigger('ts_alice_hook', 'ts_alice_orders',
    'http://127.0.0.1:9/a', on_insert => '{}');
INSERT INTO ts_alice_orders SELECT generate_series(1, 5);
SET ROLE ts_bob;
CREATE TABLE ts_bob_items (id int);
SELECT eventhooks.create_event_trigger('ts_bob_hook', 'ts_bob_items', 'http://127.0.0.1:9/b',
    on_insert => '{}');
INSERT INTO ts_bob_items VALUES (1), (2);
RESET ROLE;

-- A view of the figures that do not depend on the clock.
CREATE FUNCTION stats() RETURNS TABLE (trigger_name text, paused boolean, pending bigint,
    due bigint, in_flight integer, delivered_1h bigint, failed_1h bigint, dead bigint,
    has_oldest boolean, p50 double precision, p95 double precision, p99 double precision,
    last_error text, error_recent boolean)
LANGUAGE sql AS $$
    SELECT trigger_name, paused, pending, due, in_flight, delivered_1h, failed_1h, dead,
           oldest_pending_age >= interval '0', round(latency_p50_ms::numeric, 4)::float8,
           round(latency_p95_ms::numeric, 4)::float8, round(latency_p99_ms::numeric, 4)::float8,
           last_error, last_error_at > now() - interval '1 hour'
    FROM eventhooks.trigger_stats ORDER BY 1
$$;
-- New events are pending and due; nothing delivered yet: 0, latency NULL.
SELECT * FROM stats();

-- One event waits for a retry an hour from now (pending, not due), one ended in error (dead),
-- one was delivered (neither).
WITH e AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM eventhooks.event_log
           WHERE trigger_name = 'ts_alice_hook')
UPDATE eventhooks.event_log l
SET next_retry_at = CASE WHEN e.n = 1 THEN now() + interval '1 hour' END,
    error = e.n = 2, delivered = e.n = 3, tries = 1
FROM e WHERE l.id = e.id AND e.n <= 3;
-- And one of bob's is due for a retry now.
UPDATE eventhooks.event_log SET next_retry_at = now() - interval '1 second', tries = 1
WHERE id = (SELECT id FROM eventhooks.event_log WHERE trigger_name = 'ts_bob_hook'
            ORDER BY id LIMIT 1);
SELECT * FROM stats();

-- The worker's per minute figures: two minutes in the last hour, one two hours ago (out of
-- the hour's figures, but its error is older than the hour's), one from before the trigger was
-- created (a deleted trigger of the same name: never counted).
INSERT INTO eventhooks.trigger_delivery_stats
    (trigger_name, minute, delivered, failed, latency, last_error, last_error_at)
VALUES
    ('ts_alice_hook', date_trunc('minute', now()) - interval '5 minutes', 90, 3,
     '{"4": 50, "8": 40}', 'HTTP status 500', now() - interval '5 minutes'),
    ('ts_alice_hook', date_trunc('minute', now()) - interval '2 minutes', 10, 0,
     '{"8": 5, "12": 5}', NULL, NULL),
    ('ts_alice_hook', date_trunc('minute', now()) - interval '2 hours', 1000, 7,
     '{"40": 1000}', 'old error', now() - interval '2 hours'),
    ('ts_bob_hook', date_trunc('minute', now()), 1, 1, '{"20": 1}', 'connection refused',
     now());
UPDATE eventhooks.event_triggers SET created_at = now() - interval '3 hours'
WHERE name = 'ts_alice_hook';
INSERT INTO eventhooks.trigger_delivery_stats (trigger_name, minute, delivered, latency)
VALUES ('ts_alice_hook', date_trunc('minute', now()) - interval '4 hours', 5, '{"1": 5}');
-- alice: 100 delivered in the hour, histogram {4: 50, 8: 45, 12: 5}: p50 is bucket 4's bound
-- (0.2 ms), p95 bucket 8's (0.4 ms), p99 bucket 12's (0.8 ms). bob: one in bucket 20 (3.2 ms).
SELECT * FROM stats();

-- The histogram functions on their own.
SELECT eventhooks._merge_latency('{"1": 2, "3": 1}', '{"3": 4, "7": 1}') AS merged,
       eventhooks._merge_latency('{}', NULL) AS empty;
SELECT eventhooks._latency_percentile('{}', 0.5) IS NULL AS empty_is_null,
       eventhooks._latency_percentile('{"0": 1}', 0.99) AS bucket0,
       round(eventhooks._latency_percentile('{"14": 9, "119": 1}', 0.9)::numeric, 4) AS p90,
       round(eventhooks._latency_percentile('{"14": 9, "119": 1}', 0.91)::numeric, 0) AS p91;
SELECT eventhooks._latency_sum(h) FROM (VALUES ('{"1": 1}'::jsonb), ('{"1": 2, "2": 1}')) v(h);

-- Paused: pending, but nothing due.
UPDATE eventhooks.event_triggers SET paused = true WHERE name = 'ts_bob_hook';
SELECT trigger_name, paused, pending, due FROM eventhooks.trigger_stats ORDER BY 1;
UPDATE eventhooks.event_triggers SET paused = false WHERE name = 'ts_bob_hook';

-- Who sees what: a table owner sees the row of his trigger only (event_triggers' row-level
-- security, the view being security_invoker), with the same figures, and of the figures table
-- only his rows; he needs no other grant. worker_status stays closed to him.
SET ROLE ts_alice;
SELECT * FROM stats();
SELECT trigger_name, delivered FROM eventhooks.trigger_delivery_stats ORDER BY minute;
SELECT count(*) FROM eventhooks.worker_status;
SET ROLE ts_bob;
SELECT * FROM stats();
SELECT trigger_name, delivered FROM eventhooks.trigger_delivery_stats;
RESET ROLE;

-- Only events written since the trigger was created count (a trigger of the same name made
-- later does not take the events of a deleted one).
UPDATE eventhooks.event_triggers SET created_at = now() + interval '1 minute'
WHERE name = 'ts_bob_hook';
SELECT trigger_name, pending, due, dead, delivered_1h FROM eventhooks.trigger_stats ORDER BY 1;

-- The plan reads event_log through its indexes only: the primary key from the resume point
-- (here from the beginning: no worker published one), event_log_retry for what waits for a
-- retry, event_log_failed for the dead, and the figures table by its primary key. Nothing reads
-- event_invocation_logs. These tables are tiny, so the planner would rightly scan them in full:
-- shown with enable_seqscan off (what the planner picks on a large table).
CREATE FUNCTION scans(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line ~ 'Scan' THEN
            RETURN NEXT regexp_replace(line, '^[ >-]*', '');
        END IF;
    END LOOP;
END
$$;
SET enable_seqscan = off;
SELECT * FROM scans('SELECT * FROM eventhooks.trigger_stats') s
WHERE s ~ 'event_log|event_invocation_logs|trigger_delivery_stats' ORDER BY 1;
SELECT count(*) AS seq_scans_of_event_tables
FROM scans('SELECT * FROM eventhooks.trigger_stats') s
WHERE s ~ 'Seq Scan on (event_log|event_invocation_logs|trigger_delivery_stats)';
RESET enable_seqscan;

-- Clean up.
DROP FUNCTION stats(), scans(text);
DROP OWNED BY ts_alice, ts_bob;
DROP ROLE ts_alice, ts_bob;
DROP EXTENSION pg_eventhooks;
