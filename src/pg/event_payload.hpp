// Builds an event's payload, {"op", "data": {"old", "new"}, "session_variables"}, as jsonb
// directly (no JSON text to parse): rows are converted the way to_jsonb does, which gives the
// same values as row_to_json(row)::jsonb.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
}

namespace eventhooks::pg {

// The payload of a row change: old_row/new_row are composite datums (rows of any row type,
// including blessed record types), or (Datum)0 for JSON null. The whole payload is converted
// by one to_jsonb call over a nested record, so each value is serialized once. Session
// variables are read here.
Datum build_row_event_payload(const char *op, Datum old_row, Datum new_row);

// The payload of a manual invocation: new_value is the given jsonb (nullptr: JSON null).
Datum build_manual_event_payload(const Jsonb *new_value);

}  // namespace eventhooks::pg
