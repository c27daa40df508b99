-- Events follow the transaction (rollbacks, savepoints), fire once per row for every way of
-- writing rows (COPY, multi-row INSERT, INSERT ... SELECT, partitions), report current table
-- names, carry the session variables, and UPDATE events follow IS DISTINCT semantics.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
SELECT eventhooks.create_event_trigger('items', 'items', 'http://127.0.0.1:9/items',
    on_insert => '{}', on_update => '{}', on_delete => '{}', enable_manual => true);

-- A rolled-back transaction leaves no event (and no row).
BEGIN;
INSERT INTO items VALUES (1, 'one', 1);
UPDATE items SET qty = 2 WHERE id = 1;
DELETE FROM items WHERE id = 1;
ROLLBACK;
SELECT count(*) AS events FROM eventhooks.event_log;

-- Savepoints: the changes of rolled-back savepoints (including a released savepoint nested in
-- one) leave no event; changes before them, of released savepoints and after them stay.
BEGIN;
INSERT INTO items VALUES (1, 'kept: before savepoints', 1);
SAVEPOINT a;
INSERT INTO items VALUES (2, 'kept: released savepoint', 1);
RELEASE SAVEPOINT a;
SAVEPOINT b;
INSERT INTO items VALUES (3, 'gone: rolled back', 1);
UPDATE items SET qty = 99 WHERE id = 1;
SAVEPOINT c;
INSERT INTO items VALUES (5, 'gone: released inside rolled back', 1);
RELEASE SAVEPOINT c;
ROLLBACK TO SAVEPOINT b;
INSERT INTO items VALUES (4, 'kept: after rollback to savepoint', 1);
SAVEPOINT d;
DELETE FROM items WHERE id = 2;
ROLLBACK TO SAVEPOINT d;
-- A failed statement inside a savepoint leaves no event either.
SAVEPOINT e;
INSERT INTO items VALUES (6, 'gone: failed statement', 1), (1, 'duplicate key', 1);
ROLLBACK TO SAVEPOINT e;
COMMIT;
SELECT payload->>'op' AS op, payload->'data'->'new'->>'name' AS name
FROM eventhooks.event_log ORDER BY id;
SELECT id, name, qty FROM items ORDER BY id;
DELETE FROM items;
DELETE FROM eventhooks.event_log;

-- COPY FROM stdin: one event per row.
COPY items FROM stdin;
10	copied ten	10
11	copied eleven	\N
12	copied "twelve"	12
\.
SELECT payload->>'op' AS op, payload->'data'->'new' AS new FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- A multi-row INSERT: one event per row, in row order.
INSERT INTO items VALUES (20, 'a', 1), (21, 'b', 2), (22, 'c', 3);
SELECT payload->>'op' AS op, payload->'data'->'new' AS new FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- INSERT ... SELECT of 1000 rows: 1000 events, one per row, ids increasing in row order.
INSERT INTO items SELECT i, 'bulk ' || i, i FROM generate_series(1000, 1999) AS i;
SELECT count(*) AS events, count(DISTINCT id) AS distinct_ids,
       count(DISTINCT payload->'data'->'new'->>'id') AS distinct_rows,
       min((payload->'data'->'new'->>'id')::int) AS first_row,
       max((payload->'data'->'new'->>'id')::int) AS last_row
FROM eventhooks.event_log;
SELECT count(*) AS out_of_order FROM (
    SELECT (payload->'data'->'new'->>'id')::int - 999 AS row_number_from_payload,
           row_number() OVER (ORDER BY id) AS row_number_by_event_id
    FROM eventhooks.event_log) s
WHERE row_number_from_payload <> row_number_by_event_id;
DELETE FROM eventhooks.event_log;

-- TRUNCATE records no event (it fires no row trigger).
TRUNCATE items;
SELECT count(*) AS events FROM eventhooks.event_log;

