-- Hasura's metadata API (eventhooks.metadata, SPEC §2): the write calls with the request bodies
-- of Hasura's documentation (webhooks on 127.0.0.1), bulk (all or nothing), the errors with
-- Hasura's error object in their DETAIL, and the SQL API's permission rules through it.
-- No delivery worker runs here (test/regress.conf). Errors show their DETAIL, not the PL/pgSQL
-- context.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
-- The answer, or the error as its SQLSTATE and DETAIL, with (time-based) event ids as <id>.
CREATE FUNCTION try_metadata(query jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    detail text;
BEGIN
    RETURN eventhooks.metadata(query)::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL;
    RETURN 'ERROR ' || state || ' ' || regexp_replace(detail, '[0-9a-f]{8}-[0-9a-f-]{27}', '<id>', 'g');
END
$$;

CREATE TABLE users (id int PRIMARY KEY, username text, real_name text);
CREATE FUNCTION triggers() RETURNS TABLE (name text, table_name regclass, webhook text,
    on_insert jsonb, on_update jsonb, on_delete jsonb, enable_manual boolean, headers jsonb,
    retry_conf jsonb) LANGUAGE sql AS $$
    SELECT name, table_name, webhook, on_insert, on_update, on_delete, enable_manual, headers,
           retry_conf FROM eventhooks.event_triggers ORDER BY name
$$;

-- create_event_trigger, Hasura's example (its JSON has a trailing comma, left out here).
SELECT eventhooks.metadata($${
    "type" : "create_event_trigger",
    "args" : {
        "name": "sample_trigger",
        "table": {"name": "users", "schema": "public"},
        "webhook": "http://127.0.0.1:9/post",
        "insert": {"columns": "*", "payload": ["username"]},
        "update": {"columns": ["username", "real_name"], "payload": "*"},
        "delete": {"columns": "*"},
        "headers": [
            {"name": "X-Hasura-From-Val", "value": "myvalue"},
            {"name": "X-Hasura-From-Env", "value_from_env": "EVENT_WEBHOOK_HEADER"}
        ],
        "replace": false
    }
}$$);
SELECT * FROM triggers();
-- The same again: already-exists (SQLSTATE, message and hint of the SQL API kept).
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "sample_trigger",
    "table": "users", "webhook": "http://127.0.0.1:9/post", "insert": {"columns": "*"}}}$$);
-- replace, the v2 name with source, a table as a string, retry_conf, enable_manual; Hasura's
-- top-level version key is tolerated.
SELECT eventhooks.metadata($${"type": "pg_create_event_trigger", "version": 2, "args": {
    "name": "sample_trigger", "source": "default", "table": "users",
    "webhook": "http://127.0.0.1:9/post2", "insert": {"columns": "*"}, "enable_manual": true,
    "retry_conf": {"num_retries": 3, "interval_sec": 5, "timeout_sec": 30}, "replace": true}}$$);
SELECT * FROM triggers();
-- source may also name this database; our extension "signing" (SPEC §6) passes through.
SELECT eventhooks.metadata(jsonb_build_object('type', 'pg_create_event_trigger', 'args',
    jsonb_build_object('name', 'signed_trigger', 'source', current_database(),
        'table', 'users', 'webhook', 'http://127.0.0.1:9/signed', 'delete', '{}'::jsonb,
        'signing', '{"scheme": "hmac-sha256", "secret_from_env": "SECRET"}'::jsonb)));
SELECT name, signing FROM eventhooks.event_triggers WHERE name = 'signed_trigger';

