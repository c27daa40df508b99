-- Hasura's metadata API, read calls, export_metadata and replace_metadata (issue 19, SPEC §2):
-- eventhooks._metadata_query(kind, args), which eventhooks.metadata calls for those types.
-- Part 1 calls it directly; part 2 (at the end) sends Hasura's request bodies through
-- eventhooks.metadata and replaces metadata (its writes go through eventhooks.metadata).
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- Ids and times of events and logs vary from run to run: shown as <key>.
CREATE FUNCTION masked(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'object' THEN (
            SELECT coalesce(jsonb_object_agg(key,
                       CASE WHEN key IN ('id', 'event_id', 'created_at', 'locked', 'next_retry_at')
                                 AND value <> 'null'
                            THEN to_jsonb('<' || key || '>') ELSE masked(value) END), '{}')
            FROM jsonb_each(j))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(masked(value) ORDER BY n), '[]')
                           FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n))
        ELSE j END
$$;
-- The error of a call: message and Hasura's error object.
CREATE FUNCTION query_error(kind text, args jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    PERFORM eventhooks._metadata_query(kind, args);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ' ' || SQLERRM || ' | ' || detail;
END
$$;

CREATE SCHEMA shop;
CREATE TABLE public.orders (no int PRIMARY KEY, status text, note text);
CREATE TABLE shop.items (sku text PRIMARY KEY, qty int);
SELECT eventhooks.create_event_trigger('orders_insert', 'public.orders',
    'http://127.0.0.1:9/orders', on_insert => '{}');
SELECT eventhooks.create_event_trigger('orders_audit', 'public.orders',
    'http://127.0.0.1:9/audit',
    on_update => '{"columns": ["status"], "payload": ["no", "status"]}', on_delete => '{}',
    enable_manual => true,
    headers => '[{"name": "X-Api-Key", "value": "k1"}, {"name": "X-Env", "value_from_env": "AUDIT_KEY"}]',
    retry_conf => '{"num_retries": 3, "interval_sec": 5}',
    signing => '{"scheme": "standard-webhooks", "secret_from_env": "AUDIT_SECRET"}');
SELECT eventhooks.create_event_trigger('items_hook', 'shop.items',
    webhook_from_env => 'ITEMS_WEBHOOK', on_insert => '{"columns": "*"}',
    on_update => '{"columns": ["qty"]}');
SELECT eventhooks.create_cron_trigger('nightly', 'http://127.0.0.1:9/nightly', '0 3 * * *',
    payload => '{"job": "report"}', comment => 'the nightly report',
    retry_conf => '{"num_retries": 2, "interval_sec": 30, "tolerance_sec": 600}');
SELECT eventhooks.create_cron_trigger('every_minute', 'http://127.0.0.1:9/tick', '* * * * *');
SELECT eventhooks.create_cron_trigger('not_exported', 'http://127.0.0.1:9/hidden', '5 * * * *',
    headers => '[{"name": "X-A", "value": "b"}]');
-- include_in_metadata false (create_cron_trigger's argument in the metadata API).
UPDATE eventhooks.cron_triggers SET include_in_metadata = false WHERE name = 'not_exported';
-- The cron events create_cron_trigger planned depend on today's date: replaced by fixed ones.
DELETE FROM eventhooks.cron_events;

-- Events and their logs, as the row trigger and the delivery worker would write them.
INSERT INTO orders VALUES (1, 'new', 'a'), (2, 'new', 'b'), (3, 'new', 'c');
UPDATE orders SET status = 'paid' WHERE no = 1;
UPDATE eventhooks.event_log SET delivered = true
WHERE trigger_name = 'orders_insert' AND payload->'data'->'new'->>'no' = '1';
UPDATE eventhooks.event_log SET error = true, tries = 4
WHERE trigger_name = 'orders_insert' AND payload->'data'->'new'->>'no' = '2';
INSERT INTO eventhooks.event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, s, jsonb_build_object('try', s), '{}'
FROM eventhooks.event_log, (VALUES (500), (502), (200)) AS v(s)
WHERE trigger_name = 'orders_insert' AND payload->'data'->'new'->>'no' = '1'
ORDER BY s DESC;
SELECT id AS order1_event FROM eventhooks.event_log
WHERE trigger_name = 'orders_insert' AND payload->'data'->'new'->>'no' = '1' \gset
INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time, status)
VALUES ('nightly', '2030-01-01 03:00Z', 'delivered'), ('nightly', '2030-01-02 03:00Z', 'error'),
       ('nightly', '2030-01-03 03:00Z', 'scheduled'), ('every_minute', '2030-01-01 00:00Z', 'scheduled');
INSERT INTO eventhooks.cron_event_invocation_logs (event_id, trigger_name, status, request, response)
SELECT id, trigger_name, 200, jsonb_build_object('at', scheduled_time), '{}'
FROM eventhooks.cron_events WHERE trigger_name = 'nightly' AND status <> 'scheduled'
ORDER BY scheduled_time;
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/once', '2030-05-01 12:00Z',
    payload => '{"n": 1}', comment => 'first') AS once1 \gset