-- A renamed table reports its new name, and a table moved to another schema its new schema.
ALTER TABLE items RENAME TO stock_items;
INSERT INTO stock_items VALUES (30, 'after rename', 1);
CREATE SCHEMA warehouse;
ALTER TABLE stock_items SET SCHEMA warehouse;
INSERT INTO warehouse.stock_items VALUES (31, 'after set schema', 1);
SELECT eventhooks.invoke_event_trigger('items', '{"manual": true}') IS NOT NULL AS invoked;
BEGIN;
ALTER TABLE warehouse.stock_items RENAME TO inventory;
INSERT INTO warehouse.inventory VALUES (32, 'renamed in this transaction', 1);
COMMIT;
SELECT schema_name, table_name, trigger_name, payload->>'op' AS op,
       payload->'data'->'new'->>'name' AS name
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- A table in a non-public schema with quoted mixed-case names.
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order Items" ("Item Id" int, "Qty" int, note text);
SELECT eventhooks.create_event_trigger('order_items', '"Sales Dept"."Order Items"',
    'http://127.0.0.1:9/order-items',
    on_insert => '{}', on_update => '{"columns": ["Qty"], "payload": ["Item Id", "Qty"]}');
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'eventhooks_order_items';
INSERT INTO "Sales Dept"."Order Items" VALUES (1, 2, 'first');
UPDATE "Sales Dept"."Order Items" SET note = 'not listened';
UPDATE "Sales Dept"."Order Items" SET "Qty" = 3;
SELECT schema_name, table_name, payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- A partitioned table: the trigger is made on the parent, fires for the rows of its
-- partitions and reports the parent's schema and name.
CREATE TABLE measurements (id int, region text, v numeric) PARTITION BY RANGE (id);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (0) TO (100);
CREATE TABLE measurements_high PARTITION OF measurements FOR VALUES FROM (100) TO (200);
SELECT eventhooks.create_event_trigger('measurements', 'measurements', 'http://127.0.0.1:9/m',
    on_insert => '{}', on_update => '{}', on_delete => '{}');
INSERT INTO measurements VALUES (10, 'eu', 1), (150, 'us', 2);
INSERT INTO measurements_low VALUES (20, 'eu', 3);          -- straight into a partition
UPDATE measurements SET v = 4 WHERE id = 150;
DELETE FROM measurements WHERE id = 20;
-- An UPDATE that moves a row to another partition: Postgres runs it as a DELETE from the old
-- partition and an INSERT into the new one, and fires their row triggers, so the events are a
-- DELETE (old row) and an INSERT (new row), not an UPDATE.
UPDATE measurements SET id = 110 WHERE id = 10;
SELECT schema_name, table_name, payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- Partitions added after the trigger was made (created as partition, attached, and a
-- sub-partitioned one) fire too; a detached partition no longer does.
CREATE TABLE measurements_top PARTITION OF measurements FOR VALUES FROM (200) TO (300);
CREATE TABLE measurements_extra (id int, region text, v numeric);
ALTER TABLE measurements ATTACH PARTITION measurements_extra FOR VALUES FROM (300) TO (400);
CREATE TABLE measurements_sub PARTITION OF measurements FOR VALUES FROM (400) TO (500)
    PARTITION BY LIST (region);
CREATE TABLE measurements_sub_eu PARTITION OF measurements_sub FOR VALUES IN ('eu');
INSERT INTO measurements VALUES (250, 'eu', 5), (350, 'eu', 6), (450, 'eu', 7);
SELECT table_name, payload->>'op' AS op, payload->'data'->'new'->>'id' AS row_id
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;
ALTER TABLE measurements DETACH PARTITION measurements_extra;
INSERT INTO measurements_extra VALUES (360, 'eu', 8);
SELECT count(*) AS events_after_detach FROM eventhooks.event_log;

-- The renamed partitioned table is reported by its new name; TRUNCATE records nothing.
ALTER TABLE measurements RENAME TO readings;
INSERT INTO readings VALUES (30, 'eu', 9), (260, 'us', 10);
TRUNCATE readings;
SELECT schema_name, table_name, payload->>'op' AS op, payload->'data'->'new'->>'id' AS row_id
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- Session variables. None set: null.
CREATE TABLE sv (id int PRIMARY KEY, note text);
SELECT eventhooks.create_event_trigger('sv', 'sv', 'http://127.0.0.1:9/sv',
    on_insert => '{}', on_delete => '{}', enable_manual => true);
