// The session_variables of an event (SPEC §2): eventhooks.session_variables, else hasura.user,
// else request.jwt.claims, else null. Read at the time of the row change.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
}

namespace eventhooks::pg {

// The current session variables as a jsonb object tree (to embed in a payload), or nullptr
// when none is set. ERROR naming the setting when its value is not a JSON object.
const JsonbValue *current_session_variables();

}  // namespace eventhooks::pg
