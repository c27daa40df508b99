// The session_variables of an event (SPEC §2): eventhooks.session_variables, else hasura.user,
// else request.jwt.claims, else null. Read at the time of the row change.
#pragma once

namespace eventhooks::pg {

// JSON text to splice into the payload ("null" when none is set). ERROR naming the setting
// when its value is not a JSON object.
const char *current_session_variables_json();

}  // namespace eventhooks::pg