INSERT INTO sv VALUES (1, 'none set');
-- eventhooks.session_variables with SET LOCAL: only for that transaction (row changes and
-- manual invocations alike).
BEGIN;
SET LOCAL eventhooks.session_variables = '{"x-hasura-role": "user", "x-hasura-user-id": "42"}';
INSERT INTO sv VALUES (2, 'SET LOCAL');
DELETE FROM sv WHERE id = 2;
SELECT eventhooks.invoke_event_trigger('sv', '{"manual": "SET LOCAL"}') IS NOT NULL AS invoked;
COMMIT;
INSERT INTO sv VALUES (3, 'after the transaction');
-- hasura.user when eventhooks.session_variables is not set.
SET hasura."user" = '{"x-hasura-role": "admin"}';
INSERT INTO sv VALUES (4, 'hasura.user');
-- request.jwt.claims when neither is set.
RESET hasura."user";
SET request.jwt.claims = '{"sub": "u-1", "role": "authenticated"}';
INSERT INTO sv VALUES (5, 'request.jwt.claims');
-- Precedence: eventhooks.session_variables, then hasura.user, then request.jwt.claims; the
-- settings not used are not read (an invalid lower one does no harm).
SET hasura."user" = '{"x-hasura-role": "admin"}';
INSERT INTO sv VALUES (6, 'hasura.user over request.jwt.claims');
SET eventhooks.session_variables = '{"x-hasura-role": "editor"}';
INSERT INTO sv VALUES (7, 'eventhooks.session_variables over both');
SET request.jwt.claims = 'not json';
INSERT INTO sv VALUES (8, 'invalid request.jwt.claims is not read');
RESET request.jwt.claims;
RESET hasura."user";
RESET eventhooks.session_variables;
INSERT INTO sv VALUES (9, 'all reset');
SELECT payload->>'op' AS op,
       coalesce(payload->'data'->'new'->>'note', payload->'data'->'old'->>'note',
                payload->'data'->'new'->>'manual') AS note,
       payload->'session_variables' AS session_variables
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- Invalid JSON in the setting that is used: an ERROR naming the setting, and the row change
-- is rolled back with it.
SET eventhooks.session_variables = '{"x-hasura-role": ';
INSERT INTO sv VALUES (10, 'invalid eventhooks.session_variables');
RESET eventhooks.session_variables;
SET hasura."user" = 'admin';
INSERT INTO sv VALUES (11, 'invalid hasura.user');
RESET hasura."user";
SET request.jwt.claims = '{bad}';
INSERT INTO sv VALUES (12, 'invalid request.jwt.claims');
RESET request.jwt.claims;
-- Valid JSON that is not an object: an ERROR too.
BEGIN;
SET LOCAL eventhooks.session_variables = '["x-hasura-role", "user"]';
INSERT INTO sv VALUES (13, 'array');
ROLLBACK;
SET eventhooks.session_variables = '"user"';
INSERT INTO sv VALUES (14, 'string');
SET eventhooks.session_variables = '42';
INSERT INTO sv VALUES (15, 'number');
SET eventhooks.session_variables = 'null';
INSERT INTO sv VALUES (16, 'null');
-- A valid value works again afterwards.
SET eventhooks.session_variables = '{"x-hasura-role": "user"}';
INSERT INTO sv VALUES (17, 'valid again');
RESET eventhooks.session_variables;
SELECT id, note FROM sv WHERE id >= 10 ORDER BY id;
SELECT payload->'data'->'new'->>'id' AS row_id, payload->'session_variables' AS session_variables
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- UPDATE with listened columns fires only when one of them IS DISTINCT FROM its old value:
-- NULL -> NULL no, NULL -> value yes, value -> NULL yes, same value no, other column no.
-- A json column (no equality operator) and a large TOASTed text can be listened to.
CREATE TABLE watched (id int PRIMARY KEY, a int, j json, big text, other text);
SELECT eventhooks.create_event_trigger('watched', 'watched', 'http://127.0.0.1:9/w',
    on_update => '{"columns": ["a", "j", "big"]}');
INSERT INTO watched VALUES (1, NULL, NULL, NULL, 'x');
UPDATE watched SET a = NULL;                                      -- 1: no event
UPDATE watched SET a = 1;                                         -- 2: event
UPDATE watched SET a = 1;                                         -- 3: no event
UPDATE watched SET a = NULL;                                      -- 4: event
UPDATE watched SET other = 'y';                                   -- 5: no event
UPDATE watched SET j = '{"k": [1, 2]}';                           -- 6: event
UPDATE watched SET j = '{"k": [1, 2]}';                           -- 7: no event
UPDATE watched SET j = '{"k": [1, 3]}', other = 'z';              -- 8: event
UPDATE watched SET j = NULL;                                      -- 9: event
UPDATE watched SET big = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i);  -- 10: event
UPDATE watched SET big = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i);  -- 11: no event
UPDATE watched SET big = big || '!';                              -- 12: event
UPDATE watched SET a = a, j = j, big = big;                       -- 13: no event
SELECT payload->'data'->'old'->'a' AS old_a, payload->'data'->'new'->'a' AS new_a,
       payload->'data'->'old'->'j' AS old_j, payload->'data'->'new'->'j' AS new_j,
       length(payload->'data'->'old'->>'big') AS old_big_length,
       length(payload->'data'->'new'->>'big') AS new_big_length,
       payload->'data'->'new'->>'other' AS new_other
FROM eventhooks.event_log ORDER BY id;
DELETE FROM eventhooks.event_log;

