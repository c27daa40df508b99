// See cron_planning.hpp.
#include "pg/delivery/cron_planning.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
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

// The triggers whose plan does not reach an hour ahead (kPlanSql's own condition).
const char *const kToPlanSql =
    "SELECT t.name FROM eventhooks.cron_triggers t WHERE NOT t.paused AND NOT EXISTS ("
    "  SELECT FROM eventhooks.cron_events e WHERE e.trigger_name = t.name "
    "  AND e.scheduled_time >= now() + interval '1 hour')";

// Plans one trigger in a subtransaction; on an ERROR, rolls it back and says why in `problems`.
void plan_in_subtransaction(const char *name, StringInfo problems) {
    MemoryContext context = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(context);
    PG_TRY();
    {
        plan_cron_events(name);
        ReleaseCurrentSubTransaction();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(context);
        ErrorData *error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        appendStringInfo(problems, "%scron trigger \"%s\": %s", problems->len > 0 ? "; " : "",
                         name, error->message);
        FreeErrorData(error);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(context);
    CurrentResourceOwner = owner;
}

}  // namespace

char *plan_each_cron_trigger() {
    spi_execute_as_owner(kToPlanSql, 0, nullptr, nullptr, nullptr, true, 0);
    uint64 count = SPI_processed;
    char **names = static_cast<char **>(palloc(sizeof(char *) * (count + 1)));
    for (uint64 i = 0; i < count; i++)
        names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
    StringInfoData problems;
    initStringInfo(&problems);
    for (uint64 i = 0; i < count; i++) plan_in_subtransaction(names[i], &problems);
    return problems.len > 0 ? problems.data : nullptr;
}

void plan_cron_events(const char *trigger_name) {
    Oid types[2] = {TEXTOID, INT4OID};
    Datum values[2] = {trigger_name ? CStringGetTextDatum(trigger_name) : (Datum)0,
                       Int32GetDatum(kCronEventsPlanned)};
    char nulls[3] = {trigger_name ? ' ' : 'n', ' ', '\0'};
    spi_execute_as_owner(kPlanSql, 2, types, values, nulls, false, 0);
}

}  // namespace eventhooks::pg
