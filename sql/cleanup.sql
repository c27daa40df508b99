-- eventhooks.cleanup_event_logs (SPEC §7): settled events older than the given age go, with
-- their invocation logs; pending ones never. The rows are made by hand, with ids and times in
-- the past (event ids are UUIDv7: the id says when the row was written).
CREATE EXTENSION pg_eventhooks;
SET client_min_messages = warning;

-- An id written `age` ago, the n-th of its microsecond.
CREATE FUNCTION old_id(age interval, n integer) RETURNS uuid LANGUAGE sql AS $$
    SELECT (left(eventhooks.first_event_id_at(now() - age)::text, 24)
            || lpad(to_hex(n), 12, '0'))::uuid $$;

-- Bad arguments: an ERROR naming the argument, nothing removed.
SELECT eventhooks.cleanup_event_logs(NULL);
SELECT eventhooks.cleanup_event_logs('-1 day');
SELECT eventhooks.cleanup_event_logs('1 day', NULL);
SELECT eventhooks.cleanup_event_logs('1 day', batch_size => 0);
SELECT eventhooks.cleanup_event_logs('1 day', batch_size => NULL);

-- event_log: labels in the payload; the invocation logs carry the label as trigger_name.
INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload, delivered,
                                  error, archived, tries, created_at)
VALUES (old_id('10 days', 1), 'public', 't', 'tr', '{"label": "delivered old"}', true, false, false, 1, now() - interval '10 days'),
       (old_id('10 days', 2), 'public', 't', 'tr', '{"label": "pending old"}', false, false, false, 1, now() - interval '10 days'),
       (old_id('10 days', 3), 'public', 't', 'tr', '{"label": "failed old"}', false, true, false, 3, now() - interval '10 days'),
       (old_id('10 days', 4), 'public', 't', 'tr', '{"label": "archived old"}', false, false, true, 0, now() - interval '10 days'),
       (old_id('9 days', 5), 'public', 't', 'tr', '{"label": "delivered old 2"}', true, false, false, 1, now() - interval '9 days'),
       (old_id('1 hour', 6), 'public', 't', 'tr', '{"label": "delivered young"}', true, false, false, 1, now() - interval '1 hour'),
       (old_id('1 hour', 7), 'public', 't', 'tr', '{"label": "failed young"}', false, true, false, 3, now() - interval '1 hour');
INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, payload->>'label', 200, '{}'::jsonb, '{}'::jsonb FROM eventhooks.event_log
UNION ALL SELECT id, payload->>'label', 500, '{}', '{}' FROM eventhooks.event_log
WHERE payload->>'label' IN ('delivered old', 'failed old');

-- Cron events: the label is the trigger name; 'scheduled' is pending, 'dead' counts as failed.
INSERT INTO eventhooks.cron_events (id, trigger_name, scheduled_time, status, created_at)
VALUES (old_id('10 days', 11), 'cron delivered old', now() - interval '10 days', 'delivered', now() - interval '10 days'),
       (old_id('10 days', 12), 'cron failed old', now() - interval '10 days', 'error', now() - interval '10 days'),
       (old_id('10 days', 13), 'cron dead old', now() - interval '10 days', 'dead', now() - interval '10 days'),
       (old_id('10 days', 14), 'cron scheduled old', now() - interval '10 days', 'scheduled', now() - interval '10 days'),
       (old_id('10 days', 15), 'cron delivered young', now() - interval '1 hour', 'delivered', now() - interval '10 days');
INSERT INTO eventhooks.cron_event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, 200, '{}', '{}' FROM eventhooks.cron_events;