SELECT eventhooks.create_scheduled_event('http://127.0.0.1:9/once', '2030-05-02 12:00Z',
    headers => '[{"name": "X-B", "value": "c"}]', retry_conf => '{"num_retries": 1}') AS once2 \gset
INSERT INTO eventhooks.scheduled_event_invocation_logs (event_id, status, request, response)
VALUES (:'once1', 503, '{"try": 1}', '{}'), (:'once1', 200, '{"try": 2}', '{}');

-- get_cron_triggers: every cron trigger, the one not exported too; retry_conf and headers always.
SELECT jsonb_pretty(eventhooks._metadata_query('get_cron_triggers', '{}'));

-- get_scheduled_events: cron events of one trigger by time, paginated, by status, with count.
SELECT masked(eventhooks._metadata_query('get_scheduled_events',
    '{"type": "cron", "trigger_name": "nightly", "limit": 2, "offset": 0, "get_rows_count": true}'));
SELECT masked(eventhooks._metadata_query('get_scheduled_events',
    '{"type": "cron", "trigger_name": "nightly", "limit": 2, "offset": 2}'));
SELECT masked(eventhooks._metadata_query('get_scheduled_events',
    '{"type": "cron", "trigger_name": "nightly", "status": ["scheduled", "delivered"], "get_rows_count": true}'));
