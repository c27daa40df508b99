-- pg_eventhooks install script: the tables of SPEC §3, the configuration table of event
-- triggers, and the SQL API of SPEC §2 (implemented in C++, src/pg/).
\echo Use "CREATE EXTENSION pg_eventhooks" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it too.
CREATE SCHEMA eventhooks;

-- Time-ordered UUIDv7: event ids append to the btree instead of landing on random pages.
CREATE FUNCTION eventhooks.new_event_id() RETURNS uuid
    AS 'MODULE_PATHNAME', 'eventhooks_new_event_id' LANGUAGE C VOLATILE PARALLEL SAFE;

-- One row per event trigger, bound to its table and to the row trigger the extension made on
-- it, never to names a table owner can change (README, Security model). table_name is a
-- regclass: it shows the table's current name, and pg_dump writes it as that name, so a
-- restore binds it to the restored table (pg_upgrade keeps table oids). row_trigger is the
-- pg_trigger oid of the row trigger (NULL: manual invocation only); triggers get new oids in a
-- restore, and then the trigger eventhooks.capture_event(name) on table_name is re-bound
-- (src/pg/capture/trigger_cache.cpp, bound_row_trigger).
CREATE TABLE eventhooks.event_triggers (
    name             text PRIMARY KEY,
    table_name       regclass NOT NULL,
    row_trigger      oid,
    webhook          text,
    webhook_from_env text,
    on_insert        jsonb,
    on_update        jsonb,
    on_delete        jsonb,
    enable_manual    boolean NOT NULL DEFAULT false,
    headers          jsonb NOT NULL DEFAULT '[]',
    retry_conf       jsonb NOT NULL DEFAULT '{}',
    signing          jsonb,
    owner            name NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_triggers_one_webhook CHECK ((webhook IS NULL) <> (webhook_from_env IS NULL))
);

-- Hasura-compatible event table. The delivery worker keeps its claims in memory (one worker per
-- database), so "locked" stays NULL; it is kept for compatibility.
CREATE TABLE eventhooks.event_log (
    id            uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    trigger_name  text NOT NULL,
    payload       jsonb NOT NULL,
    delivered     boolean NOT NULL DEFAULT false,
    error         boolean NOT NULL DEFAULT false,
    tries         integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    locked        timestamptz,
    next_retry_at timestamptz,
    archived      boolean NOT NULL DEFAULT false
);

-- The delivery worker finds new events through the primary key, from a cursor it keeps in
-- memory (src/pg/delivery/delivery_queue.cpp): no index of pending events costs the writer an insert.
-- Events with a next_retry_at (waiting for a retry, requeued, or held back behind a slow
-- webhook) are found through this small index instead, when due. A row leaves it when it is
-- delivered (next_retry_at back to NULL), so it holds only what waits.
CREATE INDEX event_log_retry ON eventhooks.event_log (next_retry_at)
    WHERE next_retry_at IS NOT NULL;

-- A row made pending by SQL (a hand requeue, a restore, an INSERT) may lie behind the worker's
-- cursor: give it a next_retry_at, so the worker finds it through event_log_retry, and wake
-- the worker at commit. A row that SQL settles (delivered, error, archived) loses its
-- next_retry_at, so that event_log_retry keeps only what waits. The extension's own writer and
-- the worker never leave a row in either state. ENABLE ALWAYS: also for writes under
-- session_replication_role = replica.
CREATE FUNCTION eventhooks.maintain_retry_time() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eventhooks_maintain_retry_time' LANGUAGE C;
CREATE TRIGGER event_log_retry_time
    BEFORE INSERT OR UPDATE ON eventhooks.event_log
    FOR EACH ROW
    WHEN ((NOT NEW.delivered AND NOT NEW.error AND NOT NEW.archived) = (NEW.next_retry_at IS NULL))
    EXECUTE FUNCTION eventhooks.maintain_retry_time();
ALTER TABLE eventhooks.event_log ENABLE ALWAYS TRIGGER event_log_retry_time;

