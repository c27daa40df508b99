-- Cron triggers (issue 18, SPEC §2 and §7): cron_next_times on fixed inputs; create, replace,
-- pause, resume and delete with what each does to the planned cron_events; every bad argument
-- an ERROR naming it that changes nothing; who sees and manages which cron triggers and events.
-- No delivery worker runs here (test/regress.conf): events change only by what this file does.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;
SET timezone = 'UTC';

-- What the tables hold, as counts (times and ids differ from run to run).
CREATE FUNCTION cron_rows() RETURNS TABLE (relation text, name text, status text, rows bigint)
LANGUAGE sql AS $$
    SELECT 'cron_triggers', t.name, CASE WHEN t.paused THEN 'paused' ELSE 'active' END, 1
    FROM eventhooks.cron_triggers t
    UNION ALL
    SELECT 'cron_events', e.trigger_name, e.status, count(*) FROM eventhooks.cron_events e
    GROUP BY 2, 3
    UNION ALL
    SELECT 'cron_event_invocation_logs', l.trigger_name, NULL, count(*)
    FROM eventhooks.cron_event_invocation_logs l GROUP BY 2
    ORDER BY 1, 2, 3
$$;
-- Whether the trigger's planned events are exactly the next times of its schedule after now()
-- (call it in the transaction that planned them: now() is the planner's), all in the future.
CREATE FUNCTION planned_as_scheduled(trigger text) RETURNS boolean LANGUAGE sql AS $$
    WITH planned AS (
        SELECT array_agg(e.scheduled_time ORDER BY e.scheduled_time) AS times,
               count(*)::int AS n, bool_and(e.scheduled_time > now()) AS future
        FROM eventhooks.cron_events e
        WHERE e.trigger_name = trigger AND e.status = 'scheduled' AND e.tries = 0)
    SELECT p.n > 0 AND p.future AND p.times = (
        SELECT array_agg(x ORDER BY x) FROM eventhooks.cron_next_times(
            (SELECT t.schedule FROM eventhooks.cron_triggers t WHERE t.name = trigger),
            now(), p.n) x)
    FROM planned p
$$;

-- cron_next_times: UTC, strictly after `after`, `count` times.
-- Feb 29 only in leap years (2100 is not one).
SELECT * FROM eventhooks.cron_next_times('0 0 29 2 *', '2023-06-01', 3);
SELECT * FROM eventhooks.cron_next_times('30 6 29 FEB *', '2096-03-01', 2);
-- The 31st only in the months that have one; the 30th skips February.
SELECT * FROM eventhooks.cron_next_times('0 12 31 * *', '2024-01-01', 7);
SELECT * FROM eventhooks.cron_next_times('0 0 30 * *', '2025-01-15', 3);
-- Year end, and the macros.
SELECT * FROM eventhooks.cron_next_times('@hourly', '2024-12-31 22:30', 3);
SELECT * FROM eventhooks.cron_next_times('@daily', '2024-12-30 12:00', 3);
SELECT * FROM eventhooks.cron_next_times('@weekly', '2024-12-25', 2);
SELECT * FROM eventhooks.cron_next_times('@monthly', '2024-11-15', 3);
SELECT * FROM eventhooks.cron_next_times('@yearly', '2024-06-01', 2);
-- Steps, ranges, lists and names; Sunday as 0 or 7.
SELECT * FROM eventhooks.cron_next_times('*/20 9-10 * * mon-fri', '2024-03-08 10:30', 4);
SELECT * FROM eventhooks.cron_next_times('0 8 * JAN,jul 7', '2024-06-25', 2);
SELECT * FROM eventhooks.cron_next_times('0 8 * * 0', '2024-06-25', 1);
-- Both day fields restricted: either matches (Fridays, and Sunday the 13th).
SELECT * FROM eventhooks.cron_next_times('0 0 13 * 5', '2024-10-01', 4);
-- Strictly after: a matching minute itself is not returned; a fraction before it is.
SELECT * FROM eventhooks.cron_next_times('*/15 * * * *', '2024-03-10 10:15:00', 2);
SELECT * FROM eventhooks.cron_next_times('*/15 * * * *', '2024-03-10 10:14:59.999999', 1);
SELECT * FROM eventhooks.cron_next_times('*/15 * * * *', '2024-03-10 10:15:00.000001', 1);
-- Before 1970, and in another time zone the same instants.
SELECT * FROM eventhooks.cron_next_times('0 0 1 1 *', '1969-06-01', 2);
SELECT * FROM eventhooks.cron_next_times('0 0 * * *', '2024-03-10 23:30:00-05', 1);
-- count 0, and NULL arguments (STRICT): no rows.
SELECT count(*) FROM eventhooks.cron_next_times('* * * * *', '2024-01-01', 0);
SELECT count(*) FROM eventhooks.cron_next_times(NULL, '2024-01-01', 1);
SELECT count(*) FROM eventhooks.cron_next_times('* * * * *', '2024-01-01', 100000);
-- Errors: count out of range, a time that is not finite, a bad or never-matching schedule.
SELECT * FROM eventhooks.cron_next_times('* * * * *', '2024-01-01', -1);
SELECT * FROM eventhooks.cron_next_times('* * * * *', '2024-01-01', 100001);
SELECT * FROM eventhooks.cron_next_times('* * * * *', 'infinity', 1);
SELECT * FROM eventhooks.cron_next_times('* * * * *', '-infinity', 1);
SELECT * FROM eventhooks.cron_next_times('0 0 30 2 *', '2024-01-01', 1);
SELECT * FROM eventhooks.cron_next_times('61 * * * *', '2024-01-01', 1);

-- create_cron_trigger: the row as given, with defaults, and its next times planned.
BEGIN;
SELECT eventhooks.create_cron_trigger('every_minute', 'http://127.0.0.1:9/cron', '* * * * *');
SELECT eventhooks.create_cron_trigger('nightly', 'https://example.com/nightly', '30 3 * * *',
    payload => '{"job": "cleanup"}', headers => '[{"name": "X-Job", "value": "nightly"}]',
    retry_conf => '{"num_retries": 2, "tolerance_sec": 600}', comment => 'clean up at night',
    signing => '{"scheme": "standard-webhooks", "secret_from_env": "CRON_SECRET"}');
SELECT planned_as_scheduled('every_minute'), planned_as_scheduled('nightly');
COMMIT;
SELECT name, webhook, schedule, payload, headers, retry_conf, comment, signing, paused,
       owner = current_user AS by_me, created_at <= clock_timestamp() AS made
FROM eventhooks.cron_triggers ORDER BY name;
-- JSON null as payload or signing means none, as SQL NULL does.
SELECT eventhooks.create_cron_trigger('nulls', 'http://127.0.0.1:9/cron', '@daily',
    payload => 'null', signing => 'null');
SELECT payload IS NULL AS no_payload, signing IS NULL AS unsigned
FROM eventhooks.cron_triggers WHERE name = 'nulls';
SELECT eventhooks.delete_cron_trigger('nulls');

-- replace => true: the new definition and schedule; the events not yet due are planned again
-- (a yearly time goes, every five minutes come), history stays, created_at and owner stay.
SELECT eventhooks.create_cron_trigger('changing', 'http://127.0.0.1:9/old', '0 0 1 1 *');
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, status, tries)
VALUES ('changing', now() - interval '1 day', 'delivered', 1),
       ('changing', now() - interval '2 days', 'dead', 0);
