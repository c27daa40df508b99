// Reads and validates the session variables settings (see session_variables.hpp). The last
// validated value is remembered, so the per-row cost is one string comparison.
#include <nlohmann/json.hpp>

#include "pg/session_variables.hpp"

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
#include "utils/memutils.h"
}

#include "pg/guc.hpp"

namespace eventhooks::pg {

namespace {

char *last_valid_value = nullptr;

// Why the value is not a JSON object, or nullptr when it is one. No Postgres calls inside.
const char *json_object_problem(const char *value) noexcept {
    try {
        auto parsed = nlohmann::json::parse(value);
        return parsed.is_object() ? nullptr : "it is valid JSON but not an object";
    } catch (const nlohmann::json::parse_error &) {
        return "it is not valid JSON";
    } catch (...) {
        return "it could not be read";
    }
}

}  // namespace

const char *current_session_variables_json() {
    static const char *const settings[] = {"eventhooks.session_variables", "hasura.user",
                                           "request.jwt.claims"};
    for (const char *setting : settings) {
        const char *value = GetConfigOption(setting, true, false);
        if (value == nullptr || value[0] == '\0') continue;
        if (last_valid_value != nullptr && strcmp(value, last_valid_value) == 0) return value;
        const char *problem = json_object_problem(value);
        if (problem != nullptr)
            ereport(ERROR,
                    (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                     errmsg("setting \"%s\" must be a JSON object of session variables, but %s",
                            setting, problem),
                     errdetail("Its value is: %s", value)));
        if (last_valid_value != nullptr) pfree(last_valid_value);
        last_valid_value = MemoryContextStrdup(TopMemoryContext, value);
        return value;
    }
    return "null";
}

}  // namespace eventhooks::pg
