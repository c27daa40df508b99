-- pg_eventhooks 0.2.0 -> 0.3.0 (issue 20): running it in production (SPEC §7). See what is
-- happening (trigger_stats, worker_status), pause and resume event triggers, redeliver what
-- failed, clean up old events, and a worker whose start does not depend on the history kept.
--
-- The released scripts (0.1.0, 0.1.0--0.2.0) are never edited: CREATE EXTENSION runs them and
-- then this one, so a new database and an updated one have the same schema
-- (test/t/095_upgrade.pl). The library is one for every version: what it reads must work with
-- 0.1.0's and 0.2.0's tables until ALTER EXTENSION ... UPDATE has run.
\echo Use "ALTER EXTENSION pg_eventhooks UPDATE TO '0.3.0'" to load this file. \quit

-- ===== A. Control: pause/resume_event_trigger, redeliver_failed ==============================
-- A paused trigger's events are recorded as usual and not sent until it is resumed (attempts
-- in flight finish). The worker leaves a paused trigger's events where they are, as it does
-- for a webhook with no room (src/pg/delivery/delivery_queue.cpp, TriggerCursor).
ALTER TABLE eventhooks.event_triggers ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- Events that ended in `error` (retries used up), by trigger: redeliver_failed and
-- trigger_stats.dead read them without a scan of event_log. Only failed events are in it, so
-- a delivered event costs the writer and the worker nothing (the columns of the predicate do
-- not change when an event is delivered: the update stays HOT).
CREATE INDEX event_log_failed ON eventhooks.event_log (trigger_name, id)
    WHERE error AND NOT archived;

-- (section A continues here)

-- ===== B. Clean up: cleanup_event_logs, retention ===========================================

-- (section B)

-- ===== C. See: trigger_stats, worker_status ==================================================

-- (section C)

-- ===== D. The worker's start: a resume point kept in a table ===============================

-- Where the delivery worker may start scanning event_log after a server restart (or a crash,
-- or a failover: the table is replicated), instead of at the beginning: a server keeping a long
-- history would otherwise read all of it at each start. The worker keeps its point here at most
-- every few seconds; why it is safe (no committed event lost): src/pg/delivery/resume_point.cpp.
-- One row per server (system_identifier: a physical standby shares it, a logical subscriber
-- that receives this table does not, so a copied row neither applies nor conflicts there),
-- for the event_log it was taken in (a new event_log after DROP and CREATE EXTENSION starts
-- from the beginning). Not a configuration table: pg_dump leaves its rows out, a restore starts
-- from the beginning. Internal: no grants, superusers only.
CREATE TABLE eventhooks.worker_resume_point (
    system_identifier bigint PRIMARY KEY,
    event_log_relid oid NOT NULL,
    resume_from uuid NOT NULL,
    saved_at timestamptz NOT NULL
);
REVOKE ALL ON eventhooks.worker_resume_point FROM PUBLIC;
COMMENT ON TABLE eventhooks.worker_resume_point IS
    'internal: where the delivery worker resumes scanning event_log after a server restart';
