-- Who sees what (issue 17, SPEC §6): a non-superuser sees, through the eventhooks tables, the
-- event triggers it may manage (owners of its table, members of the owning role included: the
-- rule of the management functions), those triggers' events and invocation logs, and nothing
-- else; a superuser sees everything. Nobody writes the tables but the extension.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE ROLE alice NOLOGIN;
CREATE ROLE bob NOLOGIN;
CREATE ROLE carol NOLOGIN;                   -- owns no table
CREATE ROLE alice_team NOLOGIN IN ROLE alice; -- a member of alice, inheriting her privileges
CREATE ROLE alice_writer NOLOGIN;            -- may only insert into alice's table
CREATE ROLE mover NOLOGIN;                   -- makes a trigger, gives the table away, is dropped
GRANT CREATE ON SCHEMA public TO alice, bob, mover;

-- What the caller sees of each table, one line per trigger name.
CREATE FUNCTION seen() RETURNS TABLE (relation text, trigger_name text, rows bigint)
LANGUAGE sql AS $$
    SELECT 'event_triggers', name, 1 FROM eventhooks.event_triggers
    UNION ALL
    SELECT 'event_log', l.trigger_name, count(*) FROM eventhooks.event_log l GROUP BY 2
    UNION ALL
    SELECT 'event_invocation_logs', i.trigger_name, count(*)
    FROM eventhooks.event_invocation_logs i GROUP BY 2
    ORDER BY 1, 2
$$;
-- redeliver_event's answer, with the (time-based) event id written as <id>.
CREATE FUNCTION try_redeliver(event uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    PERFORM eventhooks.redeliver_event(event);
    RETURN 'redelivered';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN replace(SQLERRM, event::text, '<id>') || coalesce(' DETAIL: ' || nullif(detail, ''), '');
END
$$;

SET ROLE alice;
CREATE TABLE alice_orders (id int, note text);
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_orders', 'http://127.0.0.1:9/alice',
    on_insert => '{}', enable_manual => true,
    headers => '[{"name": "X-Api-Key", "value": "alice-secret"}]');
SELECT eventhooks.create_event_trigger('alice_old', 'alice_orders', 'http://127.0.0.1:9/old',
    on_insert => '{}');
INSERT INTO alice_orders VALUES (1, 'alice row');
GRANT INSERT ON alice_orders TO alice_writer;
SET ROLE bob;
CREATE TABLE bob_items (id int, note text);
SELECT eventhooks.create_event_trigger('bob_hook', 'bob_items', 'http://127.0.0.1:9/bob',
    on_insert => '{}', headers => '[{"name": "X-Api-Key", "value": "bob-secret"}]');
INSERT INTO bob_items VALUES (1, 'bob row'), (2, 'bob row');
-- A role that may only insert into alice's table writes, and the event is recorded, although
-- that role can read no event table row.
SET ROLE alice_writer;
INSERT INTO alice_orders VALUES (2, 'by alice_writer');
SELECT * FROM seen();
-- A role made a trigger on its table, gave the table to alice and was dropped: alice, now the
-- table's owner, sees and manages it; the dropped role's name stored as its owner is no error.
SET ROLE mover;
CREATE TABLE moved (id int);
SELECT eventhooks.create_event_trigger('moved_hook', 'moved', 'http://127.0.0.1:9/moved',
    on_insert => '{}');
INSERT INTO moved VALUES (1);
RESET ROLE;
ALTER TABLE moved OWNER TO alice;
REVOKE CREATE ON SCHEMA public FROM mover;
DROP ROLE mover;
-- A superuser's trigger on alice's table: alice owns the table, so it is hers to see.
SELECT eventhooks.create_event_trigger('admin_on_alice', 'alice_orders',
    'http://127.0.0.1:9/admin', on_delete => '{}', enable_manual => true);
SELECT eventhooks.invoke_event_trigger('admin_on_alice', '{"by": "superuser"}') IS NOT NULL;
-- Alice deletes a trigger: its events are the superuser's to see only, also once bob takes its
-- name for a trigger of his: he sees the events written since (event ids are UUIDv7, so
-- "since" is to the millisecond: the sleep only makes sure alice's events are older).
SET ROLE alice;
SELECT eventhooks.delete_event_trigger('alice_old');
SELECT pg_sleep(0.002);
SET ROLE bob;
SELECT eventhooks.create_event_trigger('alice_old', 'bob_items', 'http://127.0.0.1:9/bob2',
    on_insert => '{}');
INSERT INTO bob_items VALUES (3, 'bob row for his alice_old');
-- Alice replaces a trigger: it stays the same trigger, its events stay hers.
SET ROLE alice;
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_orders', 'http://127.0.0.1:9/alice2',
    on_insert => '{}', enable_manual => true,
    headers => '[{"name": "X-Api-Key", "value": "alice-secret"}]', replace => true);
RESET ROLE;

-- Invocation logs, as the delivery worker would write them (no worker runs in pg_regress).
INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, 200, '{}', '{}' FROM eventhooks.event_log;
SELECT id AS alice_event FROM eventhooks.event_log
WHERE trigger_name = 'alice_hook' ORDER BY id LIMIT 1 \gset
SELECT id AS old_event FROM eventhooks.event_log
WHERE trigger_name = 'alice_old' ORDER BY id LIMIT 1 \gset
SELECT id AS bob_old_event FROM eventhooks.event_log
WHERE trigger_name = 'alice_old' AND table_name = 'bob_items' \gset
SELECT id AS bob_event FROM eventhooks.event_log
WHERE trigger_name = 'bob_hook' ORDER BY id LIMIT 1 \gset

