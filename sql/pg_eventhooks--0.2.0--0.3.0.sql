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

-- Pause and resume (src/pg/api/event_trigger_api.cpp): the table's owner or a superuser, as
-- for delete_event_trigger. Pausing a paused trigger, or resuming a running one, is no error.
-- A replace (create_event_trigger(..., replace => true)) keeps `paused` as it was.
CREATE FUNCTION eventhooks.pause_event_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_pause_event_trigger' LANGUAGE C;
CREATE FUNCTION eventhooks.resume_event_trigger(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'eventhooks_resume_event_trigger' LANGUAGE C;

-- Makes every event of the trigger that ended in `error` (not archived; written since the
-- trigger was created; created at or after `since` when given) pending again with tries = 0,
-- as redeliver_event does for one; returns how many. Reads event_log_failed, not event_log.
CREATE FUNCTION eventhooks.redeliver_failed(trigger_name text, since timestamptz DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'eventhooks_redeliver_failed' LANGUAGE C;

-- ===== B. Clean up: cleanup_event_logs, retention ===========================================

-- (section B)

-- ===== C. See: trigger_stats, worker_status ==================================================

-- (section C)

-- ===== D. The worker's start: a resume point kept in a table ===============================

-- (section D)
