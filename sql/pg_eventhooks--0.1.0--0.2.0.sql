-- pg_eventhooks 0.1.0 -> 0.2.0 (issue 19): Hasura's metadata API in SQL, life with the DDL of
-- real databases (DROP TABLE, renamed and dropped columns), cron triggers' include_in_metadata.
--
-- pg_eventhooks--0.1.0.sql is kept as released: CREATE EXTENSION runs it and then this script,
-- so a new database and an upgraded one have the same schema (test/t/095_upgrade.pl). The
-- library is one for every version: what it reads must work with 0.1.0's tables until
-- ALTER EXTENSION ... UPDATE has run (the worker keeps running through it).
\echo Use "ALTER EXTENSION pg_eventhooks UPDATE TO '0.2.0'" to load this file. \quit

-- ===== Hasura metadata API: dispatch, write calls, bulk =====================================
-- eventhooks.metadata(query jsonb) takes a Hasura metadata/query API body verbatim (SPEC §2).
-- It is a translation layer over the C++ SQL API (which does every validation and permission
-- check), written in PL/pgSQL: a request is one function call, so bulk is all or nothing, and
-- errors of the functions it calls are re-raised with Hasura's error object in their DETAIL:
-- {"path": "$.args...", "error": "<message>", "code": "already-exists" | "not-exists" |
--  "invalid-params" | "parse-failed" | "not-supported" | ...}.
-- Read calls, export_metadata and replace_metadata are in eventhooks._metadata_query (below).
CREATE FUNCTION eventhooks.metadata(query jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'metadata: not implemented yet'
        USING ERRCODE = 'feature_not_supported',
              DETAIL = '{"path": "$", "error": "not implemented yet", "code": "not-supported"}';
END
$$;

-- ===== Hasura metadata API: read calls, export_metadata, replace_metadata ====================
-- eventhooks._metadata_query(kind, args) answers get_cron_triggers, get_scheduled_events,
-- get_scheduled_event_invocations, pg_get_event_logs, pg_get_event_invocation_logs,
-- pg_get_event_by_id, export_metadata and replace_metadata (called by eventhooks.metadata).
-- Everything here runs with the caller's privileges (no SECURITY DEFINER): the tables'
-- row-level security shows a non-superuser only the triggers, events and logs it may manage,
-- as the SQL API does, and replace_metadata writes only through eventhooks.metadata, so the
-- field checks and the permission checks stay in one place.

-- The section above adds this column too (create_cron_trigger's include_in_metadata): added
-- here only if missing, without the NOTICE of ADD COLUMN IF NOT EXISTS (it would show in every
-- CREATE EXTENSION).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute
                   WHERE attrelid = 'eventhooks.cron_triggers'::pg_catalog.regclass
                     AND attname = 'include_in_metadata' AND NOT attisdropped) THEN
        ALTER TABLE eventhooks.cron_triggers
            ADD COLUMN include_in_metadata boolean NOT NULL DEFAULT true;
    END IF;
END
$$;

-- Internal: raises an error of the metadata API, with Hasura's error object in the DETAIL.
CREATE FUNCTION eventhooks._metadata_fail(message text, path text, code text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', message
        USING ERRCODE = CASE code
                  WHEN 'not-exists' THEN 'undefined_object'
                  WHEN 'already-exists' THEN 'duplicate_object'
                  WHEN 'not-supported' THEN 'feature_not_supported'
                  ELSE 'invalid_parameter_value' END,
              DETAIL = jsonb_build_object('path', path, 'error', message, 'code', code)::text;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_fail(text, text, text) IS 'internal (metadata API)';

-- Internal: an ERROR not-supported naming the keys of obj outside `allowed`.
CREATE FUNCTION eventhooks._metadata_check_keys(obj jsonb, allowed text[], path text, what text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    IF jsonb_typeof(obj) IS DISTINCT FROM 'object' THEN
        PERFORM eventhooks._metadata_fail(what || ': expected an object', path, 'parse-failed');
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
    FROM jsonb_object_keys(obj) k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: unsupported field(s): %s', what, unknown), path, 'not-supported');
    END IF;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_check_keys(jsonb, text[], text, text)
    IS 'internal (metadata API)';

-- Internal: a non-negative integer argument (Hasura's limit, offset, ...), or its default.
CREATE FUNCTION eventhooks._metadata_int(args jsonb, key text, dflt integer, what text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v jsonb := args -> key;
BEGIN
    IF v IS NULL OR v = 'null' THEN
        RETURN dflt;
    END IF;
    IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^[0-9]{1,9}$' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: %s must be a non-negative integer, not %s', what, key, v),
            '$.args.' || key, 'parse-failed');
    END IF;
    RETURN (v #>> '{}')::integer;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_int(jsonb, text, integer, text) IS 'internal (metadata API)';

-- Internal: a boolean argument, or its default.
CREATE FUNCTION eventhooks._metadata_bool(args jsonb, key text, dflt boolean, path text, what text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF args -> key IS NULL OR args -> key = 'null' THEN
        RETURN dflt;
    END IF;
    IF jsonb_typeof(args -> key) <> 'boolean' THEN
        PERFORM eventhooks._metadata_fail(format('%s: %s must be a boolean', what, key),
                                          path, 'parse-failed');
    END IF;
    RETURN (args ->> key)::boolean;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_bool(jsonb, text, boolean, text, text)
    IS 'internal (metadata API)';

-- Internal: a required string argument.
CREATE FUNCTION eventhooks._metadata_text(args jsonb, key text, what text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_typeof(args -> key) IS DISTINCT FROM 'string' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: %s is required (a string)', what, key), '$.args.' || key,
            'parse-failed');
    END IF;
    RETURN args ->> key;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_text(jsonb, text, text) IS 'internal (metadata API)';

-- Internal: the only source is this database, Hasura's "default".
CREATE FUNCTION eventhooks._metadata_check_source(source jsonb, path text, what text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF source IS NOT NULL AND source IS DISTINCT FROM '"default"' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: source with name %s does not exist (the only source is "default", '
                   'this database)', what, source), path, 'not-exists');
    END IF;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_check_source(jsonb, text, text) IS 'internal (metadata API)';

-- Internal: an OperationSpec as Hasura exports it: "columns" always, "payload" when given
-- ('{}' means every column, SPEC §2).
CREATE FUNCTION eventhooks._metadata_op_spec(spec jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN spec IS NULL OR spec = 'null' THEN NULL
                ELSE jsonb_build_object('columns', coalesce(spec -> 'columns', '"*"'))
                     || CASE WHEN spec ? 'payload'
                             THEN jsonb_build_object('payload', spec -> 'payload')
                             ELSE '{}' END
                     || (spec - 'columns' - 'payload') END
$$;
COMMENT ON FUNCTION eventhooks._metadata_op_spec(jsonb) IS 'internal (metadata API)';

-- Internal: an event trigger as Hasura's metadata holds it (tables[].event_triggers[]):
-- optional keys absent when unset, as Hasura exports them; our "signing" when set.
CREATE FUNCTION eventhooks._metadata_event_trigger_json(t eventhooks.event_triggers)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'name', t.name,
               'definition', jsonb_strip_nulls(jsonb_build_object(
                   'enable_manual', t.enable_manual,
                   'insert', eventhooks._metadata_op_spec(t.on_insert),
                   'update', eventhooks._metadata_op_spec(t.on_update),
                   'delete', eventhooks._metadata_op_spec(t.on_delete))),
               'retry_conf', '{"num_retries": 0, "interval_sec": 10, "timeout_sec": 60}'::jsonb
                             || coalesce(t.retry_conf, '{}'))
           || jsonb_strip_nulls(jsonb_build_object(
                  'webhook', t.webhook,
                  'webhook_from_env', t.webhook_from_env,
                  'signing', t.signing))
           || CASE WHEN coalesce(jsonb_array_length(t.headers), 0) > 0
                   THEN jsonb_build_object('headers', t.headers) ELSE '{}' END
$$;
COMMENT ON FUNCTION eventhooks._metadata_event_trigger_json(eventhooks.event_triggers)
    IS 'internal (metadata API)';

-- Internal: our retry_conf of a cron trigger or scheduled event (SPEC §2 names) with Hasura's
-- names (STRetryConf) and defaults; keys beyond Hasura's (backoff, ...) kept as they are.
CREATE FUNCTION eventhooks._metadata_st_retry_conf(rc jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
               'num_retries', coalesce(rc -> 'num_retries', '0'),
               'retry_interval_seconds', coalesce(rc -> 'interval_sec', '10'),
               'timeout_seconds', coalesce(rc -> 'timeout_sec', '60'),
               'tolerance_seconds', coalesce(rc -> 'tolerance_sec', '21600'))
           || (coalesce(rc, '{}') - 'num_retries' - 'interval_sec' - 'timeout_sec' - 'tolerance_sec')
$$;
COMMENT ON FUNCTION eventhooks._metadata_st_retry_conf(jsonb) IS 'internal (metadata API)';

-- Internal: a cron trigger as export_metadata writes it (cron_triggers[]): retry_conf only when
-- not the default, headers only when any, payload and comment only when set (as Hasura).
CREATE FUNCTION eventhooks._metadata_cron_trigger_json(c eventhooks.cron_triggers)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('name', c.name, 'webhook', c.webhook, 'schedule', c.schedule,
                              'include_in_metadata', c.include_in_metadata)
           || CASE WHEN c.payload IS NOT NULL
                   THEN jsonb_build_object('payload', c.payload) ELSE '{}' END
           || CASE WHEN eventhooks._metadata_st_retry_conf(c.retry_conf)
                        <> eventhooks._metadata_st_retry_conf('{}')
                   THEN jsonb_build_object('retry_conf',
                                           eventhooks._metadata_st_retry_conf(c.retry_conf))
                   ELSE '{}' END
           || CASE WHEN coalesce(jsonb_array_length(c.headers), 0) > 0
                   THEN jsonb_build_object('headers', c.headers) ELSE '{}' END
           || jsonb_strip_nulls(jsonb_build_object('comment', c.comment, 'signing', c.signing))
$$;
COMMENT ON FUNCTION eventhooks._metadata_cron_trigger_json(eventhooks.cron_triggers)
    IS 'internal (metadata API)';

-- get_cron_triggers: {"cron_triggers": [...]}, every cron trigger the caller may see, also
-- those with include_in_metadata false; retry_conf and headers always (Hasura's answer).
CREATE FUNCTION eventhooks._metadata_get_cron_triggers(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM eventhooks._metadata_check_keys(coalesce(args, '{}'), '{}', '$.args',
                                            'get_cron_triggers');
    RETURN jsonb_build_object('cron_triggers', coalesce(
        (SELECT jsonb_agg(eventhooks._metadata_cron_trigger_json(c)
                          || jsonb_build_object(
                                 'retry_conf', eventhooks._metadata_st_retry_conf(c.retry_conf),
                                 'headers', c.headers)
                          ORDER BY c.name)
         FROM eventhooks.cron_triggers c), '[]'));
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_get_cron_triggers(jsonb) IS 'internal (metadata API)';

-- Internal: get_scheduled_events' and get_scheduled_event_invocations' "type" and, for cron,
-- "trigger_name" (which must name a cron trigger the caller may see).
CREATE FUNCTION eventhooks._metadata_scheduled_type(args jsonb, what text, need_name boolean)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind text := eventhooks._metadata_text(args, 'type', what);
    cron_name text;
BEGIN
    IF kind NOT IN ('one_off', 'cron') THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: type must be "one_off" or "cron", not "%s"', what, kind),
            '$.args.type', 'parse-failed');
    END IF;
    IF kind = 'cron' AND need_name THEN
        cron_name := eventhooks._metadata_text(args, 'trigger_name', what);
        IF NOT EXISTS (SELECT FROM eventhooks.cron_triggers c WHERE c.name = cron_name) THEN
            PERFORM eventhooks._metadata_fail(
                format('%s: cron trigger "%s" does not exist', what, cron_name),
                '$.args.trigger_name', 'not-exists');
        END IF;
    ELSIF kind = 'one_off' AND args ? 'trigger_name' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: trigger_name is only for type "cron"', what), '$.args.trigger_name',
            'invalid-params');
    END IF;
    RETURN kind;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_scheduled_type(jsonb, text, boolean)
    IS 'internal (metadata API)';

-- get_scheduled_events: {"events": [...], "count": n (with get_rows_count)}, cron events of one
-- cron trigger or one-off events, filtered by "status", by scheduled time then id.
CREATE FUNCTION eventhooks._metadata_get_scheduled_events(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    what CONSTANT text := 'get_scheduled_events';
    kind text;
    lim integer;
    off integer;
    statuses text[];
    bad text;
    with_count boolean;
    events jsonb;
    total bigint;
BEGIN
    PERFORM eventhooks._metadata_check_keys(args,
        '{type,trigger_name,limit,offset,status,get_rows_count}', '$.args', what);
    kind := eventhooks._metadata_scheduled_type(args, what, true);
    lim := eventhooks._metadata_int(args, 'limit', NULL, what);
    off := eventhooks._metadata_int(args, 'offset', 0, what);
    with_count := eventhooks._metadata_bool(args, 'get_rows_count', false,
                                            '$.args.get_rows_count', what);
    IF args -> 'status' IS NOT NULL AND args -> 'status' <> 'null' THEN
        IF jsonb_typeof(args -> 'status') <> 'array' THEN
            PERFORM eventhooks._metadata_fail(what || ': status must be an array',
                                              '$.args.status', 'parse-failed');
        END IF;
        SELECT array_agg(s #>> '{}') INTO statuses FROM jsonb_array_elements(args -> 'status') s;
        SELECT string_agg(s, ', ') INTO bad FROM unnest(statuses) s
        WHERE s IS NULL OR s NOT IN ('scheduled', 'locked', 'delivered', 'error', 'dead');
        IF bad IS NOT NULL OR EXISTS (SELECT FROM jsonb_array_elements(args -> 'status') s
                                      WHERE jsonb_typeof(s) <> 'string') THEN
            PERFORM eventhooks._metadata_fail(
                format('%s: unexpected status: %s (scheduled, locked, delivered, error, dead)',
                       what, coalesce(bad, args ->> 'status')), '$.args.status', 'parse-failed');
        END IF;
    END IF;
    IF kind = 'cron' THEN
        SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.scheduled_time, e.id), '[]') INTO events
        FROM (SELECT * FROM eventhooks.cron_events ce
              WHERE ce.trigger_name = args ->> 'trigger_name'
                AND (statuses IS NULL OR ce.status = ANY (statuses))
              ORDER BY ce.scheduled_time, ce.id LIMIT lim OFFSET off) e;
        IF with_count THEN
            SELECT count(*) INTO total FROM eventhooks.cron_events ce
            WHERE ce.trigger_name = args ->> 'trigger_name'
              AND (statuses IS NULL OR ce.status = ANY (statuses));
        END IF;
    ELSE
        SELECT coalesce(jsonb_agg(
                   jsonb_build_object(
                       'id', e.id, 'webhook_conf', e.webhook, 'scheduled_time', e.scheduled_time,
                       'retry_conf', eventhooks._metadata_st_retry_conf(e.retry_conf),
                       'payload', e.payload, 'header_conf', e.headers, 'status', e.status,
                       'tries', e.tries, 'created_at', e.created_at,
                       'next_retry_at', e.next_retry_at, 'comment', e.comment)
                   || jsonb_strip_nulls(jsonb_build_object('signing', e.signing))
                   ORDER BY e.scheduled_time, e.id), '[]') INTO events
        FROM (SELECT * FROM eventhooks.scheduled_events se
              WHERE statuses IS NULL OR se.status = ANY (statuses)
              ORDER BY se.scheduled_time, se.id LIMIT lim OFFSET off) e;
        IF with_count THEN
            SELECT count(*) INTO total FROM eventhooks.scheduled_events se
            WHERE statuses IS NULL OR se.status = ANY (statuses);
        END IF;
    END IF;
    RETURN jsonb_build_object('events', events)
           || CASE WHEN with_count THEN jsonb_build_object('count', total) ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_get_scheduled_events(jsonb) IS 'internal (metadata API)';

-- get_scheduled_event_invocations: {"invocations": [...], "count": n (with get_rows_count)},
-- of one event ("event_id" with its "type"), of one cron trigger, or of every one-off event;
-- newest first. Hasura's documented example also sends "status", which Hasura does not read
-- for invocations: accepted and, like there, without effect.
CREATE FUNCTION eventhooks._metadata_get_scheduled_event_invocations(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    what CONSTANT text := 'get_scheduled_event_invocations';
    kind text;
    event uuid;
    lim integer;
    off integer;
    with_count boolean;
    invocations jsonb;
    total bigint;
BEGIN
    PERFORM eventhooks._metadata_check_keys(args,
        '{type,trigger_name,event_id,limit,offset,get_rows_count,status}', '$.args', what);
    kind := eventhooks._metadata_scheduled_type(args, what, NOT args ? 'event_id');
    IF args ? 'event_id' THEN
        BEGIN
            event := eventhooks._metadata_text(args, 'event_id', what)::uuid;
        EXCEPTION WHEN invalid_text_representation THEN
            PERFORM eventhooks._metadata_fail(
                format('%s: event_id is not a uuid: %s', what, args -> 'event_id'),
                '$.args.event_id', 'parse-failed');
        END;
    END IF;
    lim := eventhooks._metadata_int(args, 'limit', NULL, what);
    off := eventhooks._metadata_int(args, 'offset', 0, what);
    with_count := eventhooks._metadata_bool(args, 'get_rows_count', false,
                                            '$.args.get_rows_count', what);
    WITH inv AS (
        SELECT i.id, i.event_id, i.status, i.request, i.response, i.created_at
        FROM eventhooks.cron_event_invocation_logs i
        WHERE kind = 'cron' AND CASE WHEN event IS NOT NULL THEN i.event_id = event
                                     ELSE i.trigger_name = args ->> 'trigger_name' END
        UNION ALL
        SELECT i.id, i.event_id, i.status, i.request, i.response, i.created_at
        FROM eventhooks.scheduled_event_invocation_logs i
        WHERE kind = 'one_off' AND (event IS NULL OR i.event_id = event))
    SELECT (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.created_at DESC, p.id DESC), '[]')
            FROM (SELECT * FROM inv ORDER BY created_at DESC, id DESC LIMIT lim OFFSET off) p),
           (SELECT count(*) FROM inv)
    INTO invocations, total;
    RETURN jsonb_build_object('invocations', invocations)
           || CASE WHEN with_count THEN jsonb_build_object('count', total) ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_get_scheduled_event_invocations(jsonb)
    IS 'internal (metadata API)';

-- Internal: an event_invocation_logs row as Hasura answers it (the HTTP status as http_status).
CREATE FUNCTION eventhooks._metadata_invocation_json(i eventhooks.event_invocation_logs)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', i.id, 'trigger_name', i.trigger_name, 'event_id', i.event_id,
                              'http_status', i.status, 'request', i.request,
                              'response', i.response, 'created_at', i.created_at)
$$;
COMMENT ON FUNCTION eventhooks._metadata_invocation_json(eventhooks.event_invocation_logs)
    IS 'internal (metadata API)';

-- Internal: "name" of pg_get_event_logs / pg_get_event_invocation_logs, an event trigger the
-- caller may see.
CREATE FUNCTION eventhooks._metadata_event_trigger_name(args jsonb, what text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    trigger text := eventhooks._metadata_text(args, 'name', what);
BEGIN
    PERFORM eventhooks._metadata_check_source(args -> 'source', '$.args.source', what);
    IF NOT EXISTS (SELECT FROM eventhooks.event_triggers t WHERE t.name = trigger) THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: event trigger "%s" does not exist', what, trigger), '$.args.name',
            'not-exists');
    END IF;
    RETURN trigger;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_event_trigger_name(jsonb, text) IS 'internal (metadata API)';

-- pg_get_event_logs: the events of one trigger, newest first, as an array of event_log rows
-- (Hasura's answer has exactly those columns); limit 100 and offset 0 by default; status
-- "pending" (not delivered, no error, not archived) or "processed" (delivered or error, not
-- archived), every event when absent.
CREATE FUNCTION eventhooks._metadata_pg_get_event_logs(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    what CONSTANT text := 'pg_get_event_logs';
    trigger text;
    lim integer;
    off integer;
    status text;
BEGIN
    PERFORM eventhooks._metadata_check_keys(args, '{name,source,limit,offset,status}', '$.args',
                                            what);
    trigger := eventhooks._metadata_event_trigger_name(args, what);
    lim := eventhooks._metadata_int(args, 'limit', 100, what);
    off := eventhooks._metadata_int(args, 'offset', 0, what);
    status := coalesce(args ->> 'status', 'all');
    IF status NOT IN ('pending', 'processed', 'all') OR jsonb_typeof(args -> 'status') <> 'string' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: event logs status can only be one of the following: processed or '
                   'pending, not %s', what, args -> 'status'), '$.args.status', 'parse-failed');
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(to_jsonb(e) ORDER BY e.created_at DESC, e.id DESC)
        FROM (SELECT * FROM eventhooks.event_log l
              WHERE l.trigger_name = trigger
                AND CASE status
                        WHEN 'pending' THEN NOT l.delivered AND NOT l.error AND NOT l.archived
                        WHEN 'processed' THEN (l.delivered OR l.error) AND NOT l.archived
                        ELSE true END
              ORDER BY l.created_at DESC, l.id DESC LIMIT lim OFFSET off) e), '[]');
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_pg_get_event_logs(jsonb) IS 'internal (metadata API)';

-- pg_get_event_invocation_logs: the delivery attempts of one trigger's events, newest first.
CREATE FUNCTION eventhooks._metadata_pg_get_event_invocation_logs(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    what CONSTANT text := 'pg_get_event_invocation_logs';
    trigger text;
    lim integer;
    off integer;
BEGIN
    PERFORM eventhooks._metadata_check_keys(args, '{name,source,limit,offset}', '$.args', what);
    trigger := eventhooks._metadata_event_trigger_name(args, what);
    lim := eventhooks._metadata_int(args, 'limit', 100, what);
    off := eventhooks._metadata_int(args, 'offset', 0, what);
    RETURN coalesce((
        SELECT jsonb_agg(eventhooks._metadata_invocation_json(i)
                         ORDER BY i.created_at DESC, i.id DESC)
        FROM (SELECT * FROM eventhooks.event_invocation_logs l
              WHERE l.trigger_name = trigger
              ORDER BY l.created_at DESC, l.id DESC LIMIT lim OFFSET off) i), '[]');
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_pg_get_event_invocation_logs(jsonb)
    IS 'internal (metadata API)';

-- pg_get_event_by_id: {"event": <event_log row> | null, "invocations": [...]} (newest first;
-- invocation_log_limit 100 and invocation_log_offset 0 by default). An event the caller may
-- not see is answered as one that does not exist: event null, no invocations (Hasura's
-- answer for an unknown id).
CREATE FUNCTION eventhooks._metadata_pg_get_event_by_id(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    what CONSTANT text := 'pg_get_event_by_id';
    event uuid;
    lim integer;
    off integer;
BEGIN
    PERFORM eventhooks._metadata_check_keys(args,
        '{source,event_id,invocation_log_limit,invocation_log_offset}', '$.args', what);
    PERFORM eventhooks._metadata_check_source(args -> 'source', '$.args.source', what);
    BEGIN
        event := eventhooks._metadata_text(args, 'event_id', what)::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: event_id is not a uuid: %s', what, args -> 'event_id'),
            '$.args.event_id', 'parse-failed');
    END;
    lim := eventhooks._metadata_int(args, 'invocation_log_limit', 100, what);
    off := eventhooks._metadata_int(args, 'invocation_log_offset', 0, what);
    RETURN jsonb_build_object(
        'event', (SELECT to_jsonb(l) FROM eventhooks.event_log l WHERE l.id = event),
        'invocations', coalesce((
            SELECT jsonb_agg(eventhooks._metadata_invocation_json(i)
                             ORDER BY i.created_at DESC, i.id DESC)
            FROM (SELECT * FROM eventhooks.event_invocation_logs l
                  WHERE l.event_id = event
                  ORDER BY l.created_at DESC, l.id DESC LIMIT lim OFFSET off) i), '[]'));
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_pg_get_event_by_id(jsonb) IS 'internal (metadata API)';

-- export_metadata: a Hasura v3 metadata document with what this extension holds: the source
-- "default" (this database) with its tables' event triggers, and the cron triggers with
-- include_in_metadata; what the caller may see only. Ordered as Hasura orders it: tables by
-- schema and name, triggers by name. Keys Hasura leaves out when empty are left out
-- (event_triggers of a table, cron_triggers). "configuration" is required by Hasura for a
-- source: it names Hasura's default database URL variable, so the document can go back to
-- Hasura; replace_metadata ignores it (the source is always this database).
CREATE FUNCTION eventhooks._metadata_export(args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tables jsonb;
    crons jsonb;
BEGIN
    PERFORM eventhooks._metadata_check_keys(coalesce(args, '{}'), '{}', '$.args',
                                            'export_metadata');
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'table', jsonb_build_object('schema', schema_name, 'name', table_name),
               'event_triggers', triggers) ORDER BY schema_name, table_name), '[]')
    INTO tables
    FROM (SELECT n.nspname::text AS schema_name, c.relname::text AS table_name,
                 jsonb_agg(eventhooks._metadata_event_trigger_json(t) ORDER BY t.name) AS triggers
          FROM eventhooks.event_triggers t
          JOIN pg_catalog.pg_class c ON c.oid = t.table_name
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          GROUP BY 1, 2) per_table;
    SELECT jsonb_agg(eventhooks._metadata_cron_trigger_json(c) ORDER BY c.name) INTO crons
    FROM eventhooks.cron_triggers c WHERE c.include_in_metadata;
    RETURN jsonb_build_object(
               'version', 3,
               'sources', jsonb_build_array(jsonb_build_object(
                   'name', 'default', 'kind', 'postgres', 'tables', tables,
                   'configuration', '{"connection_info": {"database_url": {"from_env": "HASURA_GRAPHQL_DATABASE_URL"}}}'::jsonb)))
           || CASE WHEN crons IS NOT NULL THEN jsonb_build_object('cron_triggers', crons)
                   ELSE '{}' END;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_export(jsonb) IS 'internal (metadata API)';

