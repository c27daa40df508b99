// A database that receives copies of eventhooks.event_log through logical replication does not
// send them: the publisher does. Its delivery worker holds off while an enabled subscription
// writes into event_log here, and delivers what is pending once that ends (the cutover of an
// upgrade or a migration). See README "Operations notes".
#pragma once

extern "C" {
#include "postgres.h"
}

namespace eventhooks::pg {

// For the delivery worker, inside its round's transaction (after its snapshot): true while an
// enabled subscription of this database replicates `event_log` into it; the round then claims
// nothing. The answer is kept until pg_subscription or pg_subscription_rel change (syscache
// invalidation), so a round pays for the catalog lookup only after such a change. A change
// either way is logged and shown in worker_status.last_error; when the hold ends, the worker
// is also asked to rescan event_log from its start, so that every pending copy is found.
// Plain C-style code: it may raise a Postgres ERROR (catalog access).
bool delivery_held_by_subscription(Oid event_log_relid);

}  // namespace eventhooks::pg