CREATE TEMP TABLE before_replace AS
SELECT created_at, owner FROM eventhooks.cron_triggers WHERE name = 'changing';
BEGIN;
SELECT eventhooks.create_cron_trigger('changing', 'http://127.0.0.1:9/new', '*/5 * * * *',
    comment => 'replaced', replace => true);
SELECT planned_as_scheduled('changing');
SELECT count(*) AS yearly_left FROM eventhooks.cron_events
WHERE trigger_name = 'changing' AND status = 'scheduled'
  AND extract(minute FROM scheduled_time)::int % 5 <> 0;
COMMIT;
SELECT webhook, schedule, comment, (t.created_at, t.owner) = (b.created_at, b.owner) AS kept
FROM eventhooks.cron_triggers t, before_replace b WHERE t.name = 'changing';
SELECT * FROM cron_rows() WHERE name = 'changing' AND status <> 'scheduled';

-- pause: nothing is removed; pausing again is no error. resume: what fell due while paused
-- and was never tried is dead (not sent late), a retry in progress stays, the next times are
-- planned. Resuming a trigger that is not paused changes nothing.
SELECT eventhooks.create_cron_trigger('pausable', 'http://127.0.0.1:9/p', '0 0 1 1 *');
SELECT eventhooks.pause_cron_trigger('pausable');
SELECT eventhooks.pause_cron_trigger('pausable');
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, tries)
VALUES ('pausable', now() - interval '3 minutes', 0),
       ('pausable', now() - interval '13 minutes', 0),
       ('pausable', now() - interval '23 minutes', 1);
