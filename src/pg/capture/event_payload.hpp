// Builds an event's payload, {"op", "data": {"old", "new"}, "session_variables"}, as jsonb
// directly (no JSON text to parse): the rows come as JsonbValue trees from row_encoder, and
// the whole payload is serialized once.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
}

namespace eventhooks::pg {

// The payload; old_row/new_row may be nullptr (JSON null). Session variables are read here.
Datum build_event_payload(const char *op, const JsonbValue *old_row, const JsonbValue *new_row);

}  // namespace eventhooks::pg
