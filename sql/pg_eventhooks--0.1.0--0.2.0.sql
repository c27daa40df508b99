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
-- Every function here runs as its caller (no SECURITY DEFINER): the SQL API's permission rules
-- apply unchanged (a table owner manages only its own tables' triggers).

-- Hasura's include_in_metadata of cron triggers: whether export_metadata shows the trigger.
-- create_cron_trigger gets it as a trailing argument; the library reads it only when passed
-- (src/pg/api/cron_trigger_api.cpp), so it works with 0.1.0's signature and table too.
ALTER TABLE eventhooks.cron_triggers
    ADD COLUMN include_in_metadata boolean NOT NULL DEFAULT true;
DROP FUNCTION eventhooks.create_cron_trigger(text, text, text, jsonb, jsonb, jsonb, text, boolean,
                                             jsonb);
CREATE FUNCTION eventhooks.create_cron_trigger(
    name                text,
    webhook             text,
    schedule            text,
    payload             jsonb   DEFAULT NULL,
    headers             jsonb   DEFAULT '[]',
    retry_conf          jsonb   DEFAULT '{}',
    comment             text    DEFAULT NULL,
    replace             boolean DEFAULT false,
    signing             jsonb   DEFAULT NULL,
    include_in_metadata boolean DEFAULT true
) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_create_cron_trigger' LANGUAGE C;

-- Deletes one cron event still to be sent, by the rule of its trigger (delete_scheduled_event
-- of type "cron"). Tables are not writable by table owners, so this is C (it writes as the
-- extension's owner after checking the caller, as the other management functions do).
CREATE FUNCTION eventhooks._delete_cron_event(event_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_delete_cron_event' LANGUAGE C;
COMMENT ON FUNCTION eventhooks._delete_cron_event(uuid) IS
    'internal (pg_eventhooks): delete_scheduled_event of type cron, for eventhooks.metadata';

-- Internal: the Hasura error object in an error's DETAIL, or NULL if the DETAIL is not one.
CREATE FUNCTION eventhooks._metadata_error_of(detail text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF detail IS NULL OR detail !~ '^\s*\{' THEN
        RETURN NULL;
    END IF;
    parsed := detail::jsonb;
    IF jsonb_typeof(parsed -> 'path') = 'string' AND jsonb_typeof(parsed -> 'code') = 'string' THEN
        RETURN parsed;
    END IF;
    RETURN NULL;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$$;

-- Internal: a Hasura error object as DETAIL text, keys in Hasura's order.
CREATE FUNCTION eventhooks._metadata_error_text(path text, message text, code text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN format('{"path": %s, "error": %s, "code": %s}', to_json(path), to_json(message),
              to_json(code));

-- Internal: raises the error of a request (message "<path>: <what>"), with the SQLSTATE that
-- our SQL functions use for the same kind of error.
CREATE FUNCTION eventhooks._metadata_fail(code text, path text, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    message text := path || ': ' || what;
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = message,
        ERRCODE = CASE code
                      WHEN 'not-supported' THEN 'feature_not_supported'
                      WHEN 'not-exists' THEN 'undefined_object'
                      WHEN 'already-exists' THEN 'duplicate_object'
                      WHEN 'permission-denied' THEN 'insufficient_privilege'
                      ELSE 'invalid_parameter_value' END,
        DETAIL = eventhooks._metadata_error_text(path, message, code);
END
$$;

-- Internal: Hasura's error code for the SQLSTATE of an error of our SQL functions.
CREATE FUNCTION eventhooks._metadata_code_of(sqlstate text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN sqlstate IN ('42710', '42P07', '23505') THEN 'already-exists'
    WHEN sqlstate IN ('42704', '42P01', '42703') THEN 'not-exists'
    WHEN sqlstate IN ('22023', '22P02', '22007', '22008', '42809') THEN 'invalid-params'
    WHEN sqlstate = '42501' THEN 'permission-denied'
    WHEN sqlstate = '0A000' THEN 'not-supported'
    ELSE 'unexpected' END;

-- Internal: ERROR not-supported naming the keys of `obj` that are not in `allowed` (never
-- dropped silently: a Hasura user must know what would not happen).
CREATE FUNCTION eventhooks._metadata_only_keys(obj jsonb, allowed text[], path text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    extra text;
BEGIN
    SELECT string_agg(k, ', ' ORDER BY k) INTO extra
    FROM jsonb_object_keys(obj) k WHERE k <> ALL (allowed);
    IF extra IS NOT NULL THEN
        PERFORM eventhooks._metadata_fail('not-supported', path,
            'not supported by pg_eventhooks: ' || extra);
    END IF;
END
$$;

-- Internal: obj->key checked to be of JSON type `kind` ('string', 'boolean', 'object',
-- 'array'; 'any' = any); NULL when absent or JSON null (ERROR invalid-params if required).
CREATE FUNCTION eventhooks._metadata_arg(obj jsonb, key text, kind text, path text,
                                         required boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    got text := jsonb_typeof(obj -> key);
BEGIN
    IF got IS NULL OR (got = 'null' AND kind <> 'any') THEN
        IF required THEN
            PERFORM eventhooks._metadata_fail('invalid-params', path || '.' || key, 'is required');
        END IF;
        RETURN NULL;
    END IF;
    IF kind <> 'any' AND got <> kind THEN
        PERFORM eventhooks._metadata_fail('invalid-params', path || '.' || key,
            format('must be %s %s, got %s', CASE WHEN kind ~ '^[aeiou]' THEN 'an' ELSE 'a' END,
                   kind, got));
    END IF;
    RETURN obj -> key;
END
$$;

-- Internal: obj->key as a uuid (an event id), ERROR invalid-params if it is not one.
CREATE FUNCTION eventhooks._metadata_uuid(obj jsonb, key text, path text) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    value text := eventhooks._metadata_arg(obj, key, 'string', path, true) #>> '{}';
BEGIN
    RETURN value::uuid;
EXCEPTION WHEN invalid_text_representation THEN
    PERFORM eventhooks._metadata_fail('invalid-params', path || '.' || key,
        format('must be a UUID, got "%s"', value));
END
$$;

-- Internal: Hasura's "source" of an event-trigger request: "default" or this database's name
-- (pg_eventhooks serves the database it is installed in).
CREATE FUNCTION eventhooks._metadata_source(args jsonb, path text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    source text := eventhooks._metadata_arg(args, 'source', 'string', path) #>> '{}';
BEGIN
    IF source IS NOT NULL AND source NOT IN ('default', current_database()) THEN
        PERFORM eventhooks._metadata_fail('not-exists', path || '.source',
            format('source "%s" does not exist (this database is "default" or "%s")', source,
                   current_database()));
    END IF;
END
$$;

-- Internal: Hasura's RetryConfST (cron triggers, scheduled events) in our names.
CREATE FUNCTION eventhooks._metadata_retry_conf_st(args jsonb, path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    conf jsonb := eventhooks._metadata_arg(args, 'retry_conf', 'object', path);
BEGIN
    IF conf IS NULL THEN
        RETURN '{}';
    END IF;
    PERFORM eventhooks._metadata_only_keys(conf, ARRAY['num_retries', 'retry_interval_seconds',
        'timeout_seconds', 'tolerance_seconds'], path || '.retry_conf');
    RETURN coalesce((SELECT jsonb_object_agg(CASE key
                                                 WHEN 'retry_interval_seconds' THEN 'interval_sec'
                                                 WHEN 'timeout_seconds' THEN 'timeout_sec'
                                                 WHEN 'tolerance_seconds' THEN 'tolerance_sec'
                                                 ELSE key END, value)
                     FROM jsonb_each(conf) WHERE jsonb_typeof(value) <> 'null'), '{}');
END
$$;

-- Internal: the table of a create_event_trigger request ({"schema", "name"} or a name in
-- schema public).
CREATE FUNCTION eventhooks._metadata_table(args jsonb, path text) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tab jsonb := eventhooks._metadata_arg(args, 'table', 'any', path, true);
    schema_name text := 'public';
    table_name text;
    qualified text;
    rel regclass;
BEGIN
    IF jsonb_typeof(tab) = 'string' THEN
        table_name := tab #>> '{}';
    ELSIF jsonb_typeof(tab) = 'object' THEN
        PERFORM eventhooks._metadata_only_keys(tab, ARRAY['schema', 'name'], path || '.table');
        schema_name := coalesce(eventhooks._metadata_arg(tab, 'schema', 'string',
                                                         path || '.table') #>> '{}', 'public');
        table_name := eventhooks._metadata_arg(tab, 'name', 'string', path || '.table',
                                               true) #>> '{}';
    ELSE
        PERFORM eventhooks._metadata_fail('invalid-params', path || '.table',
            format('must be an object {"schema", "name"} or a string, got %s',
                   jsonb_typeof(tab)));
    END IF;
    qualified := format('%I.%I', schema_name, table_name);
    rel := to_regclass(qualified);
    IF rel IS NULL THEN
        PERFORM eventhooks._metadata_fail('not-exists', path || '.table',
            format('table %s does not exist', qualified));
    END IF;
    RETURN rel;
END
$$;

-- Internal: an OperationSpec ({"columns", "payload"}), checked for its keys; the SQL API
-- checks the columns.
CREATE FUNCTION eventhooks._metadata_operation(args jsonb, key text, path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    spec jsonb := eventhooks._metadata_arg(args, key, 'object', path);
BEGIN
    IF spec IS NOT NULL THEN
        PERFORM eventhooks._metadata_only_keys(spec, ARRAY['columns', 'payload'],
                                               path || '.' || key);
    END IF;
    RETURN spec;
END
$$;

-- Internal: one request at `path` ('$' for the whole query, '$.args[i]' in a bulk): its answer.
-- An error that already carries a Hasura error object passes unchanged (bulk's own requests
-- name their full path); an error of the SQL API gets one, its SQLSTATE, message and hint kept.
CREATE FUNCTION eventhooks._metadata_dispatch(query jsonb, path text) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind text;
    args jsonb;
    a text := path || '.args';
    from_query boolean := false;
    answer jsonb;
    event_id uuid;
    i integer;
    e_state text;
    e_message text;
    e_detail text;
    e_hint text;
    e_error jsonb;
    e_key text;
    e_path text;
BEGIN
    IF jsonb_typeof(query) IS DISTINCT FROM 'object' THEN
        PERFORM eventhooks._metadata_fail('parse-failed', path,
            format('a request must be a JSON object {"type", "args"}, got %s',
                   coalesce(jsonb_typeof(query), 'NULL')));
    END IF;
    IF jsonb_typeof(query -> 'type') IS DISTINCT FROM 'string' THEN
        PERFORM eventhooks._metadata_fail('parse-failed', path || '.type',
            CASE WHEN query ? 'type' THEN 'must be a string, got ' || jsonb_typeof(query -> 'type')
                 ELSE 'is required' END);
    END IF;
    PERFORM eventhooks._metadata_only_keys(query, ARRAY['type', 'args', 'version',
                                                        'resource_version'], path);
    kind := query ->> 'type';
    args := query -> 'args';
    IF kind IN ('get_cron_triggers', 'get_scheduled_events', 'get_scheduled_event_invocations',
                'pg_get_event_logs', 'pg_get_event_invocation_logs', 'pg_get_event_by_id',
                'export_metadata', 'replace_metadata') THEN
        NULL;
    ELSIF kind = 'bulk' THEN
        IF jsonb_typeof(args) IS DISTINCT FROM 'array' THEN
            PERFORM eventhooks._metadata_fail('invalid-params', a,
                format('must be an array of requests, got %s', coalesce(jsonb_typeof(args),
                                                                        'nothing')));
        END IF;
    ELSIF kind IN ('create_event_trigger', 'pg_create_event_trigger', 'delete_event_trigger',
                   'pg_delete_event_trigger', 'redeliver_event', 'pg_redeliver_event',
                   'invoke_event_trigger', 'pg_invoke_event_trigger', 'create_cron_trigger',
                   'delete_cron_trigger', 'create_scheduled_event', 'delete_scheduled_event') THEN
        args := coalesce(args, '{}');
        IF jsonb_typeof(args) <> 'object' THEN
            PERFORM eventhooks._metadata_fail('invalid-params', a,
                'must be an object, got ' || jsonb_typeof(args));
        END IF;
    ELSE
        PERFORM eventhooks._metadata_fail('not-supported', path || '.type',
            format('request type "%s" is not supported by pg_eventhooks', kind));
    END IF;

    BEGIN
        CASE
        WHEN kind = 'bulk' THEN
            answer := '[]';
            FOR i IN 0 .. jsonb_array_length(args) - 1 LOOP
                answer := answer || jsonb_build_array(
                    eventhooks._metadata_dispatch(args -> i, format('%s[%s]', a, i)));
            END LOOP;
        WHEN kind IN ('create_event_trigger', 'pg_create_event_trigger') THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['name', 'table', 'source',
                'insert', 'update', 'delete', 'enable_manual', 'retry_conf', 'headers',
                'webhook', 'webhook_from_env', 'replace', 'signing'], a);
            PERFORM eventhooks._metadata_source(args, a);
            IF eventhooks._metadata_arg(args, 'retry_conf', 'object', a) IS NOT NULL THEN
                PERFORM eventhooks._metadata_only_keys(args -> 'retry_conf',
                    ARRAY['num_retries', 'interval_sec', 'timeout_sec'], a || '.retry_conf');
            END IF;
            PERFORM eventhooks.create_event_trigger(
                name => eventhooks._metadata_arg(args, 'name', 'string', a, true) #>> '{}',
                table_name => eventhooks._metadata_table(args, a),
                webhook => eventhooks._metadata_arg(args, 'webhook', 'string', a) #>> '{}',
                on_insert => eventhooks._metadata_operation(args, 'insert', a),
                on_update => eventhooks._metadata_operation(args, 'update', a),
                on_delete => eventhooks._metadata_operation(args, 'delete', a),
                enable_manual => coalesce(
                    eventhooks._metadata_arg(args, 'enable_manual', 'boolean', a)::boolean, false),
                headers => coalesce(eventhooks._metadata_arg(args, 'headers', 'array', a), '[]'),
                retry_conf => coalesce(args -> 'retry_conf', '{}'),
                webhook_from_env =>
                    eventhooks._metadata_arg(args, 'webhook_from_env', 'string', a) #>> '{}',
                replace => coalesce(
                    eventhooks._metadata_arg(args, 'replace', 'boolean', a)::boolean, false),
                signing => eventhooks._metadata_arg(args, 'signing', 'object', a));
            answer := '{"message": "success"}';
        WHEN kind IN ('delete_event_trigger', 'pg_delete_event_trigger') THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['name', 'source'], a);
            PERFORM eventhooks._metadata_source(args, a);
            PERFORM eventhooks.delete_event_trigger(
                eventhooks._metadata_arg(args, 'name', 'string', a, true) #>> '{}');
            answer := '{"message": "success"}';
        WHEN kind IN ('redeliver_event', 'pg_redeliver_event') THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['event_id', 'source'], a);
            PERFORM eventhooks._metadata_source(args, a);
            PERFORM eventhooks.redeliver_event(eventhooks._metadata_uuid(args, 'event_id', a));
            answer := '{"message": "success"}';
        WHEN kind IN ('invoke_event_trigger', 'pg_invoke_event_trigger') THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['name', 'payload', 'source'], a);
            PERFORM eventhooks._metadata_source(args, a);
            event_id := eventhooks.invoke_event_trigger(
                eventhooks._metadata_arg(args, 'name', 'string', a, true) #>> '{}',
                eventhooks._metadata_arg(args, 'payload', 'any', a, true));
            answer := jsonb_build_object('event_id', event_id);
        WHEN kind = 'create_cron_trigger' THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['name', 'webhook', 'schedule',
                'payload', 'headers', 'retry_conf', 'comment', 'replace', 'include_in_metadata',
                'signing'], a);
            PERFORM eventhooks.create_cron_trigger(
                name => eventhooks._metadata_arg(args, 'name', 'string', a, true) #>> '{}',
                webhook => eventhooks._metadata_arg(args, 'webhook', 'string', a, true) #>> '{}',
                schedule => eventhooks._metadata_arg(args, 'schedule', 'string', a, true) #>> '{}',
                payload => eventhooks._metadata_arg(args, 'payload', 'any', a),
                headers => coalesce(eventhooks._metadata_arg(args, 'headers', 'array', a), '[]'),
                retry_conf => eventhooks._metadata_retry_conf_st(args, a),
                comment => eventhooks._metadata_arg(args, 'comment', 'string', a) #>> '{}',
                replace => coalesce(
                    eventhooks._metadata_arg(args, 'replace', 'boolean', a)::boolean, false),
                signing => eventhooks._metadata_arg(args, 'signing', 'object', a),
                include_in_metadata => coalesce(eventhooks._metadata_arg(
                    args, 'include_in_metadata', 'boolean', a)::boolean, true));
            answer := '{"message": "success"}';
        WHEN kind = 'delete_cron_trigger' THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['name'], a);
            PERFORM eventhooks.delete_cron_trigger(
                eventhooks._metadata_arg(args, 'name', 'string', a, true) #>> '{}');
            answer := '{"message": "success"}';
        WHEN kind = 'create_scheduled_event' THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['webhook', 'schedule_at',
                'payload', 'headers', 'retry_conf', 'comment', 'signing'], a);
            DECLARE
                at_text text :=
                    eventhooks._metadata_arg(args, 'schedule_at', 'string', a, true) #>> '{}';
                at timestamptz;
            BEGIN
                BEGIN
                    at := at_text::timestamptz;
                EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow
                              OR invalid_text_representation THEN
                    PERFORM eventhooks._metadata_fail('invalid-params', a || '.schedule_at',
                        format('must be an ISO 8601 time, got "%s"', at_text));
                END;
                event_id := eventhooks.create_scheduled_event(
                    webhook => eventhooks._metadata_arg(args, 'webhook', 'string', a, true)
                                   #>> '{}',
                    schedule_at => at,
                    payload => eventhooks._metadata_arg(args, 'payload', 'any', a),
                    headers => coalesce(eventhooks._metadata_arg(args, 'headers', 'array', a),
                                        '[]'),
                    retry_conf => eventhooks._metadata_retry_conf_st(args, a),
                    comment => eventhooks._metadata_arg(args, 'comment', 'string', a) #>> '{}',
                    signing => eventhooks._metadata_arg(args, 'signing', 'object', a));
            END;
            answer := jsonb_build_object('message', 'success', 'event_id', event_id);
        WHEN kind = 'delete_scheduled_event' THEN
            PERFORM eventhooks._metadata_only_keys(args, ARRAY['type', 'event_id'], a);
            CASE eventhooks._metadata_arg(args, 'type', 'string', a, true) #>> '{}'
            WHEN 'one_off' THEN
                PERFORM eventhooks.delete_scheduled_event(
                    eventhooks._metadata_uuid(args, 'event_id', a));
            WHEN 'cron' THEN
                PERFORM eventhooks._delete_cron_event(
                    eventhooks._metadata_uuid(args, 'event_id', a));
            ELSE
                PERFORM eventhooks._metadata_fail('invalid-params', a || '.type',
                    format('must be "one_off" or "cron", got "%s"', args ->> 'type'));
            END CASE;
            answer := '{"message": "success"}';
        ELSE
            from_query := true;
            answer := eventhooks._metadata_query(kind, coalesce(args, '{}'));
        END CASE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                                e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
        e_error := eventhooks._metadata_error_of(e_detail);
        IF e_error IS NOT NULL AND (NOT from_query OR path = '$') THEN
            RAISE;  -- ours, with its full path already
        END IF;
        IF e_error IS NOT NULL THEN
            -- from _metadata_query (replace_metadata's creates): its path is within this request
            e_detail := eventhooks._metadata_error_text(path || substr(e_error ->> 'path', 2),
                                                        e_error ->> 'error', e_error ->> 'code');
        ELSE
            -- An error of the SQL API names the argument first ("name: ...", "table_name: ...").
            e_key := substring(e_message FROM '^([a-z_]+)[:.\[]');
            e_key := CASE e_key WHEN 'table_name' THEN 'table' WHEN 'on_insert' THEN 'insert'
                                WHEN 'on_update' THEN 'update' WHEN 'on_delete' THEN 'delete'
                                ELSE e_key END;
            e_path := CASE WHEN jsonb_typeof(args) = 'object' AND args ? e_key
                           THEN a || '.' || e_key ELSE a END;
            e_detail := eventhooks._metadata_error_text(e_path, e_message,
                                                        eventhooks._metadata_code_of(e_state));
        END IF;
        IF coalesce(e_hint, '') = '' THEN
            RAISE EXCEPTION USING MESSAGE = e_message, ERRCODE = e_state, DETAIL = e_detail;
        END IF;
        RAISE EXCEPTION USING MESSAGE = e_message, ERRCODE = e_state, DETAIL = e_detail,
                              HINT = e_hint;
    END;
    RETURN answer;
END
$$;

CREATE FUNCTION eventhooks.metadata(query jsonb) RETURNS jsonb
LANGUAGE sql
RETURN eventhooks._metadata_dispatch(query, '$');
COMMENT ON FUNCTION eventhooks.metadata(jsonb) IS
    'Hasura metadata/query API request body in, Hasura''s answer out (SPEC §2)';

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['_metadata_error_of(text)', '_metadata_error_text(text,text,text)',
        '_metadata_fail(text,text,text)', '_metadata_code_of(text)',
        '_metadata_only_keys(jsonb,text[],text)', '_metadata_arg(jsonb,text,text,text,boolean)',
        '_metadata_uuid(jsonb,text,text)', '_metadata_source(jsonb,text)',
        '_metadata_retry_conf_st(jsonb,text)', '_metadata_table(jsonb,text)',
        '_metadata_operation(jsonb,text,text)', '_metadata_dispatch(jsonb,text)'] LOOP
        EXECUTE format('COMMENT ON FUNCTION eventhooks.%s IS %L', f,
                       'internal (pg_eventhooks): part of eventhooks.metadata');
    END LOOP;
END
$$;

-- ===== Hasura metadata API: read calls, export_metadata, replace_metadata ====================
-- eventhooks._metadata_query(kind, args) answers get_cron_triggers, get_scheduled_events,
-- get_scheduled_event_invocations, pg_get_event_logs, pg_get_event_invocation_logs,
-- pg_get_event_by_id, export_metadata and replace_metadata (called by eventhooks.metadata).

-- ===== DDL of watched tables: DROP TABLE, renamed and dropped columns ========================
-- A dropped table takes its event triggers with it (SPEC §3: a deleted trigger's pending events
-- are archived, not sent). Postgres drops the row triggers with the table; this removes their
-- configuration rows and archives their pending events, as eventhooks.delete_event_trigger does
-- (src/pg/api/event_trigger_api.cpp). The DELETE fires event_triggers_changed, whose relcache
-- invalidation makes every backend drop its trigger cache and the delivery worker give back the
-- events it holds waiting for a slot: claimed again, they are archived ones, never sent. Covers
-- every way a table goes: DROP TABLE, DROP SCHEMA ... CASCADE, DROP OWNED, a dropped partition
-- (a trigger made on the partition itself), since each reports the table's oid here.
-- SECURITY DEFINER: the dropping role may not write the extension's tables. Only when a watched
-- table is among the dropped objects does it write: other drops (temporary tables, indexes,
-- ...) cost one small query and invalidate no cache. No exception block: the statements only
-- touch the extension's own tables, as their owner. Internal (fired by the event trigger below).
CREATE FUNCTION eventhooks._drop_watched_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gone text[];
BEGIN
    SELECT array_agg(t.name) INTO gone
    FROM eventhooks.event_triggers t
    WHERE t.table_name::oid IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
                                WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0);
    IF gone IS NULL THEN
        RETURN;
    END IF;
    UPDATE eventhooks.event_log SET archived = true, next_retry_at = NULL
    WHERE trigger_name = ANY (gone) AND NOT delivered AND NOT error AND NOT archived;
    DELETE FROM eventhooks.event_triggers WHERE name = ANY (gone);
END
$$;
COMMENT ON FUNCTION eventhooks._drop_watched_tables() IS
    'internal: removes the event triggers of dropped tables and archives their pending events';
REVOKE EXECUTE ON FUNCTION eventhooks._drop_watched_tables() FROM PUBLIC;
-- A member of the extension: DROP EXTENSION removes it. ENABLE ALWAYS: a table dropped under
-- session_replication_role = replica is gone just as well.
CREATE EVENT TRIGGER eventhooks_drop_watched_tables ON sql_drop
    EXECUTE FUNCTION eventhooks._drop_watched_tables();
ALTER EVENT TRIGGER eventhooks_drop_watched_tables ENABLE ALWAYS;

-- Tables dropped while 0.1.0 was installed left their triggers behind: the same clean-up.
WITH gone AS (
    DELETE FROM eventhooks.event_triggers t
    WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.table_name::oid)
    RETURNING t.name)
UPDATE eventhooks.event_log e SET archived = true, next_retry_at = NULL
FROM gone
WHERE e.trigger_name = gone.name AND NOT e.delivered AND NOT e.error AND NOT e.archived;

-- What is broken in the triggers' configuration: one row per column named in an operation's
-- `columns` or `payload` list that the table no longer has (renamed or dropped since the trigger
-- was made). Capture skips such a column (src/pg/capture/trigger_cache.cpp, resolve_columns):
-- the trigger keeps working for what still exists and no write fails, and this says what to
-- fix. A trigger whose table is gone (possible only if the event trigger above was disabled)
-- is one row with NULL operation, list and column.
-- Not named eventhooks.event_triggers, as the issue put it: that is the configuration table
-- since 0.1.0, and names are a contract. security_invoker: the view reads event_triggers with
-- the reader's rights, so its row-level security applies (a non-superuser sees the problems of
-- the triggers they may manage only); a plain view would read as its owner, a superuser.
CREATE VIEW eventhooks.event_trigger_problems WITH (security_invoker = true) AS
SELECT t.name AS trigger_name, n.nspname::text AS schema_name, c.relname::text AS table_name,
       s.operation, l.list, l.column_name,
       format('column "%s" does not exist (renamed or dropped)', l.column_name) AS problem
FROM eventhooks.event_triggers t
JOIN pg_class c ON c.oid = t.table_name::oid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (VALUES ('insert', t.on_insert), ('update', t.on_update),
                           ('delete', t.on_delete)) AS s(operation, spec)
CROSS JOIN LATERAL (VALUES ('columns'), ('payload')) AS k(list)
CROSS JOIN LATERAL (
    SELECT k.list, e.column_name
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(s.spec -> k.list) = 'array'
                                        THEN s.spec -> k.list ELSE '[]' END) AS e(column_name)) l
WHERE NOT EXISTS (SELECT FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = l.column_name
                    AND a.attnum > 0 AND NOT a.attisdropped)
UNION ALL
SELECT t.name, NULL, NULL, NULL, NULL, NULL,
       format('table with OID %s does not exist (dropped)', t.table_name::oid)
FROM eventhooks.event_triggers t
WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.table_name::oid);
GRANT SELECT ON eventhooks.event_trigger_problems TO PUBLIC;