-- invoke_event_trigger (Hasura's example): the new event's id.
SELECT jsonb_object_keys(eventhooks.metadata($${"type" : "invoke_event_trigger",
    "args" : {"name": "sample_trigger", "payload": {}}}$$));
SELECT eventhooks.metadata($${"type": "pg_invoke_event_trigger", "args": {"source": "default",
    "name": "sample_trigger", "payload": {"note": "by hand"}}}$$) ->> 'event_id' AS invoked \gset
SELECT :'invoked'::uuid = (SELECT id FROM eventhooks.event_log ORDER BY id DESC LIMIT 1)
    AS answer_is_the_event;
SELECT trigger_name, payload->>'op' AS op, payload->'data'->'new' AS new
FROM eventhooks.event_log ORDER BY id;

-- redeliver_event: Hasura's example id does not exist here; a real one is redelivered.
SELECT eventhooks.metadata($${"type" : "redeliver_event",
    "args" : {"event_id": "ad4f698f-a14e-4a6d-a01b-38cd252dd8bf"}}$$);
UPDATE eventhooks.event_log SET error = true, tries = 4;
SELECT eventhooks.metadata(jsonb_build_object('type', 'pg_redeliver_event', 'args',
    jsonb_build_object('event_id', (SELECT id FROM eventhooks.event_log ORDER BY id DESC
                                    LIMIT 1))));
SELECT error, tries, count(*) FROM eventhooks.event_log GROUP BY 1, 2 ORDER BY 1;

-- delete_event_trigger (Hasura's example), then again: not-exists.
SELECT eventhooks.metadata($${"type" : "delete_event_trigger",
    "args" : {"name": "sample_trigger"}}$$);
SELECT eventhooks.metadata($${"type" : "pg_delete_event_trigger",
    "args" : {"name": "sample_trigger", "source": "default"}}$$);
SELECT name FROM eventhooks.event_triggers;

-- create_cron_trigger (Hasura's example), with Hasura's retry_conf names translated to ours.
SELECT eventhooks.metadata($${
    "type" : "create_cron_trigger",
    "args" : {
        "name": "sample_cron",
        "webhook": "http://127.0.0.1:9/post",
        "schedule": "* * * * *",
        "payload": {"key1": "value1", "key2": "value2"},
        "include_in_metadata": false,
        "comment": "sample_cron comment"
    }
}$$);
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "nightly",
    "webhook": "http://127.0.0.1:9/nightly", "schedule": "0 3 * * *",
    "headers": [{"name": "X-Job", "value": "nightly"}],
    "retry_conf": {"num_retries": 2, "retry_interval_seconds": 30, "timeout_seconds": 20,
                   "tolerance_seconds": 600},
    "include_in_metadata": true}}$$);
SELECT name, webhook, schedule, payload, headers, retry_conf, comment, include_in_metadata
FROM eventhooks.cron_triggers ORDER BY name;
-- replace sets include_in_metadata too; the SQL API's default is true.
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "sample_cron",
    "webhook": "http://127.0.0.1:9/post", "schedule": "*/5 * * * *", "replace": true,
    "include_in_metadata": true}}$$);
SELECT eventhooks.create_cron_trigger('plain', 'http://127.0.0.1:9/plain', '0 * * * *');
SELECT name, schedule, include_in_metadata FROM eventhooks.cron_triggers ORDER BY name;
-- A replace through the SQL API without include_in_metadata keeps the trigger's value (a
-- hidden trigger stays out of export_metadata and replace_metadata).
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "hidden",
    "webhook": "http://127.0.0.1:9/hidden", "schedule": "0 4 * * *",
    "include_in_metadata": false}}$$);
SELECT eventhooks.create_cron_trigger('hidden', 'http://127.0.0.1:9/hidden', '0 5 * * *',
    replace => true);
SELECT name, schedule, include_in_metadata FROM eventhooks.cron_triggers WHERE name = 'hidden';
SELECT eventhooks.delete_cron_trigger('hidden');
-- Our own retry options (SPEC §7) pass through, under Hasura's names or ours.
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "backing_off",
    "webhook": "http://127.0.0.1:9/b", "schedule": "0 6 * * *",
    "retry_conf": {"num_retries": 3, "retry_interval_seconds": 5, "backoff": "exponential",
                   "max_interval_sec": 100}}}$$);
SELECT retry_conf FROM eventhooks.cron_triggers WHERE name = 'backing_off';
SELECT eventhooks.delete_cron_trigger('backing_off');
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "users_backoff",
    "table": "users", "webhook": "http://127.0.0.1:9/u", "insert": {"columns": "*"},
    "retry_conf": {"num_retries": 2, "backoff": "exponential", "max_interval_sec": 60}}}$$);
SELECT retry_conf FROM eventhooks.event_triggers WHERE name = 'users_backoff';
SELECT eventhooks.delete_event_trigger('users_backoff');
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "sample_cron",
    "webhook": "http://127.0.0.1:9/post", "schedule": "* * * * *"}}$$);