SELECT * FROM cron_rows() WHERE name = 'pausable';
BEGIN;
SELECT eventhooks.resume_cron_trigger('pausable');
SELECT planned_as_scheduled('pausable');
COMMIT;
SELECT status, tries, count(*) FROM eventhooks.cron_events
WHERE trigger_name = 'pausable' AND scheduled_time < now() GROUP BY 1, 2 ORDER BY 1, 2;
SELECT * FROM cron_rows() WHERE name = 'pausable' AND relation = 'cron_triggers';
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, tries)
VALUES ('pausable', now() - interval '33 minutes', 0);
SELECT eventhooks.resume_cron_trigger('pausable');
SELECT status, count(*) FROM eventhooks.cron_events
WHERE trigger_name = 'pausable' AND scheduled_time < now() GROUP BY 1 ORDER BY 1;

-- delete: the trigger and its events still to be sent (a retry included) go; delivered, error
-- and dead events and invocation logs stay.
SELECT eventhooks.create_cron_trigger('doomed', 'http://127.0.0.1:9/d', '@hourly');
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, status, tries)
VALUES ('doomed', now() - interval '1 hour', 'delivered', 1),
       ('doomed', now() - interval '2 hours', 'error', 3),
       ('doomed', now() - interval '3 hours', 'dead', 0),
       ('doomed', now() - interval '4 hours', 'scheduled', 2);
INSERT INTO eventhooks.cron_event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, 200, '{}', '{}' FROM eventhooks.cron_events
WHERE trigger_name = 'doomed' AND status = 'delivered';
SELECT * FROM cron_rows() WHERE name = 'doomed';
SELECT eventhooks.delete_cron_trigger('doomed');
SELECT * FROM cron_rows() WHERE name = 'doomed';

-- Bad input: an ERROR naming the argument, and nothing changes.
CREATE TEMP TABLE rows_before AS SELECT * FROM cron_rows();
-- name
SELECT eventhooks.create_cron_trigger(NULL, 'http://127.0.0.1:9/h', '* * * * *');
SELECT eventhooks.create_cron_trigger('bad name', 'http://127.0.0.1:9/h', '* * * * *');
SELECT eventhooks.create_cron_trigger('', 'http://127.0.0.1:9/h', '* * * * *');
SELECT eventhooks.create_cron_trigger(repeat('x', 43), 'http://127.0.0.1:9/h', '* * * * *');
-- webhook
SELECT eventhooks.create_cron_trigger('bad', NULL, '* * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'ftp://example.com/hook', '* * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'example.com/hook', '* * * * *');
SELECT eventhooks.create_cron_trigger('bad', '', '* * * * *');
-- schedule: missing, malformed, out of range, never matching
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', NULL);
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '60 * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* 24 * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * 0 * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * 13 *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * 8');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '*/0 * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '5-1 * * * *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * foo *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '@every_minute');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '0 0 30 2 *');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '0 0 31 4,6,9,11 *');
-- payload: an object or nothing
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', payload => '[1, 2]');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', payload => '"text"');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', payload => '42');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', payload => 'true');
-- headers
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', headers => '{"X-Key": "v"}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', headers => '[{"name": "X Key", "value": "v"}]');
-- retry_conf: negative values (tolerance_sec too), unknown keys, wrong types
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '{"num_retries": -1}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '{"interval_sec": -5}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '{"tolerance_sec": -1}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '{"tolerance_sec": "600"}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '{"tolerance": 600}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', retry_conf => '[]');
-- signing
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *', signing => '{"scheme": "md5", "secret_from_env": "S"}');
SELECT eventhooks.create_cron_trigger('bad', 'http://127.0.0.1:9/h', '* * * * *',
    headers => '[{"name": "X-Hub-Signature-256", "value": "v"}]',
    signing => '{"scheme": "hmac-sha256", "secret_from_env": "S"}');
-- a name taken, without replace
SELECT eventhooks.create_cron_trigger('every_minute', 'http://127.0.0.1:9/h', '@daily');
-- unknown or NULL names
SELECT eventhooks.delete_cron_trigger('no_such');
SELECT eventhooks.pause_cron_trigger('no_such');
SELECT eventhooks.resume_cron_trigger('no_such');
SELECT eventhooks.delete_cron_trigger(NULL);
SELECT eventhooks.pause_cron_trigger(NULL);
SELECT eventhooks.resume_cron_trigger(NULL);
-- Nothing changed.
(SELECT * FROM cron_rows() EXCEPT ALL SELECT * FROM rows_before)
UNION ALL
(SELECT * FROM rows_before EXCEPT ALL SELECT * FROM cron_rows());

-- Who sees and manages what: everybody may create; members of the role that made a cron trigger
-- (and superusers) see it, its events made since it was created and their logs, and manage it.
CREATE ROLE alice NOLOGIN;
CREATE ROLE bob NOLOGIN;
CREATE ROLE alice_team NOLOGIN IN ROLE alice;
CREATE ROLE gone NOLOGIN;
SET ROLE alice;
SELECT eventhooks.create_cron_trigger('alice_cron', 'http://127.0.0.1:9/alice', '@hourly',
    headers => '[{"name": "X-Api-Key", "value": "alice-secret"}]');