-- Internal: a JSON value that holds nothing ([] {} null): parts of a metadata document we do
-- not handle are accepted only so.
CREATE FUNCTION eventhooks._metadata_is_empty(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT v IS NULL OR v IN ('null', '[]', '{}')
$$;
COMMENT ON FUNCTION eventhooks._metadata_is_empty(jsonb) IS 'internal (metadata API)';

-- Internal: runs one request through eventhooks.metadata (its field and permission checks),
-- for a part of a replace_metadata document at `path`: an error's Hasura path is re-rooted
-- there ("$.args.webhook" of create_event_trigger becomes "$.args.sources[0]...webhook").
CREATE FUNCTION eventhooks._metadata_apply(request jsonb, path text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
    hint text;
    error jsonb;
BEGIN
    PERFORM eventhooks.metadata(request);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    detail := nullif(detail, '');
    hint := nullif(hint, '');
    BEGIN
        error := detail::jsonb;
    EXCEPTION WHEN OTHERS THEN
        error := NULL;
    END;
    IF jsonb_typeof(error) = 'object' AND error ->> 'path' LIKE '$.args%' THEN
        error := jsonb_set(error, '{path}',
                           to_jsonb(path || substr(error ->> 'path', length('$.args') + 1)));
        detail := error::text;
    END IF;
    -- RAISE takes no NULL option: one statement per combination.
    IF detail IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail, HINT = hint;
    END IF;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_apply(jsonb, text) IS 'internal (metadata API)';

-- replace_metadata: makes the event triggers and cron triggers the caller may manage those of
-- a v3 metadata document (args is the document, or Hasura's v2 form {"metadata": document,
-- "allow_inconsistent_metadata", "allow_warnings"}). Triggers not in the document are deleted,
-- the others created or replaced, each through eventhooks.metadata (create_event_trigger /
-- create_cron_trigger with "replace": true), all in this one call: all or nothing. A trigger
-- whose exported form is already the document's is left alone (its events keep going).
-- As in Hasura, cron triggers with include_in_metadata false are not the document's: they
-- stay, and the document may not name one (already-exists).
-- Parts of the document we do not handle (remote_schemas, actions, permissions, ...) are an
-- ERROR not-supported naming them, unless empty. Accepted and ignored: the source's
-- "configuration" (the source is this database) and the v2 form's allow_warnings (we give no
-- warnings); allow_inconsistent_metadata is accepted, but we never keep an inconsistent object:
-- any error fails the whole call.
-- Answer: {"message": "success"}, or for the v2 form {"is_consistent": true,
-- "inconsistent_objects": []} (Hasura's answers).
CREATE FUNCTION eventhooks._metadata_replace(args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    what CONSTANT text := 'replace_metadata';
    v2 boolean := jsonb_typeof(args) = 'object' AND args ? 'metadata';
    doc jsonb;
    base text;
    k text;
    src jsonb;
    src_path text;
    tbl jsonb;
    tbl_path text;
    trig jsonb;
    trig_path text;
    i integer;
    j integer;
    n integer;
    dup text;
    existing eventhooks.event_triggers;
    cron eventhooks.cron_triggers;
    rel regclass;
BEGIN
    IF v2 THEN
        PERFORM eventhooks._metadata_check_keys(args,
            '{metadata,allow_inconsistent_metadata,allow_warnings}', '$.args', what);
        PERFORM eventhooks._metadata_bool(args, 'allow_inconsistent_metadata', false,
                                          '$.args.allow_inconsistent_metadata', what);
        PERFORM eventhooks._metadata_bool(args, 'allow_warnings', true,
                                          '$.args.allow_warnings', what);
        doc := args -> 'metadata';
        base := '$.args.metadata';
    ELSE
        doc := args;
        base := '$.args';
    END IF;
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        PERFORM eventhooks._metadata_fail(what || ': expected a metadata object', base,
                                          'parse-failed');
    END IF;
    IF doc -> 'version' IS DISTINCT FROM '3' THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: only version 3 metadata documents are supported, not version %s', what,
                   coalesce(doc ->> 'version', '1 (no "version")')),
            base || '.version', 'not-supported');
    END IF;
    FOR k IN SELECT key FROM jsonb_each(doc) WHERE key NOT IN ('version', 'sources', 'cron_triggers')
                                               AND NOT eventhooks._metadata_is_empty(value)
                                         ORDER BY key LOOP
        PERFORM eventhooks._metadata_fail(
            format('%s: "%s" is not supported (only sources[].tables[].event_triggers and '
                   'cron_triggers are)', what, k), base || '.' || k, 'not-supported');
    END LOOP;

    -- The document's event triggers, with their table and where they are in it.
    -- (Temporary tables, dropped at commit; a second replace in the transaction reuses them.)
    IF to_regclass('pg_temp._metadata_replace_triggers') IS NULL THEN
        CREATE TEMP TABLE _metadata_replace_triggers
            (name text, tbl jsonb, rel regclass, conf jsonb, path text) ON COMMIT DROP;
        CREATE TEMP TABLE _metadata_replace_crons (name text, conf jsonb, path text)
            ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp._metadata_replace_triggers, pg_temp._metadata_replace_crons;

    IF jsonb_typeof(coalesce(doc -> 'sources', '[]')) <> 'array' THEN
        PERFORM eventhooks._metadata_fail(what || ': sources must be an array',
                                          base || '.sources', 'parse-failed');
    END IF;
    i := 0;
    FOR src IN SELECT value FROM jsonb_array_elements(coalesce(doc -> 'sources', '[]')) LOOP
        src_path := format('%s.sources[%s]', base, i);
        IF jsonb_typeof(src) <> 'object' THEN
            PERFORM eventhooks._metadata_fail(what || ': a source must be an object', src_path,
                                              'parse-failed');
        END IF;
        IF src -> 'name' IS DISTINCT FROM '"default"' THEN
            PERFORM eventhooks._metadata_fail(
                format('%s: source %s is not supported (the only source is "default", this '
                       'database)', what, coalesce(src -> 'name', '"(no name)"')),
                src_path || '.name', 'not-supported');
        END IF;
        IF src ? 'kind' AND src -> 'kind' IS DISTINCT FROM '"postgres"' THEN
            PERFORM eventhooks._metadata_fail(
                format('%s: source kind %s is not supported (only postgres)', what, src -> 'kind'),
                src_path || '.kind', 'not-supported');
        END IF;
        FOR k IN SELECT key FROM jsonb_each(src)
                 WHERE key NOT IN ('name', 'kind', 'tables', 'configuration')
                   AND NOT eventhooks._metadata_is_empty(value) ORDER BY key LOOP
            PERFORM eventhooks._metadata_fail(
                format('%s: "%s" of a source is not supported', what, k),
                src_path || '.' || k, 'not-supported');
        END LOOP;
        IF jsonb_typeof(coalesce(src -> 'tables', '[]')) <> 'array' THEN
            PERFORM eventhooks._metadata_fail(what || ': tables must be an array',
                                              src_path || '.tables', 'parse-failed');
        END IF;
        j := 0;
        FOR tbl IN SELECT value FROM jsonb_array_elements(coalesce(src -> 'tables', '[]')) LOOP
            tbl_path := format('%s.tables[%s]', src_path, j);
            IF jsonb_typeof(tbl) <> 'object' OR NOT tbl ? 'table' THEN
                PERFORM eventhooks._metadata_fail(what || ': a table entry needs "table"',
                                                  tbl_path, 'parse-failed');
            END IF;
            FOR k IN SELECT key FROM jsonb_each(tbl)
                     WHERE key NOT IN ('table', 'event_triggers')
                       AND NOT eventhooks._metadata_is_empty(value) ORDER BY key LOOP
                PERFORM eventhooks._metadata_fail(
                    format('%s: "%s" of a table is not supported (only event_triggers are)',
                           what, k), tbl_path || '.' || k, 'not-supported');
            END LOOP;
            -- Hasura's QualifiedTable: {"schema", "name"} or a name in schema public. The
            -- table is resolved here only to notice a trigger that moves to another table;
            -- create_event_trigger checks it.
            rel := CASE jsonb_typeof(tbl -> 'table')
                   WHEN 'string' THEN to_regclass(format('public.%I', tbl ->> 'table'))
                   WHEN 'object' THEN to_regclass(format('%I.%I',
                                          coalesce(tbl -> 'table' ->> 'schema', 'public'),
                                          tbl -> 'table' ->> 'name'))
                   END;
            IF jsonb_typeof(coalesce(tbl -> 'event_triggers', '[]')) <> 'array' THEN
                PERFORM eventhooks._metadata_fail(what || ': event_triggers must be an array',
                                                  tbl_path || '.event_triggers', 'parse-failed');
            END IF;
            n := 0;
            FOR trig IN SELECT value FROM jsonb_array_elements(coalesce(tbl -> 'event_triggers', '[]')) LOOP
                trig_path := format('%s.event_triggers[%s]', tbl_path, n);
                PERFORM eventhooks._metadata_check_keys(trig,
                    '{name,definition,retry_conf,webhook,webhook_from_env,headers,signing,'
                    'request_transform,response_transform,cleanup_config,trigger_on_replication}',
                    trig_path, what || ': event trigger');
                PERFORM eventhooks._metadata_check_keys(coalesce(trig -> 'definition', '{}'),
                    '{insert,update,delete,enable_manual}', trig_path || '.definition',
                    what || ': event trigger definition');
                INSERT INTO pg_temp._metadata_replace_triggers
                VALUES (trig ->> 'name', tbl -> 'table', rel, trig, trig_path);
                n := n + 1;
            END LOOP;
            j := j + 1;
        END LOOP;
        i := i + 1;
    END LOOP;
    SELECT string_agg(format('"%s"', name), ', ' ORDER BY name) INTO dup
    FROM (SELECT name FROM pg_temp._metadata_replace_triggers GROUP BY name HAVING count(*) > 1) d;
    IF dup IS NOT NULL THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: Event trigger with duplicate names not allowed: %s', what, dup),
            base || '.sources', 'not-supported');
    END IF;

    IF jsonb_typeof(coalesce(doc -> 'cron_triggers', '[]')) <> 'array' THEN
        PERFORM eventhooks._metadata_fail(what || ': cron_triggers must be an array',
                                          base || '.cron_triggers', 'parse-failed');
    END IF;
    INSERT INTO pg_temp._metadata_replace_crons
    SELECT c.value ->> 'name', c.value, format('%s.cron_triggers[%s]', base, c.ordinality - 1)
    FROM jsonb_array_elements(coalesce(doc -> 'cron_triggers', '[]')) WITH ORDINALITY c;
    SELECT string_agg(format('"%s"', name), ', ' ORDER BY name) INTO dup
    FROM (SELECT name FROM pg_temp._metadata_replace_crons GROUP BY name HAVING count(*) > 1) d;
    IF dup IS NOT NULL THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: cron triggers with duplicate names not allowed: %s', what, dup),
            base || '.cron_triggers', 'invalid-params');
    END IF;
    SELECT d.path, d.name INTO trig_path, dup
    FROM pg_temp._metadata_replace_crons d JOIN eventhooks.cron_triggers c ON c.name = d.name
    WHERE NOT c.include_in_metadata ORDER BY d.path LIMIT 1;
    IF FOUND THEN
        PERFORM eventhooks._metadata_fail(
            format('%s: cron trigger with name "%s" already exists as a cron trigger with '
                   '"include_in_metadata" as false', what, dup), trig_path, 'already-exists');
    END IF;

    -- Deletes first: a name may move from one table to another.
    FOR existing IN SELECT t.* FROM eventhooks.event_triggers t
                    WHERE NOT EXISTS (SELECT FROM pg_temp._metadata_replace_triggers d
                                      WHERE d.name = t.name AND d.rel = t.table_name)
                    ORDER BY t.name LOOP
        PERFORM eventhooks._metadata_apply(
            jsonb_build_object('type', 'delete_event_trigger',
                               'args', jsonb_build_object('name', existing.name)), base);
    END LOOP;
    FOR cron IN SELECT c.* FROM eventhooks.cron_triggers c
                WHERE c.include_in_metadata
                  AND NOT EXISTS (SELECT FROM pg_temp._metadata_replace_crons d WHERE d.name = c.name)
                ORDER BY c.name LOOP
        PERFORM eventhooks._metadata_apply(
            jsonb_build_object('type', 'delete_cron_trigger',
                               'args', jsonb_build_object('name', cron.name)), base);
    END LOOP;

    FOR trig, tbl, trig_path IN
        SELECT d.conf, d.tbl, d.path FROM pg_temp._metadata_replace_triggers d
        WHERE NOT EXISTS (SELECT FROM eventhooks.event_triggers t
                          WHERE t.name = d.name AND t.table_name = d.rel
                            AND eventhooks._metadata_event_trigger_json(t) = d.conf)
        ORDER BY d.path LOOP
        PERFORM eventhooks._metadata_apply(
            jsonb_build_object('type', 'create_event_trigger',
                               'args', (trig - 'definition')
                                       || coalesce(trig -> 'definition', '{}')
                                       || jsonb_build_object('source', 'default', 'table', tbl,
                                                             'replace', true)),
            trig_path);
    END LOOP;
    FOR trig, trig_path IN
        SELECT d.conf, d.path FROM pg_temp._metadata_replace_crons d
        WHERE NOT EXISTS (SELECT FROM eventhooks.cron_triggers c
                          WHERE c.name = d.name
                            AND eventhooks._metadata_cron_trigger_json(c) = d.conf)
        ORDER BY d.path LOOP
        PERFORM eventhooks._metadata_apply(
            jsonb_build_object('type', 'create_cron_trigger',
                               'args', trig || '{"replace": true}'),
            trig_path);
    END LOOP;
    RETURN CASE WHEN v2 THEN '{"is_consistent": true, "inconsistent_objects": []}'::jsonb
                ELSE '{"message": "success"}'::jsonb END;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_replace(jsonb) IS 'internal (metadata API)';

