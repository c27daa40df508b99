// Transaction callback behind commit_wakeup.hpp: per transaction, one SetLatch at commit and
// the smallest event id written, for the worker's cursor.
#include "pg/delivery/commit_wakeup.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
}

#include "pg/delivery/shared_state.hpp"
#include "pg/delivery/uuid_order.hpp"

namespace eventhooks::pg {

static bool callback_registered = false;
static bool events_written = false;   // by the direct writer: rescan hint needed
static pg_uuid_t smallest_written;    // valid while events_written
static bool events_requeued = false;  // by SQL: a wake-up is enough
static bool timed_work_written = false;  // cron or scheduled events: check the timed sources
static bool extension_created = false;

static void forget() {
    events_written = events_requeued = timed_work_written = extension_created = false;
}

static void on_transaction_end(XactEvent event, void *) {
    switch (event) {
        case XACT_EVENT_PRE_PREPARE:
            if (events_written)
                ereport(ERROR,
                        (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                         errmsg("cannot PREPARE a transaction that recorded pg_eventhooks events"),
                         errdetail("The delivery worker learns of a transaction's events when "
                                   "it commits, which COMMIT PREPARED does not report.")));
            break;
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            // The transaction is visible to others by now, so a worker that reads the hint
            // before taking its next snapshot finds these events.
            if (events_written)
                wake_delivery_worker(MyDatabaseId, &smallest_written);
            else if (events_requeued)
                wake_delivery_worker(MyDatabaseId);
            if (timed_work_written) wake_delivery_worker_for_timed_work(MyDatabaseId);
            if (extension_created) request_delivery_worker(MyDatabaseId);
            forget();
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            forget();
            break;
        default:
            break;
    }
}

static void ensure_callback() {
    if (!callback_registered) {
        RegisterXactCallback(on_transaction_end, nullptr);
        callback_registered = true;
    }
}

void note_event_written(const pg_uuid_t &id) {
    // Ids come from one clock in this backend, so the first is nearly always the smallest;
    // compare anyway (the clock may step back).
    if (events_written && !uuid_less(id, smallest_written)) return;
    ensure_callback();
    events_written = true;
    smallest_written = id;
}

void note_event_requeued() {
    ensure_callback();
    events_requeued = true;
}

void note_timed_work_written() {
    ensure_callback();
    timed_work_written = true;
}

void note_extension_created() {
    ensure_callback();
    extension_created = true;
}

}  // namespace eventhooks::pg
