-- Event payloads for every common column type: data.new / data.old must be exactly what
-- row_to_json renders for the row (SPEC §4), for INSERT, UPDATE and DELETE, with column
-- subsets, and after columns were added or dropped.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

-- Fixed settings that change how values render: a zone with a non-zero offset and no DST.
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;

CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE address AS (street text, zip int, tags text[]);

CREATE TABLE everything (
    id              int PRIMARY KEY,
    c_smallint      smallint,
    c_int           int,
    c_bigint        bigint,
    c_numeric       numeric,
    c_numeric_2     numeric(10,2),
    c_real          real,
    c_double        double precision,
    c_text          text,
    c_varchar       varchar(20),
    c_char          char(5),
    c_bool          boolean,
    c_timestamptz   timestamptz,
    c_timestamp     timestamp,
    c_date          date,
    c_time          time,
    c_timetz        timetz,
    c_interval      interval,
    c_uuid          uuid,
    c_json          json,
    c_jsonb         jsonb,
    c_int_array     int[],
    c_text_array    text[],
    c_2d            int[][],
    c_bytea         bytea,
    c_inet          inet,
    c_domain        positive_int,
    c_enum          mood,
    c_composite     address,
    c_text_length   int GENERATED ALWAYS AS (length(c_text)) STORED
);

-- One trigger sends whole rows, a second one a column subset.
SELECT eventhooks.create_event_trigger('everything_all', 'everything', 'http://127.0.0.1:9/all',
    on_insert => '{}', on_update => '{"columns": "*", "payload": "*"}', on_delete => '{}');
SELECT eventhooks.create_event_trigger('everything_subset', 'everything', 'http://127.0.0.1:9/subset',
    on_insert => '{"payload": ["id", "c_numeric", "c_composite", "c_varchar"]}',
    on_update => '{"payload": ["id", "c_numeric", "c_composite", "c_varchar"]}',
    on_delete => '{"payload": ["id", "c_numeric", "c_composite", "c_varchar"]}');

-- Row 1: ordinary values of every type. Row 2: extremes and special values. Row 3: text with
-- quotes, backslashes, line breaks and control characters. Row 4: NULL everywhere. Row 5: a
-- value large enough to be TOASTed out of line.
INSERT INTO everything (id, c_smallint, c_int, c_bigint, c_numeric, c_numeric_2, c_real, c_double,
    c_text, c_varchar, c_char, c_bool, c_timestamptz, c_timestamp, c_date, c_time, c_timetz,
    c_interval, c_uuid, c_json, c_jsonb, c_int_array, c_text_array, c_2d, c_bytea, c_inet,
    c_domain, c_enum, c_composite)
VALUES
 (1, 42, 123456, 1234567890123, 1.50, 3.1, 1.5, 3.141592653589793,
  'plain text', 'varchar', 'ab', true, '2024-02-29 12:34:56.789+00', '2024-02-29 23:59:59.999999',
  '2024-02-29', '13:14:15.5', '13:14:15+02', '1 year 2 mons 3 days 04:05:06.7',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, {"c": null}], "a": "x"}',
  '{"nested": {"deep": [true, false, null, 1.10]}}', '{1,2,3}', '{"a",NULL,"with space","q\"uote"}',
  '{{1,2},{3,4}}', '\xdeadbeef', '192.168.0.1/24', 7, 'happy', ROW('Main St', 12345, '{x,NULL}')),
 (2, -32768, -2147483648, -9223372036854775808,
  123456789012345678901234567890.123456789012345678901234567890, -0.50, 'NaN', 'Infinity',
  'é ü ß — 😀 漢字 日本語 한국어', '', '', false, 'infinity', '-infinity', 'infinity', '24:00:00',
  '00:00:00-14:59', '-1 days +02:03:00', '00000000-0000-0000-0000-000000000000', '[]', '"scalar"',
  '{}', '{NULL}', '{{NULL,1},{2,NULL}}', '', '::1', 2147483647, 'sad', ROW(NULL, NULL, NULL)),
 (3, 32767, 2147483647, 9223372036854775807, 'NaN', 99999999.99, '-Infinity', '-0',
  E'quote " backslash \\ slash / newline \n cr \r tab \t bell \x07 esc \x1b del \x7f unit sep \x1f',
  E'a\\b"c', E'\t', NULL, '1970-01-01 00:00:00+00', '0001-01-01 00:00:00', '-infinity', '00:00:00',
  '23:59:59.999999+14', '0', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '{"dup": 1, "dup": 2, "s": "\u00e9\n"}', '{"s": "back\\slash \"q\" \u00e9"}',
  '{-1,0,1}', ARRAY[E'new\nline', E'tab\t', E'back\\slash', '"'], '{{{1}},{{2}}}', '\x00ff0a', '10.0.0.0/8',
  1, 'ok', ROW(E'line\nbreak', 0, '{}')),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO everything (id, c_numeric, c_text, c_jsonb)
