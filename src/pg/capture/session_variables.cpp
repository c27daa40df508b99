// Reads and validates the session variables settings (see session_variables.hpp). The last
// value is remembered with its parsed form, so the per-row cost is one string comparison.

#include "pg/capture/session_variables.hpp"

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
}

#include "pg/guc.hpp"
#include "pg/capture/row_encoder.hpp"

namespace eventhooks::pg {

namespace {

// The last value seen and its parsed tree, both in remembered_context.
MemoryContext remembered_context = nullptr;
char *last_value = nullptr;
const JsonbValue *last_parsed = nullptr;

// Parses with Postgres's own jsonb input (what the payload will be stored as), reporting a
// failure as an ERROR that names the setting.
Jsonb *parse_json_object(const char *setting, const char *value) {
    MemoryContext caller_context = CurrentMemoryContext;
    Datum parsed = (Datum)0;
    PG_TRY();
    { parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(value)); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("setting \"%s\" must be a JSON object of session variables: %s",
                               setting, edata->message),
                        errdetail("Its value is: %s", value)));
    }
    PG_END_TRY();
    if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(parsed)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("setting \"%s\" must be a JSON object of session variables, not "
                               "another JSON value",
                               setting),
                        errdetail("Its value is: %s", value)));
    return DatumGetJsonbP(parsed);
}

}  // namespace

const JsonbValue *current_session_variables() {
    static const char *const settings[] = {"eventhooks.session_variables", "hasura.user",
                                           "request.jwt.claims"};
    for (const char *setting : settings) {
        // Our own setting is read through its variable; the others may be placeholders
        // defined at any time, so they are looked up by name.
        const char *value =
            setting == settings[0] ? guc_session_variables : GetConfigOption(setting, true, false);
        if (value == nullptr || value[0] == '\0') continue;
        if (last_value != nullptr && strcmp(value, last_value) == 0) return last_parsed;
        Jsonb *parsed = parse_json_object(setting, value);
        if (remembered_context == nullptr)
            remembered_context = AllocSetContextCreate(
                TopMemoryContext, "pg_eventhooks session variables", ALLOCSET_SMALL_SIZES);
        MemoryContextReset(remembered_context);
        last_value = nullptr;
        MemoryContext old = MemoryContextSwitchTo(remembered_context);
        // The tree points into its jsonb, so that is copied into the context first.
        auto *kept = static_cast<Jsonb *>(palloc(VARSIZE(parsed)));
        memcpy(kept, parsed, VARSIZE(parsed));
        last_parsed = jsonb_value_tree(kept);
        last_value = pstrdup(value);
        MemoryContextSwitchTo(old);
        return last_parsed;
    }
    return nullptr;
}

}  // namespace eventhooks::pg
