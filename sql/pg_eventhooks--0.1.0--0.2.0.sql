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
-- (src/pg/api/cron_trigger_api.cpp), so it works with 0.1.0's signature and table too. NULL
-- (the default) keeps a replaced trigger's value (a new trigger: true), so a plain SQL replace
-- does not bring a hidden trigger into export_metadata (and under replace_metadata).
ALTER TABLE eventhooks.cron_triggers
    ADD COLUMN include_in_metadata boolean NOT NULL DEFAULT true;
-- A new argument list means a new function: carry the old one's grants over (a DBA may have
-- revoked EXECUTE from PUBLIC: anyone who can run it makes the server send requests).
SELECT pg_catalog.set_config('pg_eventhooks_upgrade.create_cron_trigger_acl',
    coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::text, true)
FROM pg_catalog.pg_proc p
WHERE p.oid = 'eventhooks.create_cron_trigger(text, text, text, jsonb, jsonb, jsonb, text, boolean, jsonb)'::pg_catalog.regprocedure;
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
    include_in_metadata boolean DEFAULT NULL
) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_create_cron_trigger' LANGUAGE C;
DO $$
DECLARE
    g record;
BEGIN
    REVOKE ALL ON FUNCTION eventhooks.create_cron_trigger FROM PUBLIC;
    FOR g IN SELECT * FROM pg_catalog.aclexplode(pg_catalog.current_setting(
                 'pg_eventhooks_upgrade.create_cron_trigger_acl')::pg_catalog.aclitem[]) LOOP
        EXECUTE format('GRANT %s ON FUNCTION eventhooks.create_cron_trigger TO %s%s',
                       g.privilege_type,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

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
BEGIN
    PERFORM eventhooks._metadata_raise(path || ': ' || what, path, code);
END
$$;

-- Internal: raises `message` with Hasura's error object (code, path) in its DETAIL and the
-- SQLSTATE that our SQL functions use for the same kind of error.
CREATE FUNCTION eventhooks._metadata_raise(message text, path text, code text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
        'timeout_seconds', 'tolerance_seconds', 'backoff', 'max_interval_sec'],
        path || '.retry_conf');
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
    -- Hasura's request version 2 adds resource_version (optimistic locking of the metadata),
    -- which has no counterpart here: a resource_version is refused rather than not checked,
    -- and export_metadata's version-2 answer (which carries one) is not given. Otherwise
    -- version 2 changes nothing we answer (replace_metadata gives its {"is_consistent", ...}).
    IF query -> 'version' IS NOT NULL AND query -> 'version' NOT IN ('1', '2') THEN
        PERFORM eventhooks._metadata_fail('not-supported', path || '.version',
            format('request version %s is not supported (1 or 2)', query -> 'version'));
    END IF;
    IF query ? 'resource_version' OR (kind = 'export_metadata' AND query -> 'version' = '2') THEN
        PERFORM eventhooks._metadata_fail('not-supported',
            path || CASE WHEN query ? 'resource_version' THEN '.resource_version'
                         ELSE '.version' END,
            'resource_version (optimistic locking of Hasura''s metadata) has no counterpart in '
            'pg_eventhooks: send no resource_version, and export_metadata with version 1');
    END IF;
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
                    ARRAY['num_retries', 'interval_sec', 'timeout_sec', 'backoff',
                          'max_interval_sec'], a || '.retry_conf');
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
        '_metadata_fail(text,text,text)', '_metadata_raise(text,text,text)',
        '_metadata_code_of(text)',
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
-- Everything here runs with the caller's privileges (no SECURITY DEFINER): the tables'
-- row-level security shows a non-superuser only the triggers, events and logs it may manage,
-- as the SQL API does, and replace_metadata writes only through eventhooks.metadata, so the
-- field checks and the permission checks stay in one place.