-- delete_scheduled_event of a cron event: gone, and its time is not planned again (the
-- trigger's next time takes its place when it was the last one planned).
SELECT id AS cron_event, scheduled_time AS cron_time FROM eventhooks.cron_events
WHERE trigger_name = 'nightly' ORDER BY scheduled_time LIMIT 1 \gset
SELECT eventhooks.metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'cron', 'event_id', :'cron_event')));
SELECT count(*) FILTER (WHERE scheduled_time = :'cron_time') AS deleted_time,
       count(*) FILTER (WHERE scheduled_time = :'cron_time'::timestamptz + interval '1 day')
           AS next_time
FROM eventhooks.cron_events WHERE trigger_name = 'nightly';
-- The planner (run here by resume) does not bring the deleted time back.
SELECT eventhooks.pause_cron_trigger('nightly');
SELECT eventhooks.resume_cron_trigger('nightly');
SELECT count(*) FILTER (WHERE scheduled_time = :'cron_time') AS deleted_time
FROM eventhooks.cron_events WHERE trigger_name = 'nightly';
-- ... and once more: not-exists.
SELECT try_metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'cron', 'event_id', :'cron_event')));

-- delete_cron_trigger (Hasura's example).
SELECT eventhooks.metadata($${"type" : "delete_cron_trigger",
    "args" : {"name": "sample_cron"}}$$);
SELECT name FROM eventhooks.cron_triggers ORDER BY name;

-- create_scheduled_event (Hasura's example): {"message": "success", "event_id": ...}.
SELECT eventhooks.metadata($${
    "type" : "create_scheduled_event",
    "args" : {
        "webhook": "http://127.0.0.1:9/post",
        "schedule_at": "2019-09-09T22:00:00Z",
        "payload": {"key1": "value1", "key2": "value2"},
        "headers": [{"name": "header-key", "value": "header-value"}],
        "retry_conf": {"num_retries": 3, "retry_interval_seconds": 10,
                       "timeout_seconds": 60, "tolerance_seconds": 21600},
        "comment": "sample scheduled event comment"
    }
}$$) AS answer \gset
SELECT :'answer'::jsonb - 'event_id' AS answer,
       (:'answer'::jsonb ->> 'event_id')::uuid = id AS event_id_is_the_event,
       scheduled_time, payload, headers, retry_conf, comment
FROM eventhooks.scheduled_events;
-- delete_scheduled_event of a one-off event (Hasura's form), then again: not-exists.
SELECT eventhooks.metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'one_off', 'event_id', :'answer'::jsonb -> 'event_id')));
SELECT try_metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'one_off', 'event_id', :'answer'::jsonb -> 'event_id')));
SELECT count(*) FROM eventhooks.scheduled_events;

-- bulk: each answer in order; nested bulk allowed.
SELECT eventhooks.metadata($${"type": "bulk", "args": [
    {"type": "create_event_trigger", "args": {"name": "t1", "table": "users",
        "webhook": "http://127.0.0.1:9/1", "insert": {"columns": "*"}}},
    {"type": "bulk", "args": [
        {"type": "create_cron_trigger", "args": {"name": "c1",
            "webhook": "http://127.0.0.1:9/c1", "schedule": "0 0 * * *",
            "include_in_metadata": true}}]},
    {"type": "delete_event_trigger", "args": {"name": "t1"}}
]}$$);
SELECT name FROM eventhooks.event_triggers ORDER BY name;
SELECT name FROM eventhooks.cron_triggers ORDER BY name;
-- All or nothing: the third request fails (its path names it), the first two are undone.
SELECT eventhooks.metadata($${"type": "bulk", "args": [
    {"type": "create_event_trigger", "args": {"name": "t2", "table": "users",
        "webhook": "http://127.0.0.1:9/2", "insert": {"columns": "*"}}},
    {"type": "delete_cron_trigger", "args": {"name": "c1"}},
    {"type": "create_event_trigger", "args": {"name": "t3", "table": "users",
        "webhook": "http://127.0.0.1:9/3", "insert": {"columns": ["nope"]}}}
]}$$);
SELECT eventhooks.metadata($${"type": "bulk", "args": [
    {"type": "delete_cron_trigger", "args": {"name": "c1"}},
    {"type": "bulk", "args": [{"type": "delete_cron_trigger", "args": {"name": 7}}]}
]}$$);
SELECT name FROM eventhooks.event_triggers ORDER BY name;
SELECT name FROM eventhooks.cron_triggers ORDER BY name;

