-- pause_event_trigger, resume_event_trigger, redeliver_failed (issue 20, section A of the
-- 0.2.0--0.3.0 script): errors, permissions, the paused column, a replace keeps it, and
-- redeliver_failed's count, its since filter and its index. No worker runs in this instance:
-- failed events are made by UPDATE of event_log.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE ROLE ctl_owner NOLOGIN;
CREATE ROLE ctl_other NOLOGIN;
GRANT CREATE ON SCHEMA public TO ctl_owner, ctl_other;
SET ROLE ctl_owner;
CREATE TABLE ctl_t (id int PRIMARY KEY);
SELECT eventhooks.create_event_trigger('ctl', 'ctl_t', 'http://127.0.0.1:9/ctl',
    on_insert => '{}', retry_conf => '{"num_retries": 2}');
RESET ROLE;

-- Unknown names and NULL: an ERROR naming them.
SELECT eventhooks.pause_event_trigger('no_such_trigger');
SELECT eventhooks.resume_event_trigger('no_such_trigger');
SELECT eventhooks.redeliver_failed('no_such_trigger');
SELECT eventhooks.pause_event_trigger(NULL);
SELECT eventhooks.resume_event_trigger(NULL);
SELECT eventhooks.redeliver_failed(NULL);

-- Not the table's owner: refused, nothing changes.
SET ROLE ctl_other;
SELECT eventhooks.pause_event_trigger('ctl');
SELECT eventhooks.resume_event_trigger('ctl');
SELECT eventhooks.redeliver_failed('ctl');
RESET ROLE;
SELECT name, paused FROM eventhooks.event_triggers;

-- The owner pauses and resumes; twice in a row is no error.
SET ROLE ctl_owner;
SELECT eventhooks.pause_event_trigger('ctl');
SELECT name, paused FROM eventhooks.event_triggers;
SELECT eventhooks.pause_event_trigger('ctl');
SELECT name, paused FROM eventhooks.event_triggers;
-- A replace keeps the trigger paused (and a running one running).
SELECT eventhooks.create_event_trigger('ctl', 'ctl_t', 'http://127.0.0.1:9/ctl2',
    on_insert => '{}', retry_conf => '{"num_retries": 2}', replace => true);
SELECT name, webhook, paused FROM eventhooks.event_triggers;
SELECT eventhooks.resume_event_trigger('ctl');
SELECT eventhooks.resume_event_trigger('ctl');
SELECT name, paused FROM eventhooks.event_triggers;
SELECT eventhooks.create_event_trigger('ctl', 'ctl_t', 'http://127.0.0.1:9/ctl',
    on_insert => '{}', retry_conf => '{"num_retries": 2}', replace => true);
SELECT name, webhook, paused FROM eventhooks.event_triggers;
-- Events are recorded while paused.
SELECT eventhooks.pause_event_trigger('ctl');
INSERT INTO ctl_t SELECT g FROM generate_series(1, 6) g;
SELECT count(*) FROM eventhooks.event_log WHERE trigger_name = 'ctl';
SELECT eventhooks.resume_event_trigger('ctl');
RESET ROLE;

-- redeliver_failed: 4 of the 6 events end in error (rows 1-4), one of them archived (row 4),
-- row 5 delivered, row 6 pending. Rows 1 and 2 are old (created_at a day back).
UPDATE eventhooks.event_log SET error = true, tries = 3
WHERE (payload->'data'->'new'->>'id')::int <= 4;
UPDATE eventhooks.event_log SET archived = true WHERE (payload->'data'->'new'->>'id')::int = 4;
UPDATE eventhooks.event_log SET delivered = true, tries = 1
WHERE (payload->'data'->'new'->>'id')::int = 5;
UPDATE eventhooks.event_log SET created_at = created_at - interval '1 day'
WHERE (payload->'data'->'new'->>'id')::int <= 2;
-- An event of the name older than the trigger (of a deleted trigger of that name): left alone.
INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload, error, tries)
VALUES ('00000000-0000-7000-8000-000000000001', 'public', 'ctl_t', 'ctl',
        '{"op": "INSERT", "data": {"new": {"id": 99}}}', true, 3);

-- since: only the failed events created since then (row 3).
SET ROLE ctl_owner;
SELECT eventhooks.redeliver_failed('ctl', now() - interval '1 hour');
RESET ROLE;
SELECT payload->'data'->'new'->>'id' AS row, delivered, error, archived, tries,
       next_retry_at IS NOT NULL AS due
FROM eventhooks.event_log WHERE trigger_name = 'ctl' ORDER BY id;
-- No since: every failed one (rows 1 and 2); again: none left.
SET ROLE ctl_owner;
SELECT eventhooks.redeliver_failed('ctl');
SELECT eventhooks.redeliver_failed(trigger_name => 'ctl', since => NULL);
RESET ROLE;
SELECT payload->'data'->'new'->>'id' AS row, delivered, error, archived, tries,
       next_retry_at IS NOT NULL AS due
FROM eventhooks.event_log WHERE trigger_name = 'ctl' ORDER BY id;

-- The statement redeliver_failed runs (src/pg/api/event_trigger_api.cpp) reads the index
-- event_log_failed. (Seq scans off: on a table this small the planner would read it whole;
-- the point is that the index answers the statement's predicate.)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
UPDATE eventhooks.event_log SET delivered = false, error = false, archived = false,
    tries = 0, next_retry_at = now(), locked = NULL
WHERE trigger_name = 'ctl' AND error AND NOT archived
  AND id >= eventhooks.first_event_id_at(now() - interval '1 day')
  AND (now() IS NULL OR created_at >= now());
RESET enable_seqscan;

-- A superuser may do it all.
UPDATE eventhooks.event_log SET error = true, tries = 3, next_retry_at = NULL
WHERE (payload->'data'->'new'->>'id')::int = 3;
SELECT eventhooks.pause_event_trigger('ctl');
SELECT eventhooks.redeliver_failed('ctl');
SELECT eventhooks.resume_event_trigger('ctl');

SELECT eventhooks.delete_event_trigger('ctl');
DROP TABLE ctl_t;
DROP EXTENSION pg_eventhooks;
REVOKE CREATE ON SCHEMA public FROM ctl_owner, ctl_other;
DROP ROLE ctl_owner;
DROP ROLE ctl_other;