-- A superuser sees everything, the deleted trigger's events too.
SELECT * FROM seen();
-- Alice: her triggers, the one on her table, the one whose table she now owns; their events and
-- logs. Not bob's, not the deleted trigger's.
SET ROLE alice;
SELECT * FROM seen();
-- Literal header values are the owner's to see (secrets belong in value_from_env).
SELECT name, headers FROM eventhooks.event_triggers ORDER BY name;
SELECT payload->'data'->'new' AS new FROM eventhooks.event_log
WHERE trigger_name = 'alice_hook' ORDER BY id;
-- A member of alice's role sees what alice sees.
SET ROLE alice_team;
SELECT * FROM seen();
-- Bob: his own only.
SET ROLE bob;
SELECT * FROM seen();
SELECT name, headers FROM eventhooks.event_triggers ORDER BY name;
-- Neither a table nor a trigger: nothing.
SET ROLE carol;
SELECT * FROM seen();
SET ROLE alice_writer;
SELECT * FROM seen();

-- Looking up another role's row by its key finds nothing either.
SET ROLE bob;
SELECT count(*) FROM eventhooks.event_log WHERE id = :'alice_event';
SELECT count(*) FROM eventhooks.event_invocation_logs WHERE event_id = :'alice_event';
SELECT count(*) FROM eventhooks.event_triggers WHERE name = 'alice_hook';
-- ... and the functions tell no more: an event another role cannot see does not exist for it
-- (the message names no trigger); a trigger name it does not manage is refused as before
-- (names are one namespace: create_event_trigger says "already exists" for any taken name).
SELECT try_redeliver(:'alice_event');
SELECT try_redeliver('00000000-0000-0000-0000-000000000000');
SELECT eventhooks.invoke_event_trigger('alice_hook', '{}');
SELECT eventhooks.delete_event_trigger('alice_hook');
SELECT eventhooks.invoke_event_trigger('no_such_hook', '{}');
-- Alice redelivers her own event; an event of her deleted trigger is gone for her and for bob,
-- whose trigger took its name later (he redelivers his own), while a superuser is told what
-- happened to it, and cannot send it to bob's webhook either.
SET ROLE alice;
SELECT try_redeliver(:'alice_event');
SELECT try_redeliver(:'bob_event');
SELECT try_redeliver(:'old_event');
SET ROLE bob;
SELECT try_redeliver(:'old_event');
SELECT try_redeliver(:'bob_old_event');
RESET ROLE;
SELECT try_redeliver(:'old_event');

-- Nobody but the extension writes the tables.
SET ROLE alice;
INSERT INTO eventhooks.event_log (schema_name, table_name, trigger_name, payload)
VALUES ('public', 'alice_orders', 'alice_hook', '{}');
UPDATE eventhooks.event_log SET delivered = true;
DELETE FROM eventhooks.event_invocation_logs;
UPDATE eventhooks.event_triggers SET webhook = 'http://127.0.0.1:9/evil';
DELETE FROM eventhooks.event_triggers;
TRUNCATE eventhooks.event_log;
-- worker_status counts every role's events and names any trigger in last_error: superusers and
-- pg_monitor only.
SELECT count(*) FROM eventhooks.worker_status;
RESET ROLE;
GRANT pg_monitor TO carol;
SET ROLE carol;
SELECT count(*) >= 0 AS readable FROM eventhooks.worker_status;
RESET ROLE;
REVOKE pg_monitor FROM carol;

-- A query by key can still use the primary key (event_invocation_logs: its event_id index)
-- under the policy: equality on uuid is leakproof, so it may run before the policy, and the
-- policy's trigger names are computed once, as an InitPlan. (Sequential scans are off only to
-- keep the plan of these tiny tables stable.)
SET ROLE alice;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM eventhooks.event_log
WHERE id = '01a227c9-50b9-761e-96ed-e622e597b3ac';
EXPLAIN (COSTS OFF) SELECT * FROM eventhooks.event_invocation_logs
WHERE event_id = '01a227c9-50b9-761e-96ed-e622e597b3ac';
RESET enable_seqscan;
-- With row_security off (what pg_dump sets unless --enable-row-security) a non-superuser's
-- read of a filtered table is an error, not a silently partial result.
SET row_security = off;
SELECT count(*) FROM eventhooks.event_log;
RESET row_security;
RESET ROLE;

-- A new role that takes a dropped role's name inherits nothing of it: mover made moved_hook
-- and was dropped; moved_hook is the table owner's (alice's), not the new mover's.
CREATE ROLE mover NOLOGIN;
SET ROLE mover;
SELECT * FROM seen();
SELECT eventhooks.invoke_event_trigger('moved_hook', '{}');
RESET ROLE;
DROP ROLE mover;

-- Clean up.
DROP FUNCTION seen(), try_redeliver(uuid);
DROP OWNED BY alice, bob, alice_writer;
DROP ROLE alice_team, alice_writer, alice, bob, carol;
DROP EXTENSION pg_eventhooks;
