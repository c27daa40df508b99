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
