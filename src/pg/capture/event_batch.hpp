// The events of the running statement, written together when it ends: one heap_multi_insert
// (one WAL record per page) and one open of event_log per batch instead of per row. A bulk
// INSERT ... SELECT or COPY thus costs less per row. A statement's first event is written at
// once, so a single-row statement costs what it did without batching.
#pragma once

#include "pg/capture/event_writer.hpp"

namespace eventhooks::pg {

// The row trigger's write: the event joins the statement's batch, written when the statement
// ends, when its subtransaction ends, at commit, or when the batch is full. Where batching
// cannot be done safely it is written at once. Returns the event's id.
pg_uuid_t record_event(const NewEvent &event);

// From _PG_init: the executor and utility hooks that end a batch, and the transaction
// callbacks that write or drop it.
void install_event_batch_hooks();

}  // namespace eventhooks::pg