SELECT 5, 1e-20, string_agg(md5(i::text), ''), jsonb_build_object('big', string_agg(md5(i::text), ''))
FROM generate_series(1, 5000) AS i;
-- Row 5's values really are stored out of line, in the TOAST table.
SELECT pg_relation_size(reltoastrelid) > 0 AS has_toasted_values
FROM pg_class WHERE oid = 'everything'::regclass;

-- Every INSERT event's data.new equals row_to_json of the row (as jsonb, and as text so that
-- numeric scale such as 1.50 is compared too); data.old is null.
SELECT t.id,
       e.payload->'data'->'new' = row_to_json(t)::jsonb AS new_equal,
       (e.payload->'data'->'new')::text = (row_to_json(t)::jsonb)::text AS new_same_text,
       e.payload->'data'->'old' = 'null' AS old_is_null,
       e.payload->>'op' AS op
FROM eventhooks.event_log e
JOIN everything t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'everything_all'
ORDER BY e.id;

-- What the payloads look like (row 5 is too long to print). The payload is stored as jsonb, so
-- keys come out sorted, a json column's duplicate keys collapse to the last one and the double
-- -0 reads 0 -- the same as row_to_json(t)::jsonb above.
SELECT t.id, jsonb_pretty(e.payload) AS payload
FROM eventhooks.event_log e
JOIN everything t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'everything_all' AND t.id <> 5
ORDER BY e.id;
SELECT length(e.payload->'data'->'new'->>'c_text') AS text_length,
       md5(e.payload->'data'->'new'->>'c_text') = md5(t.c_text) AS same_text,
       e.payload->'data'->'new'->'c_jsonb' = t.c_jsonb AS same_jsonb
FROM eventhooks.event_log e JOIN everything t ON t.id = 5
WHERE e.trigger_name = 'everything_all' AND e.payload->'data'->'new'->>'id' = '5';

-- The subset trigger sends only the listed columns, rendered like row_to_json renders them.
SELECT t.id,
       e.payload->'data'->'new' = (SELECT row_to_json(s)::jsonb FROM
            (SELECT t.id, t.c_numeric, t.c_composite, t.c_varchar) s) AS subset_equal,
       e.payload->'data'->'new' AS new
FROM eventhooks.event_log e
JOIN everything t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'everything_subset'
ORDER BY e.id;

-- Columns added (with and without a default) and dropped after the triggers were made.
ALTER TABLE everything ADD COLUMN added_plain text;
ALTER TABLE everything ADD COLUMN added_default int DEFAULT 42;
ALTER TABLE everything ADD COLUMN added_array text[] DEFAULT '{a,b}';
ALTER TABLE everything DROP COLUMN c_varchar;
ALTER TABLE everything DROP COLUMN c_inet;
INSERT INTO everything (id, c_text, added_plain) VALUES (6, 'after alter', 'set');
INSERT INTO everything (id, c_text, added_default, added_array) VALUES (7, 'after alter', NULL, NULL);
SELECT t.id,
       e.payload->'data'->'new' = row_to_json(t)::jsonb AS new_equal,
       e.payload->'data'->'new' ? 'c_varchar' AS has_dropped_column,
       e.payload->'data'->'new'->'added_plain' AS added_plain,
       e.payload->'data'->'new'->'added_default' AS added_default,
       e.payload->'data'->'new'->'added_array' AS added_array
