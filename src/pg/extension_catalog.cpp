// Looks up the extension's tables and functions by name (see extension_catalog.hpp).
#include "pg/extension_catalog.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "parser/parse_func.h"
#include "utils/syscache.h"
}

namespace eventhooks::pg {

static Oid cached_event_log = InvalidOid;
static Oid cached_event_triggers = InvalidOid;
static Oid cached_cron_triggers = InvalidOid;
static Oid cached_cron_events = InvalidOid;
static Oid cached_scheduled_events = InvalidOid;
static Oid cached_capture_function = InvalidOid;
static Oid cached_owner = InvalidOid;

static Oid lookup_table(const char *name) {
    Oid schema = get_namespace_oid("eventhooks", true);
    if (!OidIsValid(schema)) return InvalidOid;
    return get_relname_relid(name, schema);
}

Oid event_log_relid() {
    if (!OidIsValid(cached_event_log)) cached_event_log = lookup_table("event_log");
    return cached_event_log;
}

Oid event_triggers_relid() {
    if (!OidIsValid(cached_event_triggers)) cached_event_triggers = lookup_table("event_triggers");
    return cached_event_triggers;
}

Oid cron_triggers_relid() {
    if (!OidIsValid(cached_cron_triggers)) cached_cron_triggers = lookup_table("cron_triggers");
    return cached_cron_triggers;
}

Oid cron_events_relid() {
    if (!OidIsValid(cached_cron_events)) cached_cron_events = lookup_table("cron_events");
    return cached_cron_events;
}

Oid scheduled_events_relid() {
    if (!OidIsValid(cached_scheduled_events))
        cached_scheduled_events = lookup_table("scheduled_events");
    return cached_scheduled_events;
}

Oid capture_event_function_oid() {
    if (!OidIsValid(cached_capture_function)) {
        List *name =
            list_make2(makeString(pstrdup("eventhooks")), makeString(pstrdup("capture_event")));
        cached_capture_function = LookupFuncName(name, 0, nullptr, true);
    }
    return cached_capture_function;
}

Oid extension_owner() {
    if (!OidIsValid(cached_owner)) {
        Oid relid = event_triggers_relid();
        if (!OidIsValid(relid))
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("extension pg_eventhooks is not installed in this database")));
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
        if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for relation %u", relid);
        cached_owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
        ReleaseSysCache(tuple);
    }
    return cached_owner;
}

void forget_extension_catalog(Oid relid) {
    if (relid == InvalidOid || relid == cached_event_log || relid == cached_event_triggers) {
        cached_event_log = InvalidOid;
        cached_event_triggers = InvalidOid;
        cached_cron_triggers = InvalidOid;
        cached_cron_events = InvalidOid;
        cached_scheduled_events = InvalidOid;
        cached_capture_function = InvalidOid;
        cached_owner = InvalidOid;
    }
}

int spi_execute_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
                         const char *nulls, bool read_only, long max_rows) {
    Oid saved_user;
    int saved_context;
    GetUserIdAndSecContext(&saved_user, &saved_context);
    // Errors abort the transaction, and the abort restores user id and GUCs.
    SetUserIdAndSecContext(extension_owner(), saved_context | SECURITY_LOCAL_USERID_CHANGE);
    int nest_level = NewGUCNestLevel();
    set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                      GUC_ACTION_SAVE, true, 0, false);
    int rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, max_rows);
    AtEOXact_GUC(true, nest_level);
    SetUserIdAndSecContext(saved_user, saved_context);
    if (rc < 0)
        elog(ERROR, "pg_eventhooks: SPI failed (%s) for: %s", SPI_result_code_string(rc), sql);
    return rc;
}

}  // namespace eventhooks::pg