-- one-off events, with their own configuration (Hasura's names).
SELECT jsonb_pretty(masked(eventhooks._metadata_query('get_scheduled_events',
    '{"type": "one_off", "limit": 10, "offset": 0, "get_rows_count": true}')));
SELECT masked(eventhooks._metadata_query('get_scheduled_events',
    '{"type": "one_off", "limit": 1, "offset": 1}')) -> 'events' -> 0 -> 'scheduled_time';

-- get_scheduled_event_invocations: of a cron trigger, of one event, of the one-off events;
-- newest first.
SELECT masked(eventhooks._metadata_query('get_scheduled_event_invocations',
    '{"type": "cron", "trigger_name": "nightly", "status": ["scheduled"], "limit": 10, "offset": 0}'));
SELECT masked(eventhooks._metadata_query('get_scheduled_event_invocations',
    '{"type": "cron", "trigger_name": "nightly", "limit": 1, "offset": 1, "get_rows_count": true}'));
SELECT masked(eventhooks._metadata_query('get_scheduled_event_invocations',
    jsonb_build_object('type', 'one_off', 'event_id', :'once1', 'get_rows_count', true)));
SELECT masked(eventhooks._metadata_query('get_scheduled_event_invocations',
    jsonb_build_object('type', 'one_off', 'event_id', :'once2')));
SELECT masked(eventhooks._metadata_query('get_scheduled_event_invocations',
    '{"type": "one_off", "limit": 1, "get_rows_count": true}'));

-- pg_get_event_logs: newest first; limit/offset; status pending or processed.
SELECT e->>'trigger_name', e->'payload'->'op', e->'payload'->'data'->'new'->'no', e->'delivered',
       e->'error', e->'tries', e->'archived', e->'schema_name', e->'table_name'
FROM jsonb_array_elements(eventhooks._metadata_query('pg_get_event_logs',
    '{"name": "orders_insert", "source": "default"}')) e;
SELECT e->'payload'->'data'->'new'->'no'
FROM jsonb_array_elements(eventhooks._metadata_query('pg_get_event_logs',
    '{"name": "orders_insert", "limit": 1, "offset": 1}')) e;
SELECT e->'payload'->'data'->'new'->'no'
FROM jsonb_array_elements(eventhooks._metadata_query('pg_get_event_logs',
    '{"name": "orders_insert", "status": "pending"}')) e;
SELECT e->'payload'->'data'->'new'->'no'
FROM jsonb_array_elements(eventhooks._metadata_query('pg_get_event_logs',
    '{"name": "orders_insert", "status": "processed"}')) e;
SELECT masked(eventhooks._metadata_query('pg_get_event_logs',
    '{"name": "orders_audit", "limit": 1}'));

-- pg_get_event_invocation_logs: newest first, paginated.
SELECT masked(eventhooks._metadata_query('pg_get_event_invocation_logs',
    '{"name": "orders_insert", "source": "default", "limit": 2, "offset": 0}'));
SELECT masked(eventhooks._metadata_query('pg_get_event_invocation_logs',
    '{"name": "orders_insert", "limit": 2, "offset": 2}'));

-- pg_get_event_by_id: the event and its invocations, paginated; an unknown id: null.
SELECT jsonb_pretty(masked(eventhooks._metadata_query('pg_get_event_by_id',
    jsonb_build_object('source', 'default', 'event_id', :'order1_event',
                       'invocation_log_limit', 2, 'invocation_log_offset', 1))));
SELECT eventhooks._metadata_query('pg_get_event_by_id',
    '{"event_id": "00000000-0000-0000-0000-000000000000"}');

-- export_metadata: tables by schema and name, triggers by name, optional keys only when set;
-- cron triggers with include_in_metadata only, retry_conf only when not the default.
SELECT jsonb_pretty(eventhooks._metadata_query('export_metadata', '{}'));

-- Errors: bad and unknown arguments, unknown names, with Hasura's error object.
SELECT query_error('pg_get_event_logs', '{"name": "no_such"}');
SELECT query_error('pg_get_event_logs', '{}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert", "source": "other"}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert", "limit": -1}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert", "offset": "5"}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert", "status": "delivered"}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert", "where": {}, "order_by": 1}');
SELECT query_error('pg_get_event_invocation_logs', '{"name": "orders_insert", "status": "pending"}');
SELECT query_error('pg_get_event_by_id', '{"event_id": "not-a-uuid"}');
SELECT query_error('pg_get_event_by_id', '{}');
SELECT query_error('get_scheduled_events', '{"type": "cron"}');
SELECT query_error('get_scheduled_events', '{"type": "cron", "trigger_name": "no_such"}');
SELECT query_error('get_scheduled_events', '{"type": "adhoc"}');
SELECT query_error('get_scheduled_events', '{"type": "one_off", "status": ["sent"]}');
SELECT query_error('get_scheduled_events', '{"type": "one_off", "get_rows_count": "yes"}');
SELECT query_error('get_scheduled_events', '{"type": "one_off", "trigger_name": "nightly"}');
SELECT query_error('get_scheduled_event_invocations', '{"type": "cron"}');
SELECT query_error('get_scheduled_event_invocations', '{"type": "one_off", "event_id": 7}');
SELECT query_error('get_cron_triggers', '{"name": "nightly"}');
SELECT query_error('export_metadata', '{"version": 2}');
SELECT query_error('run_sql', '{}');
-- replace_metadata refuses, changing nothing, what it does not handle (checked before any write).
SELECT query_error('replace_metadata', '{"version": 2, "tables": []}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [], "remote_schemas": [{"name": "r"}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "other", "kind": "postgres", "tables": []}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "kind": "mssql", "tables": []}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "kind": "postgres", "functions": [{"function": "f"}], "tables": []}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "tables": [{"table": "orders", "select_permissions": [{"role": "user"}]}]}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "tables": [{"table": "orders", "event_triggers": [{"name": "x", "definition": {"insert": {"columns": "*"}}, "retry_conf": {}, "webhook": "http://127.0.0.1:9/", "transform": {}}]}]}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "tables": [{"table": "orders", "event_triggers": [{"name": "x", "definition": {"insert": {"columns": "*"}, "truncate": {}}, "retry_conf": {}, "webhook": "http://127.0.0.1:9/"}]}]}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [{"name": "default", "tables": [{"table": "orders", "event_triggers": [{"name": "x", "definition": {}, "retry_conf": {}}]}, {"table": {"schema": "shop", "name": "items"}, "event_triggers": [{"name": "x", "definition": {}, "retry_conf": {}}]}]}]}');
SELECT query_error('replace_metadata', '{"version": 3, "sources": [], "cron_triggers": [{"name": "not_exported", "webhook": "http://127.0.0.1:9/", "schedule": "* * * * *", "include_in_metadata": true}]}');
SELECT query_error('replace_metadata', '{"metadata": {"version": 3, "sources": []}, "allow_warnings": "no"}');
SELECT query_error('replace_metadata', '"metadata"');
SELECT count(*) FROM eventhooks.event_triggers;
SELECT count(*) FROM eventhooks.cron_triggers;

-- A non-superuser table owner sees only their own triggers, events and cron triggers.
CREATE ROLE md_alice NOLOGIN;
CREATE ROLE md_bob NOLOGIN;
GRANT CREATE ON SCHEMA public TO md_alice, md_bob;
SET ROLE md_alice;
CREATE TABLE alice_orders (id int);
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_orders', 'http://127.0.0.1:9/md_alice',
    on_insert => '{}');
