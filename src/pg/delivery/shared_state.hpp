// Shared memory of pg_eventhooks: the launcher's latch and one slot per database that has a
// delivery worker, or whose worker is checking for the extension. Backends use it to wake the
// worker at commit; worker_status reads it. A database without the extension holds no slot
// once its check is over (the launcher remembers it, see launcher.cpp).
#pragma once

#include <string>
#include <unordered_map>

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

// Slots beyond eventhooks.max_databases: room for workers that are still checking whether their
// database has the extension, so that a check never waits for a database with it to go away.
constexpr int kCheckingSlots = 4;
constexpr int kLastErrorLength = 256;
// Triggers whose requests in flight a slot shows (trigger_stats.in_flight). A worker has at most
// eventhooks.max_concurrent_deliveries requests in flight, so as many triggers at most; beyond
// this many, the others are shown as unknown (NULL), never as 0.
constexpr int kInFlightTriggers = 64;

// What the worker is doing (worker_status.state), see worker_state_name.
enum class WorkerState : int32 {
    Starting = 0,    // slot taken, not yet in its loop
    Idle,            // nothing in flight nor waiting for a request slot
    Delivering,      // requests in flight, or claimed events waiting for a slot
    Holding,         // after a failed round: waits before it tries again (last_error says why)
    Stopping,        // SIGTERM: finishing the requests in flight
};
const char *worker_state_name(WorkerState state);

struct TriggerInFlight {
    uint32 name_hash;  // trigger_name_hash of the event trigger's name
    int32 count;
};

struct DeliverySlot {
    Oid database_oid;        // InvalidOid: slot unused
    pid_t worker_pid;        // 0: no worker running
    Latch *worker_latch;     // set by committing backends to wake the worker
    bool extension_missing;  // the worker found no extension; start again only when asked
    bool database_dropping;  // DROP DATABASE in progress: never start a worker
    bool has_extension;      // CREATE EXTENSION committed there, or its worker found it
    bool serving;            // holds one of the eventhooks.max_databases places
    bool no_room;            // its worker found the extension but every place was held
    uint32 request_count;    // bumped by each CREATE EXTENSION; a worker that saw no extension
                             // marks it missing only if no request came since it looked
    // A committed transaction wrote events with ids from rescan_from on: the worker's cursor
    // may already be past them (they were written before newer events that committed first).
    bool rescan_requested;
    pg_uuid_t rescan_from;
    // A committed transaction wrote cron or scheduled events: the worker, which otherwise looks
    // at them only when one is due, checks its timed sources at its next claim.
    bool timed_work_written;
    // Where a new worker may start its cursor instead of at the beginning: nothing pending
    // without a next_retry_at lies at or below it in resume_relid (event_log), except what a
    // rescan request covers. Lowered when a request is taken, so a worker that dies with one
    // leaves it to its successor.
    bool resume_valid;
    Oid resume_relid;
    pg_uuid_t resume_from;
    int requests_in_flight;
    int64 events_sent;
    int64 events_failed;
    int64 events_pending;  // as of the worker's last count
    int64 events_due;
    char last_error[kLastErrorLength];
    TimestampTz last_error_at;
    // worker_status's state columns, and trigger_stats.in_flight (published once per round).
    WorkerState state;
    int32 connections_open;
    TimestampTz started_at;
    TimestampTz last_wakeup_at;
    int32 in_flight_trigger_count;
    bool in_flight_overflow;  // more triggers had requests in flight than fit
    TriggerInFlight in_flight_by_trigger[kInFlightTriggers];
};

struct SharedState {
    slock_t mutex;
    pid_t launcher_pid;
    Latch *launcher_latch;
    // A CREATE EXTENSION found no free slot to leave its request in: the launcher checks again
    // every database it believes to be without the extension.
    bool requests_lost;
    int slot_count;        // eventhooks.max_databases + kCheckingSlots
    DeliverySlot *slots;   // slot_count slots, right after this struct
};

// Called from _PG_init when preloaded: reserves and initializes the shared memory.
void install_shared_memory_hooks();

// nullptr when the library was not preloaded (no shared memory, no workers).
SharedState *shared_state();

// Finds the slot of a database, optionally taking a free one. Caller holds the mutex.
DeliverySlot *find_slot_locked(Oid database_oid, bool create);

// Wakes the delivery worker of a database, if it runs. Cheap; safe from any backend.
// With `rescan_from`, also asks it to look again at events from that id on (see
// delivery_queue.cpp); call that only once the writing transaction is visible to others.
void wake_delivery_worker(Oid database_oid, const pg_uuid_t *rescan_from = nullptr);

// After a commit that wrote cron_events or scheduled_events: wakes the worker and asks it to
// check its timed sources (call once the transaction is visible to others).
void wake_delivery_worker_for_timed_work(Oid database_oid);

// For the worker, before it takes a snapshot: whether timed work was written since the last
// call.
bool take_timed_work_written(Oid database_oid);

// For the worker, before it takes a snapshot: where to scan from (exclusive) to see the
// smallest id asked for since the last call. Also lowers the resume point to it.
bool take_rescan_request(Oid database_oid, pg_uuid_t *from);

// The worker's resume point (see DeliverySlot), published after each committed round and read
// by the next worker at its start.
void publish_resume_point(Oid database_oid, Oid event_log_relid, const pg_uuid_t &from);
bool read_resume_point(Oid database_oid, Oid *event_log_relid, pg_uuid_t *from);

// The resume point as trigger_stats counts pending events from it (exclusive): lowered to just
// below a rescan request not yet taken. False: unknown (no worker has published one).
bool read_pending_scan_start(Oid database_oid, Oid *event_log_relid, pg_uuid_t *from);

// Hash of an event trigger's name in in_flight_by_trigger (hash_bytes: the same in every
// process of the server).
uint32 trigger_name_hash(const char *name, size_t length);

// For trigger_stats.in_flight: requests this database's worker has in flight for the trigger.
// False when unknown (not preloaded, or the trigger did not fit in the slot's array); 0 with
// no worker running.
bool read_trigger_in_flight(Oid database_oid, uint32 name_hash, int *count);

// For the worker, once per round: its requests in flight, in all and per event trigger.
void publish_in_flight(DeliverySlot *slot, int total,
                       const std::unordered_map<std::string, int> &by_trigger);

// For the worker, before each wait: what it does, and the connections libcurl has open.
void publish_worker_state(DeliverySlot *slot, WorkerState worker_state, int64 connections_open);

// For the worker, after each wait: when it woke.
void publish_wakeup(DeliverySlot *slot);

// Tells the launcher that the database (now) has the extension, and wakes it.
void request_delivery_worker(Oid database_oid);

// For a worker that found the extension: takes one of the eventhooks.max_databases places for
// its slot's database (kept across restarts of its worker). False when other databases hold
// them all; the slot is then marked no_room and the launcher frees it once the worker exits.
bool take_delivery_place(DeliverySlot *slot);

void wake_launcher();

// True in a delivery worker process (set at its start): its own writes need no wake-up.
extern bool am_delivery_worker;

}  // namespace eventhooks::pg