FROM eventhooks.event_log e
JOIN everything t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'everything_all' AND t.id IN (6, 7)
ORDER BY e.id;
-- The subset trigger no longer sends the dropped column.
SELECT e.payload->'data'->'new' AS new
FROM eventhooks.event_log e
WHERE e.trigger_name = 'everything_subset' AND e.payload->'data'->'new'->>'id' IN ('6', '7')
ORDER BY e.id;

-- UPDATE: data.old is the row before (rows 1 to 4 were written before the ALTERs, so their
-- stored tuples lack the added columns: the defaults must still show), data.new the row after.
CREATE TEMP TABLE before_update AS SELECT id, row_to_json(t)::jsonb AS j FROM everything t;
UPDATE everything SET c_text = c_text || ' (updated)', c_numeric = 2.000 WHERE id IN (1, 3);
UPDATE everything SET c_int = 1, c_jsonb = '{"was": null}' WHERE id = 4;
UPDATE everything SET added_plain = 'five' WHERE id = 5;
SELECT t.id, e.payload->>'op' AS op,
       e.payload->'data'->'old' = b.j AS old_equal,
       e.payload->'data'->'new' = row_to_json(t)::jsonb AS new_equal,
       (e.payload->'data'->'new')::text = (row_to_json(t)::jsonb)::text AS new_same_text,
       e.payload->'data'->'old'->'added_default' AS old_added_default,
       e.payload->'data'->'new'->'c_numeric' AS new_numeric
FROM eventhooks.event_log e
JOIN everything t ON t.id = (e.payload->'data'->'new'->>'id')::int
JOIN before_update b ON b.id = t.id
WHERE e.trigger_name = 'everything_all' AND e.payload->>'op' = 'UPDATE'
ORDER BY e.id;
SELECT jsonb_pretty(e.payload->'data') AS data
FROM eventhooks.event_log e
WHERE e.trigger_name = 'everything_all' AND e.payload->>'op' = 'UPDATE'
  AND e.payload->'data'->'new'->>'id' = '4';
-- The subset trigger's UPDATE events: the same columns in old and new.
SELECT e.payload->'data' AS data
FROM eventhooks.event_log e
WHERE e.trigger_name = 'everything_subset' AND e.payload->>'op' = 'UPDATE'
ORDER BY e.id;

-- DELETE: data.old is the deleted row (including a TOASTed one), data.new is null.
CREATE TEMP TABLE before_delete AS SELECT id, row_to_json(t)::jsonb AS j FROM everything t;
DELETE FROM everything WHERE id IN (2, 4, 5, 6);
SELECT b.id, e.payload->>'op' AS op,
       e.payload->'data'->'old' = b.j AS old_equal,
       (e.payload->'data'->'old')::text = b.j::text AS old_same_text,
       e.payload->'data'->'new' = 'null' AS new_is_null
FROM eventhooks.event_log e
JOIN before_delete b ON b.id = (e.payload->'data'->'old'->>'id')::int
WHERE e.trigger_name = 'everything_all' AND e.payload->>'op' = 'DELETE'
ORDER BY b.id;
SELECT e.payload->'data' AS data
FROM eventhooks.event_log e
WHERE e.trigger_name = 'everything_subset' AND e.payload->>'op' = 'DELETE'
ORDER BY (e.payload->'data'->'old'->>'id')::int;

-- Payload subsets on a small table: quoted mixed-case column names, different columns per
-- operation, and an empty payload list (an empty object is sent).
CREATE TABLE subset_demo (a int, "Mixed Case" text, c numeric, d jsonb);
SELECT eventhooks.create_event_trigger('subset_demo', 'subset_demo', 'http://127.0.0.1:9/demo',
    on_insert => '{"payload": ["a", "Mixed Case"]}',
    on_update => '{"columns": ["c"], "payload": ["a", "c"]}',
    on_delete => '{"payload": []}');
INSERT INTO subset_demo VALUES (1, 'MiXeD', 1.10, '{"x": 1}');
UPDATE subset_demo SET d = '{"x": 2}';      -- c not changed: no event
UPDATE subset_demo SET c = 2.5;             -- c changed: event
DELETE FROM subset_demo;
SELECT payload->>'op' AS op, payload->'data' AS data
FROM eventhooks.event_log WHERE trigger_name = 'subset_demo' ORDER BY id;

