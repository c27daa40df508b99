// Small SQL-callable functions of the extension itself: event ids, cache invalidation,
// CREATE EXTENSION bookkeeping, and the C++ boundary test hook.
#include <stdexcept>
#include <string>

extern "C" {
#include "postgres.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/uuid.h"
}

#include "core/config_error.hpp"
#include "pg/commit_wakeup.hpp"
#include "pg/event_writer.hpp"
#include "pg/extension_catalog.hpp"
#include "pg/pg_guard.hpp"
#include "pg/shared_state.hpp"

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
