// Writes events into eventhooks.event_log without SQL: heap inserts plus their index entries.
// This is the row trigger's hot path, so it parses nothing and plans nothing.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "utils/relcache.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

struct NewEvent {
    const char *schema_name;
    const char *table_name;
    const char *trigger_name;
    Datum payload;  // jsonb
};

// Most rows insert_event_tuples takes at once.
constexpr int kMaxEventBatch = 1000;

// Inserts the event (pending, tries 0, created_at = transaction start) now; returns its id.
pg_uuid_t write_event(const NewEvent &event);

// The parts of write_event, for the statement's batch (event_batch.hpp):
// event_log opened with RowExclusiveLock (close it with NoLock), its column layout loaded;
Relation open_event_log();
// the event's row, in the current memory context (`desc`: event_log's), and its new id, which
// is also reported to the worker's commit hint;
HeapTuple form_event_tuple(TupleDesc desc, const NewEvent &event, pg_uuid_t *id);
// and the rows inserted with their index entries (up to kMaxEventBatch).
void insert_event_tuples(Relation rel, HeapTuple *tuples, int count);

// A fresh time-ordered id (UUIDv7).
pg_uuid_t new_event_id();

}  // namespace eventhooks::pg