-- The worker finds new events from a cursor over the primary key. A row made pending again by
-- SQL (hand requeue, restore, INSERT) is given a next_retry_at, so that the worker finds it
-- wherever its cursor is; rows the worker or the writer leave alone keep theirs.
INSERT INTO watched VALUES (2, 1, NULL, NULL, 'x');
UPDATE watched SET a = 2 WHERE id = 2;
SELECT tries, next_retry_at IS NULL AS no_retry_time FROM eventhooks.event_log ORDER BY id;
UPDATE eventhooks.event_log SET error = true, tries = 3;             -- failed: stays without
SELECT count(*) AS without_retry_time FROM eventhooks.event_log WHERE next_retry_at IS NULL;
BEGIN;
UPDATE eventhooks.event_log SET error = false, tries = 0;            -- requeued by hand
SELECT next_retry_at = now() AS due_now FROM eventhooks.event_log ORDER BY id;
ROLLBACK;
UPDATE eventhooks.event_log SET error = false, next_retry_at = now() + interval '1 hour';
SELECT next_retry_at > now() AS kept_later_time FROM eventhooks.event_log ORDER BY id;
UPDATE eventhooks.event_log SET delivered = true;                    -- settled: time cleared
SELECT count(*) AS without_retry_time FROM eventhooks.event_log WHERE next_retry_at IS NULL;
INSERT INTO eventhooks.event_log (id, schema_name, table_name, trigger_name, payload)
VALUES ('00000000-0000-7000-8000-000000000001', 'public', 'watched', 'watched', '{}');
SELECT id, next_retry_at IS NOT NULL AS has_retry_time FROM eventhooks.event_log
WHERE NOT delivered ORDER BY id;
SET session_replication_role = replica;
UPDATE eventhooks.event_log SET delivered = false, next_retry_at = NULL WHERE delivered;
RESET session_replication_role;
SELECT count(*) AS without_retry_time FROM eventhooks.event_log WHERE next_retry_at IS NULL;
DELETE FROM eventhooks.event_log;

-- A statement's events are written together when it ends (one multi-insert per batch of up
-- to 1000): visible to the next statement of the transaction, in row order, and tied to the
-- subtransaction that made them even when another one is running at the end of the statement.
CREATE TABLE batched (id int PRIMARY KEY, note text);
SELECT eventhooks.create_event_trigger('batched', 'batched', 'http://127.0.0.1:9/b',
    on_insert => '{"payload": ["id"]}');
BEGIN;
INSERT INTO batched SELECT i, 'bulk' FROM generate_series(1, 2500) AS i;
SELECT count(*) AS events_seen_in_transaction FROM eventhooks.event_log;
SAVEPOINT s;
INSERT INTO batched SELECT i, 'rolled back' FROM generate_series(2501, 2600) AS i;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) AS events, min((payload->'data'->'new'->>'id')::int) AS first,
       max((payload->'data'->'new'->>'id')::int) AS last,
       bool_and(ordered) AS ids_follow_rows
FROM (SELECT payload, (payload->'data'->'new'->>'id')::int
        > coalesce(lag((payload->'data'->'new'->>'id')::int) OVER (ORDER BY id), 0) AS ordered
      FROM eventhooks.event_log) e;
DELETE FROM eventhooks.event_log;
-- A trigger of the user's on the same table writes more rows inside its own subtransactions
-- (an EXCEPTION block), some of which fail: their events go with them, the others stay.
CREATE FUNCTION batched_side_effect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id < 10000 THEN
        BEGIN
            INSERT INTO batched VALUES (NEW.id + 10000, 'side effect kept');
            INSERT INTO batched VALUES (NEW.id + 20000, 'side effect failed');
            IF NEW.id % 2 = 0 THEN RAISE EXCEPTION 'undo'; END IF;
        EXCEPTION WHEN raise_exception THEN NULL;
        END;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER side_effect AFTER INSERT ON batched FOR EACH ROW EXECUTE FUNCTION batched_side_effect();
INSERT INTO batched VALUES (3001, 'x'), (3002, 'x'), (3003, 'x');
SELECT (payload->'data'->'new'->>'id')::int AS row_id FROM eventhooks.event_log ORDER BY 1;
SELECT id FROM batched WHERE id > 3000 ORDER BY 1;
DELETE FROM eventhooks.event_log;
DROP TABLE batched;
DROP FUNCTION batched_side_effect();

-- A transaction that recorded events cannot be prepared (the commit of a prepared transaction
-- would not tell the worker); the whole transaction is rolled back. Without events it can.
BEGIN;
UPDATE watched SET a = 3 WHERE id = 2;
PREPARE TRANSACTION 'with_events';
SELECT a AS a_unchanged FROM watched WHERE id = 2;
SELECT count(*) AS events_left FROM eventhooks.event_log;
SELECT count(*) AS prepared FROM pg_prepared_xacts;
BEGIN;
UPDATE watched SET other = 'no event' WHERE id = 2;  -- not a listened column
PREPARE TRANSACTION 'without_events';
COMMIT PREPARED 'without_events';
SELECT other FROM watched WHERE id = 2;
SELECT count(*) AS events_left FROM eventhooks.event_log;

DROP TABLE warehouse.inventory, "Sales Dept"."Order Items", readings, measurements_extra, sv, watched;
DROP SCHEMA warehouse;
DROP SCHEMA "Sales Dept";
DROP EXTENSION pg_eventhooks;
