// Small SQL-callable functions of the extension itself: event ids, cache invalidation,
// CREATE EXTENSION bookkeeping, and the C++ boundary test hook.
#include <stdexcept>
#include <string>

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/uuid.h"
}

#include "core/config_error.hpp"
#include "pg/delivery/commit_wakeup.hpp"
#include "pg/capture/event_writer.hpp"
#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"
#include "pg/delivery/shared_state.hpp"

namespace {

// Counts destructor runs, so the regression test can see that unwinding happened before the
// C++ exception became a Postgres ERROR.
int destructors_run = 0;
struct CountsDestruction {
    std::string buffer = std::string(64, 'x');  // owns heap memory, like real code would
    ~CountsDestruction() { destructors_run++; }
};

}  // namespace

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_new_event_id);
PG_FUNCTION_INFO_V1(eventhooks_configuration_changed);
PG_FUNCTION_INFO_V1(eventhooks_maintain_retry_time);
PG_FUNCTION_INFO_V1(eventhooks_wake_delivery_worker);
PG_FUNCTION_INFO_V1(eventhooks_extension_created);
PG_FUNCTION_INFO_V1(eventhooks_raise_cpp_exception);

Datum eventhooks_new_event_id(PG_FUNCTION_ARGS) {
    return eventhooks::pg::guard_entry([&]() {
        auto *id = static_cast<pg_uuid_t *>(palloc(sizeof(pg_uuid_t)));
        *id = eventhooks::pg::new_event_id();
        return UUIDPGetDatum(id);
    });
}

// Statement trigger on eventhooks.event_triggers: every backend drops its trigger cache at
// the commit of any configuration change, however it was made (API, restore, hand edit).
Datum eventhooks_configuration_changed(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        elog(ERROR, "configuration_changed must be called as a trigger");
    auto *data = reinterpret_cast<TriggerData *>(fcinfo->context);
    CacheInvalidateRelcacheByRelid(RelationGetRelid(data->tg_relation));
    return PointerGetDatum(nullptr);
}

// Statement trigger on cron_events and scheduled_events: a transaction that writes what is due
// wakes the delivery worker at commit, which sleeps until the next due time it knows of. Not the
// worker's own writes (recording results): it knows what it wrote.
Datum eventhooks_wake_delivery_worker(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        elog(ERROR, "wake_delivery_worker must be called as a trigger");
    if (!eventhooks::pg::am_delivery_worker) eventhooks::pg::note_timed_work_written();
    return PointerGetDatum(nullptr);
}

// BEFORE INSERT OR UPDATE row trigger on eventhooks.event_log, fired (see its WHEN) for a row
// that SQL makes pending without a next_retry_at, or settles with one. The worker's cursor may
// be past a pending row's id, so it is made due now, which puts it into event_log_retry, where
// the worker looks, and the worker is woken at commit. A settled row leaves that index.
Datum eventhooks_maintain_retry_time(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "maintain_retry_time must be called as a trigger");
    auto *data = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_BEFORE(data->tg_event) || !TRIGGER_FIRED_FOR_ROW(data->tg_event))
        elog(ERROR, "maintain_retry_time must be a BEFORE ROW trigger");
    HeapTuple row =
        TRIGGER_FIRED_BY_UPDATE(data->tg_event) ? data->tg_newtuple : data->tg_trigtuple;
    TupleDesc desc = RelationGetDescr(data->tg_relation);
    auto column_of = [desc](const char *name) {
        int column = SPI_fnumber(desc, name);
        // NOLINTNEXTLINE(bugprone-lambda-function-name): the message says what is wrong
        if (column <= 0) elog(ERROR, "eventhooks.event_log has no column \"%s\"", name);
        return column;
    };
    auto is_true = [&](const char *name) {
        bool null;
        Datum value = heap_getattr(row, column_of(name), desc, &null);
        return !null && DatumGetBool(value);
    };
    bool pending = !is_true("delivered") && !is_true("error") && !is_true("archived");
    int column = column_of("next_retry_at");
    bool time_is_null;
    (void)heap_getattr(row, column, desc, &time_is_null);
    bool has_time = !time_is_null;
    if (pending == has_time) return PointerGetDatum(row);  // nothing to maintain
    Datum value = (Datum)0;
    bool isnull = !pending;  // settled: no time
    if (pending) {           // pending without a time: due now
        value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        eventhooks::pg::note_event_requeued();
    }
    return PointerGetDatum(heap_modify_tuple_by_cols(row, desc, 1, &column, &value, &isnull));
}

Datum eventhooks_extension_created(PG_FUNCTION_ARGS) {
    if (eventhooks::pg::shared_state() == nullptr)
        ereport(WARNING,
                (errmsg("pg_eventhooks is not in shared_preload_libraries: events will be "
                        "recorded, but nothing will deliver them"),
                 errhint("Add pg_eventhooks to shared_preload_libraries in postgresql.conf and "
                         "restart the server.")));
    else
        eventhooks::pg::note_extension_created();
    PG_RETURN_VOID();
}

Datum eventhooks_raise_cpp_exception(PG_FUNCTION_ARGS) {
    char *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (strcmp(kind, "destructors_run") == 0)
        PG_RETURN_TEXT_P(cstring_to_text(psprintf("%d", destructors_run)));
    return eventhooks::pg::guard_entry([&]() -> Datum {
        CountsDestruction guard;
        std::string what = kind;
        if (what == "runtime_error")
            throw std::runtime_error("C++ runtime_error: " + guard.buffer.substr(0, 3));
        if (what == "config_error") throw eventhooks::core::ConfigError("argument: is wrong");
        if (what == "bad_alloc") throw std::bad_alloc();
        if (what == "postgres_error")
            eventhooks::pg::call_postgres([&]() { (void)DirectFunctionCall2(int4div, 1, 0); });
        return CStringGetTextDatum("no exception");
    });
}
}