-- The entry point for eventhooks.metadata: the read calls, export and replace by kind.
CREATE FUNCTION eventhooks._metadata_query(kind text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    args := coalesce(args, '{}');
    IF kind IS NULL OR kind NOT IN ('get_cron_triggers', 'get_scheduled_events',
            'get_scheduled_event_invocations', 'pg_get_event_logs',
            'pg_get_event_invocation_logs', 'pg_get_event_by_id', 'export_metadata',
            'replace_metadata') THEN
        PERFORM eventhooks._metadata_fail(format('metadata: unknown type "%s"', kind), '$.type',
                                          'not-supported');
    END IF;
    RETURN CASE kind
        WHEN 'get_cron_triggers' THEN eventhooks._metadata_get_cron_triggers(args)
        WHEN 'get_scheduled_events' THEN eventhooks._metadata_get_scheduled_events(args)
        WHEN 'get_scheduled_event_invocations'
            THEN eventhooks._metadata_get_scheduled_event_invocations(args)
        WHEN 'pg_get_event_logs' THEN eventhooks._metadata_pg_get_event_logs(args)
        WHEN 'pg_get_event_invocation_logs'
            THEN eventhooks._metadata_pg_get_event_invocation_logs(args)
        WHEN 'pg_get_event_by_id' THEN eventhooks._metadata_pg_get_event_by_id(args)
        WHEN 'export_metadata' THEN eventhooks._metadata_export(args)
        WHEN 'replace_metadata' THEN eventhooks._metadata_replace(args) END;
END
$$;
COMMENT ON FUNCTION eventhooks._metadata_query(text, jsonb)
    IS 'internal (metadata API): the read calls, export_metadata and replace_metadata';

-- ===== DDL of watched tables: DROP TABLE, renamed and dropped columns ========================