SELECT eventhooks.create_cron_trigger('alice_cron', 'http://127.0.0.1:9/md_alice', '0 * * * *');
INSERT INTO alice_orders VALUES (1);
SET ROLE md_bob;
CREATE TABLE bob_items (id int);
SELECT eventhooks.create_event_trigger('bob_hook', 'bob_items', 'http://127.0.0.1:9/md_bob',
    on_insert => '{}');
SELECT eventhooks.create_cron_trigger('bob_cron', 'http://127.0.0.1:9/md_bob', '0 * * * *');
INSERT INTO bob_items VALUES (1);
SET ROLE md_alice;
SELECT jsonb_pretty(eventhooks._metadata_query('export_metadata', '{}'));
SELECT eventhooks._metadata_query('get_cron_triggers', '{}') -> 'cron_triggers' -> 0 -> 'name',
       jsonb_array_length(eventhooks._metadata_query('get_cron_triggers', '{}') -> 'cron_triggers');
SELECT jsonb_array_length(eventhooks._metadata_query('pg_get_event_logs', '{"name": "alice_hook"}'));
SELECT query_error('pg_get_event_logs', '{"name": "bob_hook"}');
SELECT query_error('pg_get_event_logs', '{"name": "orders_insert"}');
SELECT query_error('get_scheduled_events', '{"type": "cron", "trigger_name": "nightly"}');
SELECT eventhooks._metadata_query('pg_get_event_by_id',
    jsonb_build_object('event_id', :'order1_event'));
SELECT eventhooks._metadata_query('get_scheduled_events', '{"type": "one_off", "get_rows_count": true}');
RESET ROLE;

-- ===== Part 2: through eventhooks.metadata =================================================
-- (Error contexts name the dispatcher's lines: left out.)
\set SHOW_CONTEXT never
-- Hasura's documented request bodies of the read calls.
SELECT masked(eventhooks.metadata('{"type": "get_scheduled_events", "args": {"type": "cron", "trigger_name": "nightly", "limit": 10, "offset": 0, "status": ["scheduled", "delivered"], "get_rows_count": false}}'));
SELECT masked(eventhooks.metadata('{"type": "get_scheduled_events", "args": {"type": "one_off", "limit": 10, "offset": 0, "get_rows_count": true}}')) -> 'count';
SELECT masked(eventhooks.metadata('{"type": "get_scheduled_event_invocations", "args": {"type": "cron", "trigger_name": "nightly", "status": ["scheduled"], "limit": 10, "offset": 0}}'));
SELECT jsonb_array_length(eventhooks.metadata('{"type": "pg_get_event_logs", "args": {"name": "orders_insert", "source": "default", "limit": 10, "offset": 0, "status": "processed"}}'));
SELECT jsonb_array_length(eventhooks.metadata('{"type": "pg_get_event_invocation_logs", "args": {"name": "orders_insert", "source": "default", "limit": 10, "offset": 0}}'));
SELECT masked(eventhooks.metadata(jsonb_build_object('type', 'pg_get_event_by_id',
    'args', jsonb_build_object('source', 'default', 'event_id', :'order1_event',
                               'invocation_log_limit', 1, 'invocation_log_offset', 0))));
SELECT jsonb_array_length(eventhooks.metadata('{"type": "get_cron_triggers", "args": {}}') -> 'cron_triggers');
SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}')
       = eventhooks._metadata_query('export_metadata', '{}');

-- Round trip: export, replace into the same state (changes nothing), delete every trigger,
-- replace (Hasura's v2 form), export again: the same document; the row triggers work again.
SELECT eventhooks.delete_event_trigger('alice_hook'), eventhooks.delete_event_trigger('bob_hook'),
       eventhooks.delete_cron_trigger('alice_cron'), eventhooks.delete_cron_trigger('bob_cron');
CREATE TABLE saved AS SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}') AS doc;
SELECT jsonb_array_length(doc #> '{sources,0,tables}') AS tables,
       jsonb_array_length(doc -> 'cron_triggers') AS cron_triggers FROM saved;
SELECT created_at AS audit_created FROM eventhooks.event_triggers WHERE name = 'orders_audit' \gset
SELECT eventhooks.metadata(jsonb_build_object('type', 'replace_metadata', 'args', doc)) FROM saved;
SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}') = doc FROM saved;
SELECT created_at = :'audit_created' AS kept FROM eventhooks.event_triggers WHERE name = 'orders_audit';
SELECT eventhooks.delete_event_trigger(name) FROM eventhooks.event_triggers ORDER BY name;
SELECT eventhooks.delete_cron_trigger(name) FROM eventhooks.cron_triggers
WHERE include_in_metadata ORDER BY name;
SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}');
SELECT eventhooks.metadata(jsonb_build_object('type', 'replace_metadata',
    'args', jsonb_build_object('metadata', doc, 'allow_inconsistent_metadata', false))) FROM saved;
SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}') = doc FROM saved;
SELECT name, include_in_metadata FROM eventhooks.cron_triggers ORDER BY name;
INSERT INTO orders VALUES (10, 'new', 'after replace');
SELECT trigger_name FROM eventhooks.event_log WHERE payload->'data'->'new'->>'no' = '10';

-- A smaller document: what it leaves out goes, a trigger may move to another table.
SELECT eventhooks.metadata(jsonb_build_object('type', 'replace_metadata', 'args',
    '{"version": 3, "sources": [{"name": "default", "kind": "postgres", "tables": [{"table": {"schema": "shop", "name": "items"}, "event_triggers": [{"name": "orders_insert", "definition": {"enable_manual": false, "insert": {"columns": "*"}}, "retry_conf": {"num_retries": 0, "interval_sec": 10, "timeout_sec": 60}, "webhook": "http://127.0.0.1:9/moved"}]}]}], "cron_triggers": [{"name": "every_minute", "webhook": "http://127.0.0.1:9/tick", "schedule": "*/5 * * * *", "include_in_metadata": true}]}'::jsonb));
SELECT jsonb_pretty(eventhooks.metadata('{"type": "export_metadata", "args": {}}'));
SELECT name, schedule FROM eventhooks.cron_triggers ORDER BY name;
-- A failing replace changes nothing; the error names where in the document it is.
SELECT eventhooks.metadata(jsonb_build_object('type', 'replace_metadata', 'args', doc)
    #- '{args,sources,0,tables,0,event_triggers,0,webhook}') FROM saved;
SELECT jsonb_pretty(eventhooks.metadata('{"type": "export_metadata", "args": {}}'));

-- A non-superuser replaces only what it may manage: md_bob's triggers stay, md_alice's go.
SET ROLE md_bob;
SELECT eventhooks.create_event_trigger('bob_hook', 'bob_items', 'http://127.0.0.1:9/md_bob',
    on_insert => '{}');
SELECT eventhooks.create_cron_trigger('bob_cron', 'http://127.0.0.1:9/md_bob', '0 * * * *');
SET ROLE md_alice;
SELECT eventhooks.create_event_trigger('alice_hook', 'alice_orders', 'http://127.0.0.1:9/md_alice',
    on_insert => '{}');
SELECT eventhooks.create_cron_trigger('alice_cron', 'http://127.0.0.1:9/md_alice', '0 * * * *');
SELECT eventhooks.metadata('{"type": "replace_metadata", "args": {"version": 3, "sources": [{"name": "default", "kind": "postgres", "tables": [{"table": {"schema": "public", "name": "alice_orders"}, "event_triggers": [{"name": "alice_new", "definition": {"enable_manual": true, "insert": {"columns": "*"}}, "retry_conf": {"num_retries": 0, "interval_sec": 10, "timeout_sec": 60}, "webhook": "http://127.0.0.1:9/md_alice"}]}]}]}}');
SELECT jsonb_pretty(eventhooks.metadata('{"type": "export_metadata", "args": {}}'));
-- ... and may not take another role's trigger.
SELECT eventhooks.metadata('{"type": "replace_metadata", "args": {"version": 3, "sources": [{"name": "default", "kind": "postgres", "tables": [{"table": {"schema": "public", "name": "alice_orders"}, "event_triggers": [{"name": "bob_hook", "definition": {"enable_manual": false, "insert": {"columns": "*"}}, "retry_conf": {"num_retries": 0, "interval_sec": 10, "timeout_sec": 60}, "webhook": "http://127.0.0.1:9/md_alice"}]}]}]}}');
RESET ROLE;
SELECT name, table_name FROM eventhooks.event_triggers ORDER BY name;
SELECT name FROM eventhooks.cron_triggers ORDER BY name;

-- Clean up.
SET client_min_messages = error;
DROP FUNCTION masked(jsonb), query_error(text, jsonb);
DROP TABLE IF EXISTS saved;
DROP TABLE orders, shop.items, alice_orders, bob_items;
DROP SCHEMA shop;
DROP EXTENSION pg_eventhooks;
DROP OWNED BY md_alice, md_bob;
DROP ROLE md_alice, md_bob;
