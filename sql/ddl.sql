-- DDL of watched tables (issue 19, SPEC §2-§3): a dropped table takes its event triggers with it
-- and its pending events are archived (the sql_drop event trigger of the 0.1.0 -> 0.2.0 script);
-- renamed and dropped columns in a trigger's lists never fail a write, the trigger keeps working
-- for what still exists, and eventhooks.event_trigger_problems says what is broken. The
-- regression instance does not preload the library: the drops below work without it.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

-- The event trigger belongs to the extension, and fires under any session_replication_role.
SELECT e.evtname, e.evtevent, e.evtenabled, e.evtfoid::regprocedure,
       d.deptype, x.extname
FROM pg_event_trigger e
JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid
JOIN pg_extension x ON x.oid = d.refobjid
WHERE e.evtname LIKE 'eventhooks%';

-- What the configuration and the events look like, per trigger.
CREATE FUNCTION state() RETURNS TABLE (trigger_name text, configured boolean, pending bigint,
                                       archived bigint, delivered bigint)
LANGUAGE sql AS $$
    SELECT n, EXISTS (SELECT FROM eventhooks.event_triggers t WHERE t.name = n),
           count(*) FILTER (WHERE NOT l.delivered AND NOT l.error AND NOT l.archived),
           count(*) FILTER (WHERE l.archived), count(*) FILTER (WHERE l.delivered)
    FROM (SELECT name FROM eventhooks.event_triggers
          UNION SELECT e.trigger_name FROM eventhooks.event_log e) AS names(n)
    LEFT JOIN eventhooks.event_log l ON l.trigger_name = n
    GROUP BY n ORDER BY n
$$;
-- The capture triggers left in the database (pg_eventhooks names them eventhooks_<name>).
CREATE FUNCTION row_triggers() RETURNS TABLE (table_name text, tgname name)
LANGUAGE sql AS $$
    SELECT tgrelid::regclass::text, tgname FROM pg_trigger
    WHERE tgname LIKE 'eventhooks\_%' ORDER BY 1, 2
$$;

-- ===== DROP TABLE ==============================================================================
CREATE TABLE doomed (id int PRIMARY KEY, note text);
CREATE TABLE kept (id int PRIMARY KEY, note text);
SELECT eventhooks.create_event_trigger('doomed_a', 'doomed', 'http://127.0.0.1:9/a',
    on_insert => '{}', on_delete => '{}');
SELECT eventhooks.create_event_trigger('doomed_b', 'doomed', 'http://127.0.0.1:9/b',
    on_update => '{}');
SELECT eventhooks.create_event_trigger('kept_a', 'kept', 'http://127.0.0.1:9/a',
    on_insert => '{}');
INSERT INTO doomed VALUES (1, 'one'), (2, 'two'), (3, 'three');
UPDATE doomed SET note = 'uno' WHERE id = 1;
INSERT INTO kept VALUES (1, 'one');
-- One event was delivered already, one failed for good: they stay as they are.
UPDATE eventhooks.event_log SET delivered = true
WHERE trigger_name = 'doomed_a' AND payload->'data'->'new'->>'id' = '1';
UPDATE eventhooks.event_log SET error = true
WHERE trigger_name = 'doomed_a' AND payload->'data'->'new'->>'id' = '2';
SELECT * FROM state();

-- A rolled-back DROP changes nothing.
BEGIN;
DROP TABLE doomed;
ROLLBACK;
SELECT * FROM state();

