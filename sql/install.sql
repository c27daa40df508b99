-- Installing, dropping and installing again. The regression instance does not preload the
-- library, so CREATE EXTENSION warns that nothing will be delivered.
CREATE EXTENSION pg_eventhooks;
SELECT extname, extversion FROM pg_extension WHERE extname = 'pg_eventhooks';
\dx pg_eventhooks

-- The tables of SPEC §3 and the configuration table.
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'eventhooks' AND c.relkind IN ('r', 'i', 'v')
ORDER BY c.relname;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'eventhooks.event_log'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'eventhooks.event_invocation_logs'::regclass AND attnum > 0 ORDER BY attnum;
-- event_log has one index the writer maintains, its primary key. The worker's second index
-- is partial: it holds only events with a next_retry_at (none when written).
SELECT pg_get_indexdef('eventhooks.event_log_retry'::regclass);
-- Rows made pending by SQL get a next_retry_at, settled ones lose it, even under
-- session_replication_role = replica.
SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgrelid = 'eventhooks.event_log'::regclass ORDER BY tgname;

-- Dumped by pg_dump: the configuration, and events not yet delivered.
SELECT c.relname, e.extcondition
FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS e(oid, extcondition)
JOIN pg_class c ON c.oid = e.oid
WHERE x.extname = 'pg_eventhooks' ORDER BY 1;

-- Nothing in the schema is writable by PUBLIC; the tables are readable under row-level
-- security (who sees what: sql/visibility.sql).
SELECT c.relname, has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert, c.relrowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'eventhooks' AND c.relkind IN ('r', 'v') ORDER BY 1;

-- Settings of SPEC §5 with their defaults and units.
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'eventhooks.%' ORDER BY name;
SHOW eventhooks.poll_interval;
SHOW eventhooks.http_response_max_bytes;
SET eventhooks.fetch_batch_size = 10;
ALTER SYSTEM SET eventhooks.fetch_batch_size = 0;
ALTER SYSTEM SET eventhooks.poll_interval = '5ms';
ALTER SYSTEM SET eventhooks.max_concurrent_deliveries = 'many';
ALTER SYSTEM SET eventhooks.denied_destinations = '169.254.0.0/16, 10.0.0.1/8';
ALTER SYSTEM SET eventhooks.allowed_destinations = 'https://hooks.example.com/x';
SET eventhooks.allowed_destinations = '';
SET eventhooks.nonexistent = 1;

-- Without preload there are no workers.
SELECT count(*) FROM eventhooks.worker_status;

DROP EXTENSION pg_eventhooks;
SELECT count(*) FROM pg_namespace WHERE nspname = 'eventhooks';
CREATE EXTENSION pg_eventhooks;
SELECT extversion FROM pg_extension WHERE extname = 'pg_eventhooks';
DROP EXTENSION pg_eventhooks;
