// Transaction callback behind commit_wakeup.hpp: one flag per transaction, one SetLatch at commit.
#include "pg/commit_wakeup.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "miscadmin.h"
}

#include "pg/shared_state.hpp"

namespace eventhooks::pg {

static bool callback_registered = false;
static bool events_written = false;
static bool extension_created = false;

static void on_transaction_end(XactEvent event, void *) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (events_written) wake_delivery_worker(MyDatabaseId);
            if (extension_created) request_delivery_worker(MyDatabaseId);
            events_written = extension_created = false;
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            // A prepared transaction's events are found by the worker's fallback poll after
            // COMMIT PREPARED, which runs in another session.
            events_written = extension_created = false;
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

void note_event_written() {
    if (events_written) return;
    ensure_callback();
    events_written = true;
}

void note_extension_created() {
    ensure_callback();
    extension_created = true;
}

}  // namespace eventhooks::pg
