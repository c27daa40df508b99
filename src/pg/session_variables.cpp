// Reads and validates the session variables settings (see session_variables.hpp). The last
// validated value is remembered, so the per-row cost is one string comparison.

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

char *last_valid_value = nullptr;

// Parses with Postgres's own jsonb input (what the payload will be stored as), reporting a
// failure as an ERROR that names the setting.
void require_json_object(const char *setting, const char *value) {
    MemoryContext caller_context = CurrentMemoryContext;
    Datum parsed = (Datum)0;
    PG_TRY();
    {
        parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(value));
    }
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
                               "another JSON value", setting),
                        errdetail("Its value is: %s", value)));
}

}  // namespace

const char *current_session_variables_json() {
    static const char *const settings[] = {"eventhooks.session_variables", "hasura.user",
                                           "request.jwt.claims"};
    for (const char *setting : settings) {
        const char *value = GetConfigOption(setting, true, false);
        if (value == nullptr || value[0] == '\0') continue;
        if (last_valid_value != nullptr && strcmp(value, last_valid_value) == 0) return value;
        require_json_object(setting, value);
        if (last_valid_value != nullptr) pfree(last_valid_value);
        last_valid_value = MemoryContextStrdup(TopMemoryContext, value);
        return value;
    }
    return "null";
}

}  // namespace eventhooks::pg