-- Column lists of any length: a 70-column table whose INSERT payload lists all 70 columns and
-- whose UPDATE listens to all 70 by name.
DO $$BEGIN
    EXECUTE (SELECT 'CREATE TABLE wide (' || string_agg(format('c%s int DEFAULT %s', i, i), ', ' ORDER BY i) || ')'
             FROM generate_series(1, 70) AS i);
END$$;
SELECT eventhooks.create_event_trigger('wide', 'wide', 'http://127.0.0.1:9/wide',
    on_insert => jsonb_build_object('payload', (SELECT jsonb_agg('c' || i ORDER BY i) FROM generate_series(1, 70) AS i)),
    on_update => jsonb_build_object('columns', (SELECT jsonb_agg('c' || i ORDER BY i) FROM generate_series(1, 70) AS i)));
INSERT INTO wide DEFAULT VALUES;
UPDATE wide SET c70 = 0;
SELECT payload->>'op' AS op,
       (SELECT count(*) FROM jsonb_object_keys(payload->'data'->'new')) AS new_columns,
       CASE payload->>'op'
           WHEN 'INSERT' THEN payload->'data'->'new' = (SELECT jsonb_object_agg('c' || i, i) FROM generate_series(1, 70) AS i)
           ELSE payload->'data'->'new' = (SELECT row_to_json(w)::jsonb FROM wide w)
       END AS new_equal
FROM eventhooks.event_log WHERE trigger_name = 'wide' ORDER BY id;

-- More types that row encoding decides per column: oid, name, "char", a domain over numeric
-- holding NaN and Infinity, float4 specials, char(n) padding, money, an enum. A user type that
-- gains a cast to json after the trigger was made is sent through the cast from then on, as
-- row_to_json does.
CREATE DOMAIN any_numeric AS numeric;
CREATE TYPE level AS ENUM ('low', 'high');
CREATE TABLE more_types (id int, o oid, n name, ch "char", dn any_numeric, f4 real,
                         bp char(5), m money, lv level);
SELECT eventhooks.create_event_trigger('more_types', 'more_types', 'http://127.0.0.1:9/more',
    on_insert => '{}');
INSERT INTO more_types VALUES
    (1, 4294967295, 'a name', 'x', 'NaN', 'NaN', 'ab', 12.34, 'low'),
    (2, 0, '', 'y', 'Infinity', '-Infinity', 'abcde', -0.5, 'high'),
    (3, 17, 'n', 'z', '-1.500', 3.4028235e38, '', 0, NULL);
CREATE VIEW more_types_compared AS
SELECT t.id,
       (e.payload->'data'->'new')::text = (row_to_json(t)::jsonb)::text AS new_same_text,
       e.payload->'data'->'new' AS new
FROM eventhooks.event_log e
JOIN more_types t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'more_types';
SELECT * FROM more_types_compared ORDER BY id;
CREATE FUNCTION level_to_json(level) RETURNS json LANGUAGE sql IMMUTABLE
    AS $$SELECT json_build_object('level', $1::text)$$;
CREATE CAST (level AS json) WITH FUNCTION level_to_json(level);
INSERT INTO more_types VALUES (4, 1, 'after cast', 'w', 2, 1.25, 'x', 1, 'high');
SELECT * FROM more_types_compared WHERE id = 4;
DROP VIEW more_types_compared;
DROP TABLE more_types;
DROP CAST (level AS json);
DROP FUNCTION level_to_json(level);
DROP TYPE level;
DROP DOMAIN any_numeric;

-- A cast to json that itself records events and changes the watched table's definition while
-- the outer row is being encoded: the nested trigger call rebuilds the configuration cache
-- while the outer call still uses its old entry (which must stay valid), and every row still
-- gets its event, with the columns of the moment.
CREATE TABLE cast_audit (note text);
SELECT eventhooks.create_event_trigger('cast_audit', 'cast_audit', 'http://127.0.0.1:9/audit',
    on_insert => '{}');
CREATE TYPE shade AS ENUM ('light', 'dark');
CREATE FUNCTION shade_to_json(shade) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cast_audit VALUES ('cast of ' || $1::text);
    EXECUTE format('ALTER TABLE cast_audit ADD COLUMN c%s int', (SELECT count(*) FROM cast_audit));
    INSERT INTO cast_audit VALUES ('after alter');
    RETURN json_build_object('shade', $1::text);