SET ROLE bob;
SELECT eventhooks.create_cron_trigger('bob_cron', 'http://127.0.0.1:9/bob', '@hourly');
SELECT eventhooks.create_cron_trigger('bob_old', 'http://127.0.0.1:9/bob', '@hourly');
SET ROLE gone;
SELECT eventhooks.create_cron_trigger('gone_cron', 'http://127.0.0.1:9/gone', '@hourly');
RESET ROLE;
DROP ROLE gone;
INSERT INTO eventhooks.cron_event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, 500, '{}', '{}' FROM eventhooks.cron_events
WHERE trigger_name IN ('alice_cron', 'bob_cron', 'bob_old');
-- Bob deletes a trigger and alice takes its name: she does not see bob's events of that name.
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, status, tries)
VALUES ('bob_old', now() - interval '1 hour', 'delivered', 1);
SET ROLE bob;
SELECT eventhooks.delete_cron_trigger('bob_old');
SELECT pg_sleep(0.002);
SET ROLE alice;
SELECT eventhooks.create_cron_trigger('bob_old', 'http://127.0.0.1:9/alice', '@daily');
SELECT relation, name, status, rows > 0 AS some FROM cron_rows() WHERE name NOT IN (
    'every_minute', 'nightly', 'changing', 'pausable');
SET ROLE alice_team;
SELECT relation, name, status, rows > 0 AS some FROM cron_rows() WHERE name NOT IN (
    'every_minute', 'nightly', 'changing', 'pausable');
SELECT eventhooks.pause_cron_trigger('alice_cron');
SELECT eventhooks.resume_cron_trigger('alice_cron');
SET ROLE bob;
SELECT relation, name, status, rows > 0 AS some FROM cron_rows() WHERE name NOT IN (
    'every_minute', 'nightly', 'changing', 'pausable');
SELECT count(*) AS superusers_triggers FROM eventhooks.cron_triggers WHERE name = 'every_minute';
-- Bob can neither manage alice's trigger nor the superuser's, nor take their names.
SELECT eventhooks.delete_cron_trigger('alice_cron');
SELECT eventhooks.pause_cron_trigger('alice_cron');
SELECT eventhooks.resume_cron_trigger('alice_cron');
SELECT eventhooks.create_cron_trigger('alice_cron', 'http://127.0.0.1:9/bob', '@daily', replace => true);
SELECT eventhooks.create_cron_trigger('alice_cron', 'http://127.0.0.1:9/bob', '@daily');
SELECT eventhooks.delete_cron_trigger('every_minute');
-- A dropped role's trigger is nobody's but the superusers'.
SELECT eventhooks.pause_cron_trigger('gone_cron');
-- Headers and signing reading the environment: only variables a superuser allowed.
SELECT eventhooks.create_cron_trigger('bob_env', 'http://127.0.0.1:9/bob', '@daily',
    headers => '[{"name": "X-Key", "value_from_env": "CRON_KEY"}]');
SELECT eventhooks.create_cron_trigger('bob_env', 'http://127.0.0.1:9/bob', '@daily',
    signing => '{"scheme": "standard-webhooks", "secret_from_env": "CRON_SECRET"}');
-- Nobody writes the tables directly.
INSERT INTO eventhooks.cron_triggers (name, webhook, schedule, owner) VALUES ('x', 'http://127.0.0.1:9/x', '@daily', 'bob');
UPDATE eventhooks.cron_events SET status = 'dead';
DELETE FROM eventhooks.cron_triggers;
RESET ROLE;
SET eventhooks.allowed_env = 'CRON_KEY';
SET ROLE bob;
SELECT eventhooks.create_cron_trigger('bob_env', 'http://127.0.0.1:9/bob', '@daily',
    headers => '[{"name": "X-Key", "value_from_env": "CRON_KEY"}]');
RESET ROLE;
RESET eventhooks.allowed_env;
-- A superuser sees and manages all of them.
SELECT eventhooks.pause_cron_trigger('gone_cron');
SELECT eventhooks.pause_cron_trigger('alice_cron');
SELECT name, paused, owner FROM eventhooks.cron_triggers
WHERE name IN ('alice_cron', 'bob_cron', 'bob_env', 'bob_old', 'gone_cron') ORDER BY name;
SELECT relation, name, status, rows > 0 AS some FROM cron_rows() WHERE name NOT IN (
    'every_minute', 'nightly', 'changing', 'pausable');

SET client_min_messages = error;
DROP FUNCTION cron_rows(), planned_as_scheduled(text);
DROP EXTENSION pg_eventhooks;
DROP ROLE alice_team, alice, bob;
