// The worker's resume point kept in a table (eventhooks.worker_resume_point), so that its start
// after a server restart does not scan event_log from the beginning. Why the point is safe:
// resume_point.cpp.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

// The lowest event id that a transaction of this database in progress now (other than this
// process's) could have written, minus a clock margin; with none in progress, that of now
// minus the margin. Call it before the round takes its rescan hint. False when a backend of
// this database runs with track_activities off (its transaction's start is not known): keep no
// point then. Raw Postgres: wrap it in call_postgres.
bool lowest_id_in_progress(pg_uuid_t *bound);

// Within a transaction with SPI connected (raw Postgres, may ERROR). The point kept for this
// server (a physical standby shares its system identifier) and this event_log; false when
// there is none, or no table (a 0.2.0 schema, before ALTER EXTENSION ... UPDATE).
bool read_persisted_resume_point(Oid event_log_relid, pg_uuid_t *from);
// Keeps `from` as the point; does nothing without the table.
void persist_resume_point(Oid event_log_relid, const pg_uuid_t &from);

}  // namespace eventhooks::pg