END$$;
CREATE CAST (shade AS json) WITH FUNCTION shade_to_json(shade);
CREATE TABLE painted (id int, s shade);
SELECT eventhooks.create_event_trigger('painted', 'painted', 'http://127.0.0.1:9/painted',
    on_insert => '{}');
INSERT INTO painted VALUES (1, 'dark'), (2, 'light');
SELECT trigger_name, payload->'data'->'new' AS new
FROM eventhooks.event_log WHERE trigger_name IN ('painted', 'cast_audit') ORDER BY id;
DROP TABLE painted, cast_audit;
DROP CAST (shade AS json);
DROP FUNCTION shade_to_json(shade);
DROP TYPE shade;

-- json values that jsonb cannot hold as they are never make the user's write fail: an escape
-- jsonb refuses (\u0000, an unpaired surrogate) is kept as its six characters of text, in json
-- columns, domains over json, json arrays, composites with a json attribute (also one added
-- after the trigger's cache was built) and casts to json. Everything else stays as
-- row_to_json renders it (a valid pair, an escaped backslash before "u0000", \u00e9).
CREATE DOMAIN json_doc AS json;
CREATE TYPE with_json AS (label text, doc json);
CREATE TYPE gains_json AS (label text);
CREATE TYPE nul_maker AS ENUM ('nul');
CREATE TABLE json_escapes (id int, j json, d json_doc, a json[], c with_json, g gains_json,
                           n nul_maker);
SELECT eventhooks.create_event_trigger('json_escapes', 'json_escapes', 'http://127.0.0.1:9/esc',
    on_insert => '{}', on_update => '{}', on_delete => '{}');
INSERT INTO json_escapes (id, j) VALUES (1, '{"nul": "a\u0000b", "key\u0000": 1}');
INSERT INTO json_escapes (id, j) VALUES (2, '["\ud800", "\udc00x", "\ud83d\ude00", "\ud83d"]');
INSERT INTO json_escapes (id, j) VALUES
    (3, '{"literal": "\\u0000", "e": "\u00e9", "plain": "no escapes"}');
INSERT INTO json_escapes (id, j) VALUES (4, '"\u0000"');
INSERT INTO json_escapes (id, d, a, c, g) VALUES
    (5, '{"d": "\u0000"}', ARRAY['{"a": "\u0000"}'::json, '[1]'], ROW('x', '["\u0000"]'), ROW('g'));
-- A composite type that gains a json attribute after the cache entry was built.
ALTER TYPE gains_json ADD ATTRIBUTE doc json;
INSERT INTO json_escapes (id, g) VALUES (6, ROW('g', '{"g": "\u0000"}'));
-- A cast to json whose result holds \u0000.
CREATE FUNCTION nul_maker_to_json(nul_maker) RETURNS json LANGUAGE sql IMMUTABLE
    AS $$SELECT '{"made": "\u0000"}'::json$$;
CREATE CAST (nul_maker AS json) WITH FUNCTION nul_maker_to_json(nul_maker);
INSERT INTO json_escapes (id, n) VALUES (7, 'nul');
UPDATE json_escapes SET j = '{"after": "\u0000"}' WHERE id = 1;
DELETE FROM json_escapes WHERE id = 4;
SELECT payload->>'op' AS op,
       jsonb_strip_nulls(payload->'data'->CASE payload->>'op' WHEN 'DELETE' THEN 'old' ELSE 'new' END) AS data
FROM eventhooks.event_log WHERE trigger_name = 'json_escapes' ORDER BY id;
-- The strings a receiver gets: the six characters \u0000, not a NUL.
SELECT payload->'data'->'new'->'j'->>'nul' AS nul_string,
       length(payload->'data'->'new'->'j'->>'nul') AS length
FROM eventhooks.event_log WHERE trigger_name = 'json_escapes'
  AND payload->'data'->'new'->>'id' = '1' AND payload->>'op' = 'INSERT';
-- Values without such escapes are exactly row_to_json's.
SELECT t.id, e.payload->'data'->'new' = row_to_json(t)::jsonb AS new_equal
FROM eventhooks.event_log e JOIN json_escapes t ON t.id = (e.payload->'data'->'new'->>'id')::int
WHERE e.trigger_name = 'json_escapes' AND t.id = 3;
DROP TABLE json_escapes;
-- A json number numeric cannot hold (jsonb's numbers are numeric; json takes any digits) never
-- makes the user's write fail either: it is kept as a string of its text, in json columns,
-- domains over json, json arrays and composites. Numbers numeric holds stay numbers.
CREATE TABLE json_numbers (id int, j json, d json_doc, a json[], c with_json);
SELECT eventhooks.create_event_trigger('json_numbers', 'json_numbers', 'http://127.0.0.1:9/num',
    on_insert => '{}', on_update => '{}');
INSERT INTO json_numbers (id, j) VALUES (1, '{"a": 1e1000000, "b": 1.5, "c": "1e1000000"}'),
    (2, '[1e-20000, -2E+999999, 1e3, 0]'), (3, '1e999999');
INSERT INTO json_numbers (id, d, a, c) VALUES
    (4, '{"d": 1e1000000}', ARRAY['[1e-20000]'::json, '[1]'], ROW('x', '{"e": -1E9999999999}'));
INSERT INTO json_numbers (id, j) VALUES (5, ('[0.' || repeat('1', 17000) || ', 7]')::json);
UPDATE json_numbers SET j = '{"after": 1e1000000}' WHERE id = 1;
SELECT payload->>'op' AS op, jsonb_strip_nulls(payload->'data'->'new') AS new
FROM eventhooks.event_log WHERE trigger_name = 'json_numbers'
  AND payload->'data'->'new'->>'id' <> '5' ORDER BY id;
SELECT jsonb_typeof(j->0) AS long_fraction_type, length(j->>0) AS long_fraction_length,
       j->1 AS next
FROM (SELECT payload->'data'->'new'->'j' AS j FROM eventhooks.event_log
      WHERE trigger_name = 'json_numbers' AND payload->'data'->'new'->>'id' = '5') s;
SELECT count(*) AS rows_written FROM json_numbers;
DROP TABLE json_numbers;
DROP CAST (nul_maker AS json);
DROP FUNCTION nul_maker_to_json(nul_maker);
DROP TYPE nul_maker, gains_json, with_json;
DROP DOMAIN json_doc;

-- A value longer than jsonb allows for one string (255 MB) is recorded as a marker with its
-- size; the write succeeds. So is the largest value of an UPDATE whose old and new rows
-- together are too large for one payload.
SET default_toast_compression = lz4;  -- of the table's and event_log's values: quicker
CREATE TABLE huge (id int, t text, small text);
SELECT eventhooks.create_event_trigger('huge', 'huge', 'http://127.0.0.1:9/huge',
    on_insert => '{}', on_update => '{}');
INSERT INTO huge VALUES (1, repeat('x', 268435456), 'kept');
INSERT INTO huge VALUES (2, repeat('y', 150000000), 'kept');
UPDATE huge SET t = t || 'z' WHERE id = 2;
SELECT op, id, side, left(t, 80) AS t, length(t) AS t_length, small
FROM (SELECT e.id AS event_id, e.payload->>'op' AS op, r.key AS side, r.value->>'id' AS id,
             r.value->>'t' AS t, r.value->>'small' AS small
      FROM eventhooks.event_log e, jsonb_each(e.payload->'data') AS r
      WHERE e.trigger_name = 'huge' AND r.value <> 'null') s
ORDER BY event_id, side DESC;
DELETE FROM eventhooks.event_log WHERE trigger_name = 'huge';
DROP TABLE huge;
RESET default_toast_compression;

-- Every event recorded above is an ordinary event with the table's names, pending (or archived:
-- those of the tables dropped above, with their triggers).
SELECT trigger_name, schema_name, table_name, payload->>'op' AS op,
       payload->'session_variables' AS session_variables, count(*)
FROM eventhooks.event_log
WHERE NOT delivered AND NOT error
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 4;

DROP TABLE everything, subset_demo, wide;
DROP TYPE address;
DROP TYPE mood;
DROP DOMAIN positive_int;
DROP EXTENSION pg_eventhooks;