DROP TABLE doomed;
SELECT * FROM state();
SELECT * FROM row_triggers();
-- Archived events no longer wait for a retry (the worker's index of what waits).
SELECT count(*) FROM eventhooks.event_log WHERE archived AND next_retry_at IS NOT NULL;
-- The name is free again, and a new trigger of that name starts clean.
CREATE TABLE doomed (id int PRIMARY KEY, note text);
SELECT eventhooks.create_event_trigger('doomed_a', 'doomed', 'http://127.0.0.1:9/a',
    on_insert => '{}');
INSERT INTO doomed VALUES (9, 'nine');
SELECT * FROM state();
DROP TABLE doomed, kept;
SELECT * FROM state();
-- Drops of other objects touch nothing.
CREATE TABLE kept (id int);
SELECT eventhooks.create_event_trigger('kept_b', 'kept', 'http://127.0.0.1:9/b',
    on_insert => '{}');
INSERT INTO kept VALUES (1);
CREATE TEMP TABLE scratch (id int);
CREATE INDEX kept_id ON kept (id);
DROP TABLE scratch;
DROP INDEX kept_id;
ALTER TABLE kept ADD COLUMN extra int;
ALTER TABLE kept DROP COLUMN extra;
SELECT * FROM state() WHERE trigger_name = 'kept_b';

-- ===== DROP SCHEMA ... CASCADE, DROP OWNED, a dropped partition ================================
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id int PRIMARY KEY);
CREATE TABLE shop.items (id int PRIMARY KEY);
SELECT eventhooks.create_event_trigger('shop_orders', 'shop.orders', 'http://127.0.0.1:9/s',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('shop_items', 'shop.items', 'http://127.0.0.1:9/s',
    on_insert => '{}');
INSERT INTO shop.orders VALUES (1);
INSERT INTO shop.items VALUES (1), (2);
SET client_min_messages = warning;  -- not the list of what CASCADE drops
DROP SCHEMA shop CASCADE;
RESET client_min_messages;
SELECT * FROM state() WHERE trigger_name LIKE 'shop%';

-- A table owner who drops their table: the event trigger's function writes as the extension
-- owner (the owner of the table may not write eventhooks' tables).
CREATE ROLE ddl_owner NOLOGIN;
CREATE ROLE ddl_other NOLOGIN;
GRANT CREATE ON SCHEMA public TO ddl_owner, ddl_other;
SET ROLE ddl_owner;
CREATE TABLE owned (id int PRIMARY KEY, a int, b int);
SELECT eventhooks.create_event_trigger('owned_a', 'owned', 'http://127.0.0.1:9/o',
    on_insert => '{}');
INSERT INTO owned VALUES (1, 1, 1);
DROP TABLE owned;
-- The owner sees no more trigger of theirs.
SELECT count(*) FROM eventhooks.event_triggers;
RESET ROLE;
SELECT * FROM state() WHERE trigger_name = 'owned_a';
-- DROP OWNED drops the tables of a role.
SET ROLE ddl_owner;
CREATE TABLE owned2 (id int PRIMARY KEY);
SELECT eventhooks.create_event_trigger('owned2_a', 'owned2', 'http://127.0.0.1:9/o',
    on_insert => '{}');
INSERT INTO owned2 VALUES (1);
RESET ROLE;
DROP OWNED BY ddl_owner;
GRANT CREATE ON SCHEMA public TO ddl_owner;  -- DROP OWNED took that too
SELECT * FROM state() WHERE trigger_name = 'owned2_a';

-- A trigger made on a partition goes with the partition; the partitioned table's stays.
CREATE TABLE parted (id int, region text) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
SELECT eventhooks.create_event_trigger('parted_all', 'parted', 'http://127.0.0.1:9/p',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('parted_eu_only', 'parted_eu', 'http://127.0.0.1:9/p',
    on_insert => '{}');
INSERT INTO parted VALUES (1, 'eu'), (2, 'us');
DROP TABLE parted_eu;
SELECT * FROM state() WHERE trigger_name LIKE 'parted%';
INSERT INTO parted VALUES (3, 'us');
SELECT * FROM state() WHERE trigger_name LIKE 'parted%';
DROP TABLE parted;
SELECT * FROM state() WHERE trigger_name LIKE 'parted%';

-- ===== Renamed and dropped columns =============================================================
CREATE TABLE profile (id int PRIMARY KEY, name text, email text, age int, city text);
SELECT eventhooks.create_event_trigger('profile_lists', 'profile', 'http://127.0.0.1:9/l',
    on_insert => '{"payload": ["id", "email", "age"]}',
    on_update => '{"columns": ["email", "age"], "payload": ["id", "name", "email", "age"]}',
    on_delete => '{"payload": ["id", "city"]}');
SELECT eventhooks.create_event_trigger('profile_all', 'profile', 'http://127.0.0.1:9/s',
    on_insert => '{}', on_update => '{"columns": "*", "payload": "*"}');
-- Healthy triggers have no problems.
SELECT * FROM eventhooks.event_trigger_problems;
INSERT INTO profile VALUES (1, 'Ann', 'ann@example.com', 30, 'Oslo');

ALTER TABLE profile RENAME COLUMN email TO mail;
ALTER TABLE profile DROP COLUMN age;
SELECT * FROM eventhooks.event_trigger_problems
ORDER BY trigger_name, operation, list, column_name;
DELETE FROM eventhooks.event_log;
-- Writes succeed; events carry what still exists ("*" lists show the new name).
INSERT INTO profile VALUES (2, 'Bo', 'bo@example.com', 'Rome');
-- email and age were the listened columns: a change of mail is not one of them any more.
UPDATE profile SET mail = 'ann@example.org' WHERE id = 1;
-- name is only sent, not listened to: no event either.
UPDATE profile SET name = 'Anna' WHERE id = 1;
DELETE FROM profile WHERE id = 2;
SELECT trigger_name, payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log ORDER BY id, trigger_name;

-- Fixed by replacing the trigger with lists that name what exists: no problem left.
SELECT eventhooks.create_event_trigger('profile_lists', 'profile', 'http://127.0.0.1:9/l',
    on_insert => '{"payload": ["id", "mail"]}',
    on_update => '{"columns": ["mail"], "payload": ["id", "name", "mail"]}',
    on_delete => '{"payload": ["id", "city"]}', replace => true);
SELECT * FROM eventhooks.event_trigger_problems;
DELETE FROM eventhooks.event_log;
UPDATE profile SET mail = 'ann@example.net' WHERE id = 1;
SELECT trigger_name, payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log ORDER BY id, trigger_name;

-- Who sees which problems: the reader's row-level security of event_triggers applies.
SELECT relname, reloptions, has_table_privilege('public', oid, 'SELECT') AS public_select
FROM pg_class WHERE oid = 'eventhooks.event_trigger_problems'::regclass;
SET ROLE ddl_owner;
CREATE TABLE mine (id int PRIMARY KEY, x int, y int);
SELECT eventhooks.create_event_trigger('mine_xy', 'mine', 'http://127.0.0.1:9/m',
    on_update => '{"columns": ["x"], "payload": ["id", "y"]}');
ALTER TABLE mine RENAME COLUMN y TO z;
RESET ROLE;
ALTER TABLE profile RENAME COLUMN mail TO email_address;
SELECT trigger_name, table_name, operation, list, column_name
FROM eventhooks.event_trigger_problems ORDER BY 1, 3, 4, 5;
SET ROLE ddl_owner;
SELECT trigger_name, table_name, operation, list, column_name, problem
FROM eventhooks.event_trigger_problems ORDER BY 1, 3, 4, 5;
SET ROLE ddl_other;
SELECT count(*) FROM eventhooks.event_trigger_problems;
RESET ROLE;

-- A trigger whose table went while the event trigger was disabled: one row, superusers only.
ALTER EVENT TRIGGER eventhooks_drop_watched_tables DISABLE;
DROP TABLE mine;
ALTER EVENT TRIGGER eventhooks_drop_watched_tables ENABLE ALWAYS;
SELECT trigger_name, schema_name, table_name, operation, list, column_name,
       regexp_replace(problem, '[0-9]+', '<oid>') AS problem
FROM eventhooks.event_trigger_problems WHERE trigger_name = 'mine_xy';
SET ROLE ddl_owner;
SELECT count(*) FROM eventhooks.event_trigger_problems;
RESET ROLE;
SELECT eventhooks.delete_event_trigger('mine_xy');

-- ===== DROP EXTENSION ==========================================================================
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.watched (id int);
SELECT eventhooks.create_event_trigger('elsewhere_w', 'elsewhere.watched', 'http://127.0.0.1:9/e',
    on_insert => '{}', on_delete => '{}');
SELECT * FROM row_triggers();
-- Without CASCADE it refuses while row triggers use its function.
\set VERBOSITY terse
DROP EXTENSION pg_eventhooks;
\set VERBOSITY default
SET client_min_messages = warning;
DROP EXTENSION pg_eventhooks CASCADE;
RESET client_min_messages;
SELECT * FROM row_triggers();
SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'eventhooks%';
-- The tables remain, writable, and droppable without the extension.
INSERT INTO profile VALUES (3, 'Cy', 'cy@example.com', 'Lima');
INSERT INTO elsewhere.watched VALUES (1);
DROP TABLE profile, kept;
-- Installed again, and dropped without CASCADE once nothing is watched.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;
SELECT eventhooks.create_event_trigger('elsewhere_w', 'elsewhere.watched', 'http://127.0.0.1:9/e',
    on_insert => '{}');
DROP TABLE elsewhere.watched;
SELECT count(*) FROM eventhooks.event_triggers;
DROP EXTENSION pg_eventhooks;
SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'eventhooks%';
DROP SCHEMA elsewhere;

-- ===== Upgrade from 0.1.0 ======================================================================
-- Under 0.1.0 a dropped table left its trigger behind, with its pending events; the upgrade
-- script removes it and archives them, and leaves the other triggers alone.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks VERSION '0.1.0';
RESET client_min_messages;
CREATE TABLE left_behind (id int);
CREATE TABLE still_here (id int);
SELECT eventhooks.create_event_trigger('left_behind', 'left_behind', 'http://127.0.0.1:9/l',
    on_insert => '{}');
SELECT eventhooks.create_event_trigger('still_here', 'still_here', 'http://127.0.0.1:9/s',
    on_insert => '{}');
INSERT INTO left_behind VALUES (1), (2);
INSERT INTO still_here VALUES (1);
DROP TABLE left_behind;
SELECT * FROM state();
ALTER EXTENSION pg_eventhooks UPDATE TO '0.2.0';
SELECT * FROM state();
DROP TABLE still_here;
SELECT * FROM state();
DROP EXTENSION pg_eventhooks;
DROP FUNCTION state(), row_triggers();
REVOKE CREATE ON SCHEMA public FROM ddl_owner, ddl_other;
DROP ROLE ddl_owner, ddl_other;
