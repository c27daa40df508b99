// The launcher background worker: starts one delivery worker per database that has the
// extension, restarts the ones that die, and forgets dropped databases.
#pragma once

namespace eventhooks::pg {

// From _PG_init (shared_preload_libraries only).
void register_launcher();

}  // namespace eventhooks::pg