-- Bad requests: parse-failed.
SELECT eventhooks.metadata('[]');
SELECT eventhooks.metadata(NULL);
SELECT eventhooks.metadata('{"args": {}}');
SELECT eventhooks.metadata('{"type": 1, "args": {}}');
SELECT eventhooks.metadata('{"type": "delete_cron_trigger", "args": {"name": "c1"}, "x": 1}');
-- not-supported: unknown types, and fields we do not support, named (never dropped).
-- Request version 2's resource_version has no counterpart: refused, not ignored.
SELECT eventhooks.metadata('{"type": "export_metadata", "version": 2, "args": {}}');
SELECT eventhooks.metadata('{"type": "delete_cron_trigger", "resource_version": 7, "args": {"name": "c1"}}');
SELECT eventhooks.metadata('{"type": "delete_cron_trigger", "version": 3, "args": {"name": "c1"}}');
SELECT eventhooks.metadata('{"type": "run_sql", "args": {"sql": "select 1"}}');
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "insert": {"columns": "*"},
    "request_transform": {}, "cleanup_config": {}}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "insert": {"columns": "*", "x": 1}}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4",
    "retry_conf": {"num_retries": 1, "retry_interval_seconds": 5}}}$$);
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "c2",
    "webhook": "http://127.0.0.1:9/c2", "schedule": "* * * * *",
    "retry_conf": {"interval_sec": 5}, "response_transform": {}}}$$);
-- invalid-params: wrong JSON types, missing arguments, bad values (the SQL API's checks).
SELECT eventhooks.metadata('{"type": "delete_event_trigger", "args": {"name": 1}}');
SELECT eventhooks.metadata('{"type": "delete_event_trigger"}');
SELECT eventhooks.metadata('{"type": "delete_event_trigger", "args": []}');
SELECT eventhooks.metadata('{"type": "bulk", "args": {}}');
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": {"schema": "public", "name": 5}, "webhook": "http://127.0.0.1:9/4"}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "retry_conf": []}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "replace": "yes"}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "ftp://127.0.0.1/4", "insert": {"columns": "*"}}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "delete": {},
    "retry_conf": {"num_retries": -1}}}$$);
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "c2",
    "webhook": "http://127.0.0.1:9/c2", "schedule": "every minute"}}$$);
SELECT eventhooks.metadata('{"type": "redeliver_event", "args": {"event_id": "42"}}');
SELECT eventhooks.metadata($${"type": "create_scheduled_event", "args": {
    "webhook": "http://127.0.0.1:9/s", "schedule_at": "tomorrow-ish"}}$$);
SELECT eventhooks.metadata($${"type": "delete_scheduled_event", "args": {
    "type": "weekly", "event_id": "ad4f698f-a14e-4a6d-a01b-38cd252dd8bf"}}$$);
-- not-exists: table, column, source, trigger.
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": {"schema": "public", "name": "nope"}, "webhook": "http://127.0.0.1:9/4"}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "t4",
    "table": "users", "webhook": "http://127.0.0.1:9/4", "update": {"columns": ["nope"]}}}$$);
SELECT eventhooks.metadata($${"type": "pg_create_event_trigger", "args": {"name": "t4",
    "source": "other_db", "table": "users", "webhook": "http://127.0.0.1:9/4"}}$$);
SELECT eventhooks.metadata('{"type": "invoke_event_trigger", "args": {"name": "nope", "payload": {}}}');
SELECT eventhooks.metadata('{"type": "delete_cron_trigger", "args": {"name": "nope"}}');
-- The SQLSTATE of the SQL API is kept, for callers that catch by it.
DO $$
BEGIN
    PERFORM eventhooks.metadata('{"type": "delete_cron_trigger", "args": {"name": "nope"}}');
EXCEPTION WHEN undefined_object THEN
    RAISE NOTICE 'undefined_object caught';
END
$$;

-- Permissions: the SQL API's rules. A table owner (no superuser, no grant) manages the
-- triggers of its own table through metadata, and nothing of others.
CREATE ROLE md_owner NOLOGIN;
CREATE ROLE md_other NOLOGIN;
GRANT CREATE ON SCHEMA public TO md_owner, md_other;
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "admins",
    "table": "users", "webhook": "http://127.0.0.1:9/admin", "insert": {"columns": "*"}}}$$);