-- Internal: an ERROR not-supported naming the keys of obj outside `allowed`.
CREATE FUNCTION eventhooks._metadata_check_keys(obj jsonb, allowed text[], path text, what text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    unknown text;
BEGIN
    IF jsonb_typeof(obj) IS DISTINCT FROM 'object' THEN
        PERFORM eventhooks._metadata_raise(what || ': expected an object', path, 'parse-failed');
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown
    FROM jsonb_object_keys(obj) k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(format('%s: %s must be a boolean', what, key),
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
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
            format('%s: type must be "one_off" or "cron", not "%s"', what, kind),
            '$.args.type', 'parse-failed');
    END IF;
    IF kind = 'cron' AND need_name THEN
        cron_name := eventhooks._metadata_text(args, 'trigger_name', what);
        IF NOT EXISTS (SELECT FROM eventhooks.cron_triggers c WHERE c.name = cron_name) THEN
            PERFORM eventhooks._metadata_raise(
                format('%s: cron trigger "%s" does not exist', what, cron_name),
                '$.args.trigger_name', 'not-exists');
        END IF;
    ELSIF kind = 'one_off' AND args ? 'trigger_name' THEN
        PERFORM eventhooks._metadata_raise(
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
            PERFORM eventhooks._metadata_raise(what || ': status must be an array',
                                              '$.args.status', 'parse-failed');
        END IF;
        SELECT array_agg(s #>> '{}') INTO statuses FROM jsonb_array_elements(args -> 'status') s;
        SELECT string_agg(s, ', ') INTO bad FROM unnest(statuses) s
        WHERE s IS NULL OR s NOT IN ('scheduled', 'locked', 'delivered', 'error', 'dead');
        IF bad IS NOT NULL OR EXISTS (SELECT FROM jsonb_array_elements(args -> 'status') s
                                      WHERE jsonb_typeof(s) <> 'string') THEN
            PERFORM eventhooks._metadata_raise(
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
            PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(
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
    error := eventhooks._metadata_error_of(detail);
    IF error ->> 'path' LIKE '$.args%' THEN
        detail := eventhooks._metadata_error_text(
            path || substr(error ->> 'path', length('$.args') + 1), error ->> 'error',
            error ->> 'code');
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
        PERFORM eventhooks._metadata_raise(what || ': expected a metadata object', base,
                                          'parse-failed');
    END IF;
    IF doc -> 'version' IS DISTINCT FROM '3' THEN
        PERFORM eventhooks._metadata_raise(
            format('%s: only version 3 metadata documents are supported, not version %s', what,
                   coalesce(doc ->> 'version', '1 (no "version")')),
            base || '.version', 'not-supported');
    END IF;
    FOR k IN SELECT key FROM jsonb_each(doc) WHERE key NOT IN ('version', 'sources', 'cron_triggers')
                                               AND NOT eventhooks._metadata_is_empty(value)
                                         ORDER BY key LOOP
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(what || ': sources must be an array',
                                          base || '.sources', 'parse-failed');
    END IF;
    i := 0;
    FOR src IN SELECT value FROM jsonb_array_elements(coalesce(doc -> 'sources', '[]')) LOOP
        src_path := format('%s.sources[%s]', base, i);
        IF jsonb_typeof(src) <> 'object' THEN
            PERFORM eventhooks._metadata_raise(what || ': a source must be an object', src_path,
                                              'parse-failed');
        END IF;
        IF src -> 'name' IS DISTINCT FROM '"default"' THEN
            PERFORM eventhooks._metadata_raise(
                format('%s: source %s is not supported (the only source is "default", this '
                       'database)', what, coalesce(src -> 'name', '"(no name)"')),
                src_path || '.name', 'not-supported');
        END IF;
        IF src ? 'kind' AND src -> 'kind' IS DISTINCT FROM '"postgres"' THEN
            PERFORM eventhooks._metadata_raise(
                format('%s: source kind %s is not supported (only postgres)', what, src -> 'kind'),
                src_path || '.kind', 'not-supported');
        END IF;
        FOR k IN SELECT key FROM jsonb_each(src)
                 WHERE key NOT IN ('name', 'kind', 'tables', 'configuration')
                   AND NOT eventhooks._metadata_is_empty(value) ORDER BY key LOOP
            PERFORM eventhooks._metadata_raise(
                format('%s: "%s" of a source is not supported', what, k),
                src_path || '.' || k, 'not-supported');
        END LOOP;
        IF jsonb_typeof(coalesce(src -> 'tables', '[]')) <> 'array' THEN
            PERFORM eventhooks._metadata_raise(what || ': tables must be an array',
                                              src_path || '.tables', 'parse-failed');
        END IF;
        j := 0;
        FOR tbl IN SELECT value FROM jsonb_array_elements(coalesce(src -> 'tables', '[]')) LOOP
            tbl_path := format('%s.tables[%s]', src_path, j);
            IF jsonb_typeof(tbl) <> 'object' OR NOT tbl ? 'table' THEN
                PERFORM eventhooks._metadata_raise(what || ': a table entry needs "table"',
                                                  tbl_path, 'parse-failed');
            END IF;
            FOR k IN SELECT key FROM jsonb_each(tbl)
                     WHERE key NOT IN ('table', 'event_triggers')
                       AND NOT eventhooks._metadata_is_empty(value) ORDER BY key LOOP
                PERFORM eventhooks._metadata_raise(
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
                PERFORM eventhooks._metadata_raise(what || ': event_triggers must be an array',
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
        PERFORM eventhooks._metadata_raise(
            format('%s: Event trigger with duplicate names not allowed: %s', what, dup),
            base || '.sources', 'not-supported');
    END IF;

    IF jsonb_typeof(coalesce(doc -> 'cron_triggers', '[]')) <> 'array' THEN
        PERFORM eventhooks._metadata_raise(what || ': cron_triggers must be an array',
                                          base || '.cron_triggers', 'parse-failed');
    END IF;
    INSERT INTO pg_temp._metadata_replace_crons
    SELECT c.value ->> 'name', c.value, format('%s.cron_triggers[%s]', base, c.ordinality - 1)
    FROM jsonb_array_elements(coalesce(doc -> 'cron_triggers', '[]')) WITH ORDINALITY c;
    SELECT string_agg(format('"%s"', name), ', ' ORDER BY name) INTO dup
    FROM (SELECT name FROM pg_temp._metadata_replace_crons GROUP BY name HAVING count(*) > 1) d;
    IF dup IS NOT NULL THEN
        PERFORM eventhooks._metadata_raise(
            format('%s: cron triggers with duplicate names not allowed: %s', what, dup),
            base || '.cron_triggers', 'invalid-params');
    END IF;
    SELECT d.path, d.name INTO trig_path, dup
    FROM pg_temp._metadata_replace_crons d JOIN eventhooks.cron_triggers c ON c.name = d.name
    WHERE NOT c.include_in_metadata ORDER BY d.path LIMIT 1;
    IF FOUND THEN
        PERFORM eventhooks._metadata_raise(
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
        PERFORM eventhooks._metadata_raise(format('metadata: unknown type "%s"', kind), '$.type',
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