-- Scheduled events: the label is the comment, and the response of their logs.
INSERT INTO eventhooks.scheduled_events (id, webhook, scheduled_time, comment, status, owner, created_at)
VALUES (old_id('10 days', 21), 'http://127.0.0.1:1/', now() - interval '10 days', 'one-off delivered old', 'delivered', current_user, now() - interval '10 days'),
       (old_id('10 days', 22), 'http://127.0.0.1:1/', now() - interval '10 days', 'one-off failed old', 'error', current_user, now() - interval '10 days'),
       (old_id('10 days', 23), 'http://127.0.0.1:1/', now() - interval '10 days', 'one-off scheduled old', 'scheduled', current_user, now() - interval '10 days'),
       (old_id('10 days', 24), 'http://127.0.0.1:1/', now() - interval '1 hour', 'one-off delivered young', 'delivered', current_user, now() - interval '10 days');
INSERT INTO eventhooks.scheduled_event_invocation_logs (event_id, status, request, response)
SELECT id, 200, '{}', jsonb_build_object('label', comment) FROM eventhooks.scheduled_events;

CREATE VIEW remaining AS
    SELECT 'event' AS kind, payload->>'label' AS label FROM eventhooks.event_log
    UNION ALL SELECT 'event log', trigger_name FROM eventhooks.event_invocation_logs
    UNION ALL SELECT 'cron', trigger_name FROM eventhooks.cron_events
    UNION ALL SELECT 'cron log', trigger_name FROM eventhooks.cron_event_invocation_logs
    UNION ALL SELECT 'scheduled', comment FROM eventhooks.scheduled_events
    UNION ALL SELECT 'scheduled log', response->>'label' FROM eventhooks.scheduled_event_invocation_logs;
CREATE TABLE before AS SELECT * FROM remaining;

-- Old settled events go: 2 delivered events, 1 cron, 1 scheduled = 4. Pending, archived,
-- failed and young ones stay, with their logs.
BEGIN;
SELECT eventhooks.cleanup_event_logs('1 day');
SELECT kind, label, count(*) FROM remaining GROUP BY 1, 2 ORDER BY 1, 2;
SELECT string_agg(kind || ': ' || label, ', ' ORDER BY kind, label) AS one_batch FROM remaining \gset
ROLLBACK;

-- Batches of one id give the same result.
BEGIN;
SELECT eventhooks.cleanup_event_logs('1 day', batch_size => 1);
SELECT string_agg(kind || ': ' || label, ', ' ORDER BY kind, label) = :'one_batch' AS same
FROM remaining;
-- What went (both times).
SELECT kind, label FROM before EXCEPT ALL SELECT kind, label FROM remaining ORDER BY 1, 2;
ROLLBACK;

-- An age that nothing is older than: nothing goes.
SELECT eventhooks.cleanup_event_logs('30 days', true);
SELECT eventhooks.cleanup_event_logs('100 years', true);

-- include_failed: failed (error) and dead events go too; pending and young ones still stay.
BEGIN;
SELECT eventhooks.cleanup_event_logs('1 day', true, 2);
SELECT kind, label, count(*) FROM remaining GROUP BY 1, 2 ORDER BY 1, 2;
ROLLBACK;

-- Zero: everything settled, young too, but never pending events.
SELECT eventhooks.cleanup_event_logs('0', include_failed => true);
SELECT kind, label, count(*) FROM remaining GROUP BY 1, 2 ORDER BY 1, 2;

-- Superusers only; the batch function is internal.
SELECT p.oid::regprocedure, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.proname IN ('cleanup_event_logs', '_cleanup_event_logs_batch') ORDER BY 1;
CREATE ROLE cleanup_user;
SET ROLE cleanup_user;
SELECT eventhooks.cleanup_event_logs('1 day');
RESET ROLE;
DROP ROLE cleanup_user;

-- eventhooks.retention: an interval, positive, or empty; anything else is refused with why.
ALTER SYSTEM SET eventhooks.retention = 'banana';
ALTER SYSTEM SET eventhooks.retention = '-1 day';
ALTER SYSTEM SET eventhooks.retention = '0';
ALTER SYSTEM SET eventhooks.retention = '30 days';
ALTER SYSTEM SET eventhooks.retention = '';
ALTER SYSTEM RESET eventhooks.retention;

DROP VIEW remaining;
DROP TABLE before;
DROP FUNCTION old_id;
DROP EXTENSION pg_eventhooks;
