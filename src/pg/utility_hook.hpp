// ProcessUtility hook: a delivery worker connected to a database must never block DROP
// DATABASE (or ALTER DATABASE RENAME, or CREATE DATABASE using it as template), so those
// statements first stop the worker and keep the launcher from starting it again.
#pragma once

namespace eventhooks::pg {

void install_utility_hook();

}  // namespace eventhooks::pg
