// Where the extension's own objects are, looked up once per backend and forgotten when the
// relcache says they changed (DROP/CREATE EXTENSION gives them new oids).
#pragma once

extern "C" {
#include "postgres.h"
}

namespace eventhooks::pg {

// InvalidOid when the extension is not installed in this database.
Oid event_log_relid();
Oid event_triggers_relid();
Oid cron_triggers_relid();
Oid cron_events_relid();
Oid scheduled_events_relid();
Oid capture_event_function_oid();

// The role that owns the extension's tables (a superuser): privileged writes run as it.
Oid extension_owner();

// Called for relcache invalidations of `relid` (InvalidOid: all relations).
void forget_extension_catalog(Oid relid);

// Runs privileged SQL on the extension's tables as their owner with a safe search_path.
// Wraps SPI: pass the SQL and its parameters; returns SPI's result code.
int spi_execute_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
                         const char *nulls, bool read_only, long max_rows);

}  // namespace eventhooks::pg
