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
-- Settled events older than a given age go, with their invocation logs; pending ones never.
-- Settled: event_log rows delivered, or archived (their trigger was deleted: they can never be
-- sent), and with include_failed those in `error`; cron and scheduled events 'delivered', and
-- with include_failed 'error' and 'dead'. "Older" for event_log is created_at (and the id,
-- whose time is the write's: the range of the primary key is what is read); for cron and
-- scheduled events the scheduled_time (and the id, the time the event row was written: a
-- scheduled event made after its time goes once both are old enough).
--
-- One batch: the next `batch_size` rows of one table after `after`, in id order, below the
-- first id at `cutoff`; deletes those settled (the condition is in the DELETE itself, so a row
-- requeued meanwhile by redeliver_event is re-checked and kept) and their invocation logs
-- (through the *_event_id indexes). Returns how many events it deleted, how many rows it read
-- and the last id read (the next batch starts after it: what was kept is never read again).
-- The DELETE runs only when there is something to delete: cron_events and scheduled_events
-- have statement triggers that make the worker reload what waits.
-- Internal: cleanup_event_logs and the delivery worker's retention pass
-- (src/pg/delivery/retention.cpp) call it, so that the rule is in one place.
CREATE FUNCTION eventhooks._cleanup_event_logs_batch(source text, cutoff timestamptz,
    include_failed boolean, after uuid, batch_size integer,
    OUT removed bigint, OUT scanned integer, OUT last_id uuid)
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    low uuid := coalesce(after, '00000000-0000-0000-0000-000000000000');
    high uuid := eventhooks.first_event_id_at(cutoff);
    ids uuid[];
    candidates uuid[];
BEGIN
    removed := 0;
    scanned := 0;
    -- No event id is older than 1970 (first_event_id_at would not be an id then).
    IF cutoff < 'epoch'::timestamptz THEN
        RETURN;
    END IF;
    IF source = 'event_log' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.delivered OR e.archived OR (include_failed AND e.error))
                           AND e.created_at < cutoff AS settled
              FROM eventhooks.event_log e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.event_log e WHERE e.id = ANY (candidates)
                    AND (e.delivered OR e.archived OR (include_failed AND e.error))
                    AND e.created_at < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSIF source = 'cron_events' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.status = 'delivered'
                            OR (include_failed AND e.status IN ('error', 'dead')))
                           AND e.scheduled_time < cutoff AS settled
              FROM eventhooks.cron_events e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.cron_events e WHERE e.id = ANY (candidates)
                    AND (e.status = 'delivered' OR (include_failed AND e.status IN ('error', 'dead')))
                    AND e.scheduled_time < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.cron_event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSIF source = 'scheduled_events' THEN
        SELECT array_agg(s.id), array_agg(s.id) FILTER (WHERE s.settled) INTO ids, candidates
        FROM (SELECT e.id, (e.status = 'delivered'
                            OR (include_failed AND e.status IN ('error', 'dead')))
                           AND e.scheduled_time < cutoff AS settled
              FROM eventhooks.scheduled_events e WHERE e.id > low AND e.id < high
              ORDER BY e.id LIMIT batch_size) s;
        IF cardinality(candidates) > 0 THEN
            WITH gone AS (
                DELETE FROM eventhooks.scheduled_events e WHERE e.id = ANY (candidates)
                    AND (e.status = 'delivered' OR (include_failed AND e.status IN ('error', 'dead')))
                    AND e.scheduled_time < cutoff
                RETURNING e.id),
            logs AS (
                DELETE FROM eventhooks.scheduled_event_invocation_logs l
                WHERE l.event_id IN (SELECT id FROM gone))
            SELECT count(*) INTO removed FROM gone;
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown event source "%"', source;
    END IF;
    scanned := coalesce(cardinality(ids), 0);
    last_id := ids[scanned];
END
$$;
COMMENT ON FUNCTION eventhooks._cleanup_event_logs_batch(text, timestamptz, boolean, uuid, integer)
    IS 'internal: one batch of cleanup_event_logs and of the worker''s retention pass';

-- Returns the number of events removed: event_log rows plus cron_events and scheduled_events
-- rows (their invocation log rows are not counted). All in the caller's transaction: the row
-- locks of what is deleted are held until it commits, so a very large backlog is better left
-- to eventhooks.retention (the worker commits each batch) or cleaned with a growing age.
-- Superusers only (it deletes every trigger's history); SECURITY DEFINER so that a DBA may
-- GRANT EXECUTE to a maintenance role without giving it the tables.
CREATE FUNCTION eventhooks.cleanup_event_logs(older_than interval,
    include_failed boolean DEFAULT false, batch_size integer DEFAULT 10000) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz;
    source text;
    after uuid;
    total bigint := 0;
    b record;
BEGIN
    IF older_than IS NULL THEN
        RAISE EXCEPTION 'older_than must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative: %', older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF include_failed IS NULL THEN
        RAISE EXCEPTION 'include_failed must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', coalesce(batch_size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := now() - older_than;
    FOREACH source IN ARRAY ARRAY['event_log', 'cron_events', 'scheduled_events'] LOOP
        after := NULL;
        LOOP
            b := eventhooks._cleanup_event_logs_batch(source, cutoff, include_failed, after,
                                                      batch_size);
            total := total + b.removed;
            EXIT WHEN b.scanned < batch_size;
            after := b.last_id;
        END LOOP;
    END LOOP;
    RETURN total;
END
$$;
COMMENT ON FUNCTION eventhooks.cleanup_event_logs(interval, boolean, integer)
    IS 'deletes settled events older than older_than and their invocation logs; returns the events removed';
REVOKE EXECUTE ON FUNCTION eventhooks._cleanup_event_logs_batch(text, timestamptz, boolean, uuid, integer),
    eventhooks.cleanup_event_logs(interval, boolean, integer) FROM PUBLIC;

-- ===== C. See: trigger_stats, worker_status ==================================================

-- (section C)

-- ===== D. The worker's start: a resume point kept in a table ===============================

-- (section D)