SET ROLE md_owner;
CREATE TABLE owned (id int PRIMARY KEY, note text);
SELECT eventhooks.metadata($${"type": "bulk", "args": [
    {"type": "create_event_trigger", "args": {"name": "mine", "table": "owned",
        "webhook": "http://127.0.0.1:9/mine", "insert": {"columns": "*"},
        "enable_manual": true}},
    {"type": "invoke_event_trigger", "args": {"name": "mine", "payload": {"x": 1}}}
]}$$) @? '$[1].event_id' AS invoked;
-- A trigger on a table it does not own: permission-denied, on create, replace and delete.
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "not_mine",
    "table": "users", "webhook": "http://127.0.0.1:9/x", "insert": {"columns": "*"}}}$$);
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "admins",
    "table": "owned", "webhook": "http://127.0.0.1:9/x", "insert": {"columns": "*"},
    "replace": true}}$$);
SELECT eventhooks.metadata('{"type": "delete_event_trigger", "args": {"name": "admins"}}');
-- Environment variables need eventhooks.allowed_env for non-superusers.
SELECT eventhooks.metadata($${"type": "create_event_trigger", "args": {"name": "mine2",
    "table": "owned", "webhook_from_env": "HOME", "insert": {"columns": "*"}}}$$);
-- Cron triggers: managed by the role that made them.
SELECT eventhooks.metadata($${"type": "create_cron_trigger", "args": {"name": "owner_cron",
    "webhook": "http://127.0.0.1:9/oc", "schedule": "0 0 * * *"}}$$);
SET ROLE md_other;
SELECT eventhooks.metadata('{"type": "delete_event_trigger", "args": {"name": "mine"}}');
SELECT eventhooks.metadata('{"type": "delete_cron_trigger", "args": {"name": "owner_cron"}}');
SELECT count(*) AS its_events_seen FROM eventhooks.cron_events WHERE trigger_name = 'owner_cron';
RESET ROLE;
SELECT id AS owner_cron_event FROM eventhooks.cron_events
WHERE trigger_name = 'owner_cron' LIMIT 1 \gset
SET ROLE md_other;
SELECT try_metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'cron', 'event_id', :'owner_cron_event')));
SET ROLE md_owner;
SELECT eventhooks.metadata(jsonb_build_object('type', 'delete_scheduled_event', 'args',
    jsonb_build_object('type', 'cron', 'event_id', :'owner_cron_event')));
SELECT eventhooks.metadata($${"type": "bulk", "args": [
    {"type": "delete_cron_trigger", "args": {"name": "owner_cron"}},
    {"type": "delete_event_trigger", "args": {"name": "mine"}}]}$$);
RESET ROLE;
SELECT name, table_name FROM eventhooks.event_triggers ORDER BY name;
SELECT name FROM eventhooks.cron_triggers ORDER BY name;

-- Read calls, export_metadata and replace_metadata go to eventhooks._metadata_query (another
-- part of this file's API), here replaced for a moment by one that echoes and fails on demand:
-- its Hasura error keeps its object, its path prefixed with the request's place in a bulk.
BEGIN;
CREATE OR REPLACE FUNCTION eventhooks._metadata_query(kind text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF args ? 'fail' THEN
        RAISE EXCEPTION 'x: bad' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = '{"path": "$.args.x", "error": "x: bad", "code": "invalid-params"}';
    END IF;
    RETURN jsonb_build_object('kind', kind, 'args', args);
END
$$;
SELECT eventhooks.metadata('{"type": "export_metadata", "args": {}}');
SELECT eventhooks.metadata('{"type": "bulk", "args": [{"type": "pg_get_event_by_id",
    "args": {"event_id": "e"}}, {"type": "get_cron_triggers"}]}');
SELECT try_metadata('{"type": "replace_metadata", "args": {"fail": 1}}');
SELECT try_metadata('{"type": "bulk", "args": [{"type": "export_metadata", "args": {}},
    {"type": "replace_metadata", "args": {"fail": 1}}]}');
ROLLBACK;

-- Clean up.
SET client_min_messages = error;
DROP OWNED BY md_owner, md_other;
DROP ROLE md_owner, md_other;
DROP FUNCTION try_metadata(jsonb), triggers();
DROP TABLE users;
DROP EXTENSION pg_eventhooks;
