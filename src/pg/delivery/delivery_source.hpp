// The sources of due deliveries (GUIDE §4): event triggers (eventhooks.event_log, the claim with
// its cursor in delivery_queue.cpp), cron triggers (cron_source.cpp) and one-off scheduled events
// (scheduled_source.cpp). Each source claims its due events, describes their requests and records
// their results in its own tables; the loop (delivery_worker.cpp) sends whatever any source hands
// it through one HTTP path (signing, destinations, fairness between webhooks, retries).
//
// The sources due at a time (cron, scheduled) are described by a TimedSource: the statements
// below, run by delivery_queue.cpp in each round's transaction. A new such source is one more
// file defining a TimedSource and one line in timed_sources().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eventhooks::pg {

enum class SourceKind : uint8_t { EventTrigger = 0, CronTrigger = 1, ScheduledEvent = 2 };

struct ClaimedEvent;

// A source whose events are due at a time (status 'scheduled', due at
// coalesce(next_retry_at, scheduled_time)). The claim writes nothing, as for event_log: the
// worker holds what it claimed in memory and passes those ids to be skipped.
struct TimedSource {
    SourceKind kind;
    const char *what;  // "cron trigger": for messages
    // Marks 'dead' the due events that were never attempted and are more than their
    // tolerance_sec late ($1 uuid[]: events the worker holds, left alone).
    const char *mark_dead_sql;
    // Claims due events: $1 int limit, $2 text[] queue keys left out (webhooks without room),
    // $3 uuid[] held events. Columns as delivery_queue.cpp's claim (kClaimColumns): id,
    // log name, '', '', request body (text), '', tries, true, webhook, NULL, headers, retry_conf,
    // xmin, signing, false, kind, queue key. Ordered by due time.
    const char *claim_sql;
    // Records attempts: the 11 arrays of delivery_queue.cpp's kRecordSql ($1 ids ... $11 row
    // versions; archive ignored). Returns one row: how many events were settled.
    const char *record_sql;
    // One row, one bigint: ms until its next event not yet due (NULL: none).
    const char *next_due_sql;
    // Run now and then by the worker in a transaction of its own (nullptr: nothing): the cron
    // source plans upcoming events here. Returns nullptr or what went wrong (palloc'd); may
    // also raise an ERROR. Either way the worker logs a WARNING and goes on.
    char *(*prepare)();
};

// Every timed source, in claim order.
const std::vector<const TimedSource *> &timed_sources();

// The body POSTed for a claimed event: built from the event_log row for event triggers, made by
// the claim statement for timed sources.
std::string request_body(const ClaimedEvent &event, int max_retries);

// For messages: `event trigger "orders"`, `cron trigger "digest"`, `scheduled event <id>`
// (`name` is ClaimedEvent::trigger_name).
std::string source_label(SourceKind source, const std::string &name);

// The fairness key of an event trigger's events is its name; other sources' keys contain a
// space, which no event trigger name does (core::validate_trigger_name).
}  // namespace eventhooks::pg
