// See cron_planning.hpp.
#include "pg/delivery/cron_planning.hpp"

extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

#include "pg/extension_catalog.hpp"

namespace eventhooks::pg {

namespace {

// Times strictly after the latest event of the trigger or now, whichever is later: a time
// already planned (or sent) is never planned twice, and times missed while the server was down
// beyond what was planned are not made up (those planned are sent late within tolerance_sec, or
// marked dead). eventhooks.cron_next_times parses the schedule (src/core/cron_schedule.cpp).
const char *const kPlanSql =
    "INSERT INTO eventhooks.cron_events (trigger_name, scheduled_time) "
    "SELECT t.name, s.at FROM eventhooks.cron_triggers t "
    "CROSS JOIN LATERAL (SELECT max(e.scheduled_time) AS last FROM eventhooks.cron_events e "
    "  WHERE e.trigger_name = t.name) l "
    "CROSS JOIN LATERAL eventhooks.cron_next_times(t.schedule, greatest(l.last, now()), $2) "
    "  WITH ORDINALITY s(at, n) "
    "WHERE NOT t.paused AND ($1::text IS NULL OR t.name = $1) "
    "  AND (l.last IS NULL OR l.last < now() + interval '1 hour') "
    "  AND (s.n = 1 OR s.at <= now() + interval '2 hours') "
    "ON CONFLICT (trigger_name, scheduled_time) DO NOTHING";

}  // namespace

void plan_cron_events(const char *trigger_name) {
    Oid types[2] = {TEXTOID, INT4OID};
    Datum values[2] = {trigger_name ? CStringGetTextDatum(trigger_name) : (Datum)0,
                       Int32GetDatum(kCronEventsPlanned)};
    char nulls[3] = {trigger_name ? ' ' : 'n', ' ', '\0'};
    spi_execute_as_owner(kPlanSql, 2, types, values, nulls, false, 0);
}

}  // namespace eventhooks::pg