CREATE TABLE eventhooks.event_invocation_logs (
    id           uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    event_id     uuid NOT NULL,
    trigger_name text NOT NULL,
    status       integer,
    request      jsonb NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_invocation_logs_event_id ON eventhooks.event_invocation_logs (event_id);

-- pg_dump keeps the triggers, and the events not yet delivered. Not a trigger whose table was
-- dropped: its table_name would be written as a bare oid, which a restore would bind to
-- whatever table has that oid there.
SELECT pg_catalog.pg_extension_config_dump('eventhooks.event_triggers',
    'WHERE EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) table_name)');
SELECT pg_catalog.pg_extension_config_dump('eventhooks.event_log',
    'WHERE NOT delivered AND NOT error AND NOT archived');

-- The row trigger installed on watched tables (C++, src/pg/capture/row_trigger.cpp). Only the
-- extension attaches it: otherwise anyone could feed events into another role's webhook.
CREATE FUNCTION eventhooks.capture_event() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eventhooks_capture_event' LANGUAGE C;

-- Any change to the configuration table invalidates every backend's trigger cache.
CREATE FUNCTION eventhooks.configuration_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eventhooks_configuration_changed' LANGUAGE C;
CREATE TRIGGER event_triggers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON eventhooks.event_triggers
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.configuration_changed();

CREATE FUNCTION eventhooks.create_event_trigger(
    name             text,
    table_name       regclass,
    webhook          text    DEFAULT NULL,
    on_insert        jsonb   DEFAULT NULL,
    on_update        jsonb   DEFAULT NULL,
    on_delete        jsonb   DEFAULT NULL,
    enable_manual    boolean DEFAULT false,
    headers          jsonb   DEFAULT '[]',
    retry_conf       jsonb   DEFAULT '{}',
    webhook_from_env text    DEFAULT NULL,
    replace          boolean DEFAULT false,
    signing          jsonb   DEFAULT NULL
) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_create_event_trigger' LANGUAGE C;

CREATE FUNCTION eventhooks.delete_event_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_delete_event_trigger' LANGUAGE C;

CREATE FUNCTION eventhooks.redeliver_event(event_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_redeliver_event' LANGUAGE C;

CREATE FUNCTION eventhooks.invoke_event_trigger(name text, payload jsonb) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eventhooks_invoke_event_trigger' LANGUAGE C;

-- Cron triggers and scheduled events, SQL API (SPEC §2, §7; src/pg/api/cron_trigger_api.cpp,
-- src/pg/api/scheduled_event_api.cpp).
CREATE FUNCTION eventhooks.create_cron_trigger(
    name       text,
    webhook    text,
    schedule   text,
    payload    jsonb   DEFAULT NULL,
    headers    jsonb   DEFAULT '[]',
    retry_conf jsonb   DEFAULT '{}',
    comment    text    DEFAULT NULL,
    replace    boolean DEFAULT false,
    signing    jsonb   DEFAULT NULL
) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_create_cron_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.delete_cron_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_delete_cron_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.pause_cron_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_pause_cron_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.resume_cron_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_resume_cron_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.create_scheduled_event(
    webhook     text,
    schedule_at timestamptz,
    payload     jsonb DEFAULT NULL,
    headers     jsonb DEFAULT '[]',
    retry_conf  jsonb DEFAULT '{}',
    comment     text  DEFAULT NULL,
    signing     jsonb DEFAULT NULL
) RETURNS uuid
    AS 'MODULE_PATHNAME', 'eventhooks_create_scheduled_event' LANGUAGE C;
CREATE FUNCTION eventhooks.delete_scheduled_event(event_id uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_delete_scheduled_event' LANGUAGE C;
-- The next `count` times of a cron schedule after `after` (UTC): what a cron trigger with that
-- schedule would send, for a look ahead; the worker plans cron_events with it.
CREATE FUNCTION eventhooks.cron_next_times(schedule text, after timestamptz, count integer)
    RETURNS SETOF timestamptz
    AS 'MODULE_PATHNAME', 'eventhooks_cron_next_times' LANGUAGE C STABLE STRICT;

-- Per database delivery worker state, from shared memory.
CREATE FUNCTION eventhooks.worker_status(
    OUT database_name name, OUT pid integer, OUT requests_in_flight integer,
    OUT events_pending bigint, OUT events_due bigint, OUT events_sent bigint,
    OUT events_failed bigint, OUT last_error text, OUT last_error_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'eventhooks_worker_status' LANGUAGE C;
CREATE VIEW eventhooks.worker_status AS SELECT * FROM eventhooks.worker_status();

-- Tells the launcher at commit that this database now has the extension, and warns when the
-- library is not preloaded (events are recorded, but nothing delivers them).
CREATE FUNCTION eventhooks.extension_created() RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_extension_created' LANGUAGE C;
SELECT eventhooks.extension_created();

-- Cron triggers and one-off scheduled events (SPEC §2), in tables named after Hasura's
-- (hdb_cron_triggers, hdb_cron_events, hdb_scheduled_events and their invocation logs). An
-- event's status: 'scheduled' (pending: due at coalesce(next_retry_at, scheduled_time)),
-- 'delivered', 'error' (retries used up) or 'dead' (could first be sent more than tolerance_sec
-- after its time, or its time passed while its cron trigger was paused). 'locked' is Hasura's
-- and never written: the delivery worker keeps its claims in memory, as for event_log.
CREATE TABLE eventhooks.cron_triggers (
    name       text PRIMARY KEY,
    webhook    text NOT NULL,
    schedule   text NOT NULL,
    payload    jsonb,
    headers    jsonb NOT NULL DEFAULT '[]',
    retry_conf jsonb NOT NULL DEFAULT '{}',
    comment    text,
    signing    jsonb,
    paused     boolean NOT NULL DEFAULT false,
    owner      name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Upcoming events are materialized ahead of time (src/pg/delivery/cron_source.cpp): operators see what
-- will be sent, and a restart loses nothing. One row per trigger and time: a time is sent once.
CREATE TABLE eventhooks.cron_events (
    id             uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    trigger_name   text NOT NULL,
    scheduled_time timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'scheduled'
                   CHECK (status IN ('scheduled', 'locked', 'delivered', 'error', 'dead')),
    tries          integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    next_retry_at  timestamptz,
    CONSTRAINT cron_events_once_per_time UNIQUE (trigger_name, scheduled_time),
    -- The worker's arithmetic on these times must not fail on an infinity written by hand.
    CONSTRAINT cron_events_finite_times
        CHECK (isfinite(scheduled_time) AND (next_retry_at IS NULL OR isfinite(next_retry_at)))
);
-- What waits, by when it is due: the worker's claim and its next wake-up read only this.
CREATE INDEX cron_events_due ON eventhooks.cron_events ((coalesce(next_retry_at, scheduled_time)))
    WHERE status = 'scheduled';

CREATE TABLE eventhooks.cron_event_invocation_logs (
    id           uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    event_id     uuid NOT NULL,
    trigger_name text NOT NULL,
    status       integer,
    request      jsonb NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cron_event_invocation_logs_event_id
    ON eventhooks.cron_event_invocation_logs (event_id);

-- A one-off event carries its own delivery configuration.
CREATE TABLE eventhooks.scheduled_events (
    id             uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    webhook        text NOT NULL,
    scheduled_time timestamptz NOT NULL,
    payload        jsonb,
    headers        jsonb NOT NULL DEFAULT '[]',
    retry_conf     jsonb NOT NULL DEFAULT '{}',
    comment        text,
    signing        jsonb,
    status         text NOT NULL DEFAULT 'scheduled'
                   CHECK (status IN ('scheduled', 'locked', 'delivered', 'error', 'dead')),
    tries          integer NOT NULL DEFAULT 0,
    owner          name NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    next_retry_at  timestamptz,
    CONSTRAINT scheduled_events_finite_times
        CHECK (isfinite(scheduled_time) AND (next_retry_at IS NULL OR isfinite(next_retry_at)))
);
CREATE INDEX scheduled_events_due
    ON eventhooks.scheduled_events ((coalesce(next_retry_at, scheduled_time)))
    WHERE status = 'scheduled';

CREATE TABLE eventhooks.scheduled_event_invocation_logs (
    id         uuid PRIMARY KEY DEFAULT eventhooks.new_event_id(),
    event_id   uuid NOT NULL,
    status     integer,
    request    jsonb NOT NULL,
    response   jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_event_invocation_logs_event_id
    ON eventhooks.scheduled_event_invocation_logs (event_id);

-- pg_dump keeps the cron triggers and what is still to be sent.
SELECT pg_catalog.pg_extension_config_dump('eventhooks.cron_triggers', '');
SELECT pg_catalog.pg_extension_config_dump('eventhooks.cron_events',
    'WHERE status OPERATOR(pg_catalog.=) ''scheduled''');
SELECT pg_catalog.pg_extension_config_dump('eventhooks.scheduled_events',
    'WHERE status OPERATOR(pg_catalog.=) ''scheduled''');

-- A change to cron triggers tells the delivery worker (relcache) to plan their events again;
-- a write of what is due wakes it at commit (it sleeps until the next due time it knows).
CREATE TRIGGER cron_triggers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON eventhooks.cron_triggers
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.configuration_changed();
CREATE FUNCTION eventhooks.wake_delivery_worker() RETURNS trigger
    AS 'MODULE_PATHNAME', 'eventhooks_wake_delivery_worker' LANGUAGE C;
CREATE TRIGGER cron_events_wake_worker
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON eventhooks.cron_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.wake_delivery_worker();
CREATE TRIGGER scheduled_events_wake_worker
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON eventhooks.scheduled_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.wake_delivery_worker();
-- A deleted event may wait in the worker's memory for a request slot: the relcache tells the
-- worker (woken by the triggers above) to give back what waits and claim again (it then finds
-- only what still exists).
CREATE TRIGGER cron_events_deleted
    AFTER DELETE OR TRUNCATE ON eventhooks.cron_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.configuration_changed();
CREATE TRIGGER scheduled_events_deleted
    AFTER DELETE OR TRUNCATE ON eventhooks.scheduled_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventhooks.configuration_changed();

-- Test hook for the C++/Postgres boundary: raises a C++ exception of the given kind inside a
-- SQL-callable function (see src/pg/pg_guard.hpp). Superuser only.
CREATE FUNCTION eventhooks.raise_cpp_exception(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'eventhooks_raise_cpp_exception' LANGUAGE C STRICT;

-- Who sees what (README, Security model). The tables are readable by PUBLIC, but row-level
-- security shows a non-superuser only the event triggers it may manage, by the rule of the
-- management functions (src/pg/api/event_trigger_api.cpp, require_may_manage): members of the role
-- that made the trigger, and owners of its table; and of event_log and event_invocation_logs
-- only the rows of those triggers, by name and time (below). Events of a deleted trigger are
-- seen by superusers only. Headers may hold secrets, and events hold row data. Nothing is
-- writable: table owners act through the functions, which check the same rule and then write as
-- the extension's owner.
-- None of this costs the writers: superusers and the tables' owner (the extension's, a
-- superuser) bypass row-level security, the row trigger inserts events through the heap and
-- index APIs with no permission check, and the delivery worker runs as a superuser.
REVOKE ALL ON ALL TABLES IN SCHEMA eventhooks FROM PUBLIC;
GRANT USAGE ON SCHEMA eventhooks TO PUBLIC;
GRANT SELECT ON eventhooks.event_triggers, eventhooks.event_log, eventhooks.event_invocation_logs
    TO PUBLIC;
ALTER TABLE eventhooks.event_triggers ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.event_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.event_invocation_logs ENABLE ROW LEVEL SECURITY;
-- By the table's owner only (members of that role included): `owner` is the name of the role
-- that made the trigger, which may have been dropped and its name given to another role since.
-- A dropped table has no owner: its triggers are the superusers' to see.
CREATE POLICY may_manage ON eventhooks.event_triggers FOR SELECT TO PUBLIC USING (
    pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = table_name), 'USAGE'));
-- An event belongs to the trigger of its name only if written since that trigger was created
-- (a replace keeps created_at): not to a later trigger that took the name of a deleted one,
-- maybe another role's. Event ids are UUIDv7 (src/core/event_id.cpp): 48 bits of the unix
-- milliseconds of the write, the version nibble 7, then 12 bits of the fraction of that
-- millisecond, from the clock that clock_timestamp() reads too; the comparison is on the id.
-- The lowest id at `at` is that of its microsecond: events written later compare higher.
-- (Expressions in this script are parsed here, with search_path = pg_catalog.)
CREATE FUNCTION eventhooks.first_event_id_at(at timestamptz) RETURNS uuid
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN (WITH t(us) AS (SELECT floor(extract(epoch FROM at) * 1000000)::bigint)
            SELECT (lpad(to_hex(us / 1000), 12, '0') || '7'
                    || lpad(to_hex((us % 1000) * 4096 / 1000), 3, '0')
                    || '0000000000000000')::uuid
            FROM t);
-- The visible triggers' first event ids by name, computed once per query (an InitPlan, itself
-- filtered by the policy above), then one lookup per row: a query by id still uses the primary
-- key (and event_invocation_logs by event_id its index), as the user's equality on uuid is
-- leakproof. No index on trigger_name: every event would pay for it on the write path, and a
-- superuser's query by trigger name scans the table today too.
CREATE POLICY of_managed_triggers ON eventhooks.event_log FOR SELECT TO PUBLIC USING (
    id >= ((SELECT jsonb_object_agg(t.name, eventhooks.first_event_id_at(t.created_at))
            FROM eventhooks.event_triggers t) ->> trigger_name)::uuid);
CREATE POLICY of_managed_triggers ON eventhooks.event_invocation_logs FOR SELECT TO PUBLIC USING (
    event_id >= ((SELECT jsonb_object_agg(t.name, eventhooks.first_event_id_at(t.created_at))
                  FROM eventhooks.event_triggers t) ->> trigger_name)::uuid);
-- Cron triggers and scheduled events have no table: they are managed by superusers and members
-- of the role that made them (`owner`, by name; src/pg/api/api_args.cpp is_owner_role_member), and
-- shown by the same rule. A name whose role was dropped matches no role: superusers only.
-- cron_events and cron_event_invocation_logs show the rows of visible cron triggers made since
-- the trigger was created (as for event_log: not those of a deleted trigger of the same name);
-- scheduled_event_invocation_logs those of visible scheduled events. Headers may hold secrets.
GRANT SELECT ON eventhooks.cron_triggers, eventhooks.cron_events,
    eventhooks.cron_event_invocation_logs, eventhooks.scheduled_events,
    eventhooks.scheduled_event_invocation_logs TO PUBLIC;
ALTER TABLE eventhooks.cron_triggers ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.cron_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.cron_event_invocation_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.scheduled_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE eventhooks.scheduled_event_invocation_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY may_manage ON eventhooks.cron_triggers FOR SELECT TO PUBLIC USING (
    EXISTS (SELECT FROM pg_roles r
            WHERE r.rolname = cron_triggers.owner AND pg_has_role(r.oid, 'USAGE')));
CREATE POLICY of_managed_triggers ON eventhooks.cron_events FOR SELECT TO PUBLIC USING (
    id >= ((SELECT jsonb_object_agg(t.name, eventhooks.first_event_id_at(t.created_at))
            FROM eventhooks.cron_triggers t) ->> trigger_name)::uuid);
CREATE POLICY of_managed_triggers ON eventhooks.cron_event_invocation_logs FOR SELECT TO PUBLIC
    USING (event_id >= ((SELECT jsonb_object_agg(t.name, eventhooks.first_event_id_at(t.created_at))
                         FROM eventhooks.cron_triggers t) ->> trigger_name)::uuid);
CREATE POLICY may_manage ON eventhooks.scheduled_events FOR SELECT TO PUBLIC USING (
    EXISTS (SELECT FROM pg_roles r
            WHERE r.rolname = scheduled_events.owner AND pg_has_role(r.oid, 'USAGE')));
CREATE POLICY of_managed_events ON eventhooks.scheduled_event_invocation_logs FOR SELECT
    TO PUBLIC USING (
    EXISTS (SELECT FROM eventhooks.scheduled_events e
            WHERE e.id = scheduled_event_invocation_logs.event_id));
-- worker_status has no owner per row: it counts the events of every trigger, in every
-- database, and its last_error names any role's trigger and failure. Superusers, and the
-- monitoring role of Postgres, read it (a view's functions are called with the reader's
-- privileges, so pg_monitor needs both grants).
REVOKE EXECUTE ON FUNCTION eventhooks.capture_event(), eventhooks.configuration_changed(),
    eventhooks.maintain_retry_time(), eventhooks.wake_delivery_worker(),
    eventhooks.extension_created(), eventhooks.raise_cpp_exception(text),
    eventhooks.worker_status() FROM PUBLIC;
GRANT SELECT ON eventhooks.worker_status TO pg_monitor;
GRANT EXECUTE ON FUNCTION eventhooks.worker_status() TO pg_monitor;
