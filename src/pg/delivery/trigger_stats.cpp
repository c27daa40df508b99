// The shared-memory parts of eventhooks.trigger_stats (SPEC §7): the worker's requests in
// flight per trigger, and the point from which pending events are counted. Internal functions
// of the view (see the 0.2.0--0.3.0 script, section C).
extern "C" {
#include "postgres.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
}

#include "pg/delivery/shared_state.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_trigger_in_flight);
PG_FUNCTION_INFO_V1(eventhooks_resume_point);

// eventhooks._in_flight(trigger_name text) RETURNS integer: NULL when unknown (library not
// preloaded, or more triggers had requests in flight than a slot shows).
Datum eventhooks_trigger_in_flight(PG_FUNCTION_ARGS) {
    using namespace eventhooks::pg;
    text *name = PG_GETARG_TEXT_PP(0);
    int count = 0;
    if (!read_trigger_in_flight(MyDatabaseId,
                                trigger_name_hash(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)),
                                &count))
        PG_RETURN_NULL();
    PG_RETURN_INT32(count);
}

// eventhooks._resume_point() RETURNS uuid: every pending event of eventhooks.event_log without
// a next_retry_at has an id above it; NULL when unknown (no worker published one since the
// server started, or it was for an event_log since dropped): count from the beginning.
Datum eventhooks_resume_point(PG_FUNCTION_ARGS) {
    using namespace eventhooks::pg;
    Oid relid = InvalidOid;
    pg_uuid_t from;
    if (!read_pending_scan_start(MyDatabaseId, &relid, &from)) PG_RETURN_NULL();
    Oid schema = get_namespace_oid("eventhooks", true);
    if (!OidIsValid(schema) || get_relname_relid("event_log", schema) != relid) PG_RETURN_NULL();
    auto *result = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
    *result = from;
    PG_RETURN_UUID_P(result);
}
}
