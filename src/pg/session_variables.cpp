// Reads and validates the session variables settings (see session_variables.hpp). The last
// value is remembered with its parsed form, so the per-row cost is one string comparison.

#include "pg/session_variables.hpp"

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
}

#include "pg/guc.hpp"

namespace eventhooks::pg {

namespace {

char *last_value = nullptr;
Jsonb *last_parsed = nullptr;

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

const Jsonb *current_session_variables() {
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
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        Jsonb *kept = static_cast<Jsonb *>(palloc(VARSIZE(parsed)));
        memcpy(kept, parsed, VARSIZE(parsed));
        char *kept_value = pstrdup(value);
        MemoryContextSwitchTo(old);
        if (last_value != nullptr) {
            pfree(last_value);
            pfree(last_parsed);
        }
        last_value = kept_value;
        last_parsed = kept;
        return last_parsed;
    }
    return nullptr;
}

}  // namespace eventhooks::pg
