// Writes one event into eventhooks.event_log without SQL: a heap insert plus its index entries.
// This is the row trigger's hot path, so it parses nothing and plans nothing.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

struct NewEvent {
    const char *schema_name;
    const char *table_name;
    const char *trigger_name;
    Datum payload;  // jsonb
};

// Inserts the event (pending, tries 0, created_at = transaction start) and returns its id.
pg_uuid_t write_event(const NewEvent &event);

// A fresh time-ordered id (UUIDv7).
pg_uuid_t new_event_id();

}  // namespace eventhooks::pg
