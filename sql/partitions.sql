-- Partitioned tables (README "Event triggers"): an event trigger on the partitioned table
-- fires for rows of every partition and reports the partitioned table's name. An UPDATE that
-- moves a row to another partition is, for row triggers, a DELETE from the old partition and
-- an INSERT into the new one (Postgres fires no UPDATE row trigger for it): a trigger that
-- listens to UPDATE only gets no event for such a move; one that listens to INSERT and DELETE
-- gets both, in that order (DELETE, then INSERT), with op DELETE and INSERT.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

CREATE TABLE parted (id int, region text, note text) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
SELECT eventhooks.create_event_trigger('p_update_only', 'parted', 'http://127.0.0.1:9/p',
    on_update => '{}');
SELECT eventhooks.create_event_trigger('p_insert_delete', 'parted', 'http://127.0.0.1:9/p',
    on_insert => '{}', on_delete => '{}');
SELECT eventhooks.create_event_trigger('p_all', 'parted', 'http://127.0.0.1:9/p',
    on_insert => '{}', on_update => '{}', on_delete => '{}');
-- A partition attached later is covered too.
CREATE TABLE parted_ap (id int, region text, note text);
ALTER TABLE parted ATTACH PARTITION parted_ap FOR VALUES IN ('ap');

INSERT INTO parted VALUES (1, 'eu', 'a'), (2, 'eu', 'b');
DELETE FROM eventhooks.event_log;

-- An UPDATE within one partition, then one that moves a row to another partition, then one
-- that moves a row into the partition attached later.
UPDATE parted SET note = 'a2' WHERE id = 1;
UPDATE parted SET region = 'us', note = 'moved' WHERE id = 2;
UPDATE parted SET region = 'ap' WHERE id = 1;
SELECT trigger_name, schema_name, table_name, payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log ORDER BY id;
-- Per trigger, what each of the three UPDATE statements gave.
SELECT trigger_name, string_agg(payload->>'op', ', ' ORDER BY id) AS ops
FROM eventhooks.event_log GROUP BY trigger_name ORDER BY trigger_name;

DROP TABLE parted;
DROP EXTENSION pg_eventhooks;
