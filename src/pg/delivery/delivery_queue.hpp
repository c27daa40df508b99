// The delivery worker's transactions on eventhooks.event_log: record finished attempts and
// claim the next due events (one short transaction each round, never open across network I/O).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pg/delivery/delivery_source.hpp"

namespace eventhooks::pg {

struct ClaimedEvent {
    SourceKind source = SourceKind::EventTrigger;
    std::string id;
    // The event trigger's or cron trigger's name ("scheduled event <id>" for a one-off event):
    // for the invocation log and messages.
    std::string trigger_name;
    // The webhook's queue for fairness (request slots): an event trigger's name, or a key of
    // the timed source (see delivery_source.hpp).
    std::string queue_key;
    std::string schema_name;
    std::string table_name;
    std::string payload;     // {"op","data","session_variables"}; timed sources: the body
    std::string created_at;  // ISO-8601, UTC
    int tries = 0;           // attempts made before this one
    bool trigger_exists = false;
    std::string webhook;
    std::string webhook_from_env;
    std::string headers;     // jsonb text
    std::string retry_conf;  // jsonb text
    std::string signing;     // jsonb text; empty: unsigned
    // The version of the event's row the claim read (its xmin): the attempt's result settles
    // the event only if the row is still that version (see kRecordSql).
    std::string row_version;
};

// The outcome of one attempt, or an event to archive because its trigger is gone.
struct AttemptRecord {
    SourceKind source = SourceKind::EventTrigger;  // whose tables the result goes to
    std::string event_id;
    std::string trigger_name;
    bool archive = false;  // no attempt made: trigger deleted
    // No attempt made: the trigger is not there (yet), look again after retry_in_ms; tries and
    // state unchanged, no invocation log (a restore loads event_log before event_triggers).
    bool hold = false;
    bool delivered = false;
    bool error = false;        // retries exhausted
    int tries = 0;             // including this attempt
    int64_t retry_in_ms = -1;  // >= 0: next attempt after this delay
    int status = 0;            // HTTP status; 0: none (transport error)
    std::string request;       // JSON for the invocation log
    std::string response;      // JSON for the invocation log
    // ClaimedEvent::row_version of the claim this attempt came from. If the row changed since
    // (redeliver_event or an UPDATE during the attempt), the change wins: the invocation log
    // gets the attempt, the event keeps the state it was given. Empty: settle unconditionally.
    std::string row_version;
};

struct QueueCounts {
    int64_t pending = -1;
    int64_t due = -1;
    int64_t ms_until_next_retry = -1;  // -1: no retry scheduled
};

// How far the worker's scan of new events has come, as the bytes of an event id: every event
// with an id up to here that is pending with no next_retry_at has been claimed (or was taken
// by the next round's rescan hint). All zero: from the start.
using EventCursor = std::array<uint8_t, 16>;

// Where the claim of one webhook's events stands after the main cursor passed them by: while
// its webhook could take no more requests, the cursor skipped its events (no write, no hold
// back); when the webhook has room again, the claim reads them from here, in id order, up to
// where the main cursor stood. Exclusive, like the main cursor.
struct TriggerCursor {
    std::string trigger_name;
    EventCursor after{};
};

// Fields ordered by size (the padding check of scripts/lint.sh).
struct RoundResult {
    // Rounds that claimed: ms until the earliest retry-waiting event that is not yet due
    // (whoever scheduled it); -1: none, or no claim this round.
    int64_t next_retry_in_ms = -1;
    // The timed sources were looked at (timed_checked: check_timed, or timed work written
    // since): ms until their next event not yet due (-1: none), and whether a claim of theirs
    // filled its limit (timed_more_due).
    int64_t timed_next_due_in_ms = -1;
    int64_t count_cost_us = 0;  // how long the count took: the caller spaces counts by it
    std::vector<ClaimedEvent> claimed;
    QueueCounts counts;
    // Records that could not be written at all, even as failed (a read-only or full disk, a
    // trigger on the log that raises for every row, ...): the caller keeps them, retries later,
    // and does not send their events again.
    std::vector<AttemptRecord> unrecorded;
    // The round failed (empty: it did not). It then claimed and counted nothing; its records
    // were recorded in smaller groups in transactions of their own, down to the one that
    // fails, which is recorded as failed with the reason where that can be written.
    std::string failure;
    // Records whose event changed during its attempt (requeued): it is pending again, claim.
    int requeued = 0;
    int recorded = 0;  // records written (as they were, or as failed)
    bool extension_present = true;
    bool more_due = false;  // the claim filled its limit: claim again without waiting
    bool counts_refreshed = false;
    // A DROP and CREATE EXTENSION made a new event_log: nothing was claimed this round, and
    // what the worker holds from the old one is void.
    bool event_log_replaced = false;
    bool timed_checked = false;
    // A check was asked for (or timed work was written) but the round could not claim
    // (a new event_log, a subscription holding delivery): the caller must look again later.
    bool timed_check_skipped = false;
    bool timed_more_due = false;
    bool claim_failed = false;  // it had nothing to record: its claim or count failed
    // The resume point moved and is not yet kept in its table (resume_point.cpp): ms until a
    // round that claims may keep it (asked once per keep); -1: nothing to ask.
    int64_t keep_point_in_ms = -1;
    // The paused triggers changed (read by the round): a resumed trigger's events may be
    // claimable, claim again.
    bool paused_changed = false;
};

// The events the worker holds (in flight, waiting for a slot, or sent with the result not yet
// recorded): the claims skip them. By source: event_log's bound the resume point, the timed
// sources' do not (a one-off event due next month would pull it back a month).
struct HeldIds {
    std::vector<std::string> event_log;
    std::vector<std::string> timed;
};

// At the worker's start: the cursor where its predecessor left off (all zero if none did, or
// after a server restart). Nothing then depends on the predecessor but what it published.
void resume_cursor(EventCursor &cursor);

// One transaction: writes `records`, then claims up to `claim_limit` due events (0: none),
// skipping the events the worker holds (`in_flight_ids`: in flight or waiting for a slot; the
// worker's claims live in its memory, see kClaimSql). Events of `excluded_triggers` (webhooks
// with claimed events still waiting for a slot) are not claimed: the main cursor passes theirs
// by and leaves each such trigger a TriggerCursor in `trigger_cursors`; the cursors of triggers
// not excluded are read from (and dropped once caught up). Paused event triggers
// (event_triggers.paused, read by the round, see paused_generation) are excluded the same
// way, retries included, until resumed (RoundResult::paused_changed). Moves `cursor` on. With
// refresh_counts, also counts pending/due events. The timed sources (cron, scheduled events)
// claim only with check_timed (the worker knows one is due, or must look) or when a
// transaction wrote timed work since the last look: a round of event_log's pays nothing for them.
// A Postgres error in the round does not escape: see RoundResult::failure.
RoundResult run_round(const std::vector<AttemptRecord> &records, int claim_limit,
                      const std::vector<std::string> &excluded_triggers,
                      const HeldIds &held, EventCursor &cursor,
                      std::vector<TriggerCursor> &trigger_cursors, bool refresh_counts,
                      bool check_timed);

// Runs each timed source's prepare step (cron: plan upcoming events), each in a transaction of
// its own. Returns "" or what failed (the worker warns and goes on: sending what is planned).
std::string prepare_timed_sources();

// True (once) when cron trigger configurations changed since the last call: plan again.
bool take_cron_configuration_change();

// True (once) when event trigger or cron trigger configurations changed since the last call
// (seen through relcache invalidations, processed by the worker's rounds and waits).
bool take_configuration_change();

// An event claimed but not sent is given back: the claim reads an event trigger's event again
// later, from the trigger's cursor (created, or lowered to just below the event), or from the
// retry index. Timed sources need nothing: what is not held is claimed again when due.
void give_back(std::vector<TriggerCursor> &trigger_cursors, const ClaimedEvent &event);

}  // namespace eventhooks::pg
