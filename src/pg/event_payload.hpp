// Builds an event's payload, {"op", "data": {"old", "new"}, "session_variables"}, as jsonb
// directly (no JSON text to parse): rows are converted the way to_jsonb does, which gives the
// same values as row_to_json(row)::jsonb.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
}

namespace eventhooks::pg {

// A composite datum (a row of any row type, including blessed record types) as jsonb.
Jsonb *row_to_jsonb(Datum composite);

// The payload; old_row/new_row may be nullptr (JSON null). Session variables are read here.
Datum build_event_payload(const char *op, Jsonb *old_row, Jsonb *new_row);

}  // namespace eventhooks::pg
