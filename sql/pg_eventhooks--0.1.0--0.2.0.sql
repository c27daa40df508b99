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

-- ===== DDL of watched tables: DROP TABLE, renamed and dropped columns ========================
