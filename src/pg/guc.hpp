// The settings of SPEC §5 and §6 (eventhooks.*), defined once in _PG_init.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace eventhooks::pg {

extern int guc_max_concurrent_deliveries;
extern int guc_fetch_batch_size;
extern int guc_poll_interval_ms;
extern int guc_http_response_max_bytes;
extern char *guc_session_variables;
extern char *guc_allowed_env;
extern char *guc_ca_file;
extern char *guc_allowed_destinations;
extern char *guc_denied_destinations;
extern int guc_max_databases;  // defined only when preloaded (a postmaster setting)
extern char *guc_retention;    // "": keep everything (delivery/retention.cpp)
extern int guc_retention_check_interval_ms;  // developer setting: time between passes
extern bool guc_log_successful_request_bodies;

void define_settings();

// True when a non-superuser may name environment variable `name` (eventhooks.allowed_env).
bool env_var_allowed_for_current_user(const char *name);

}  // namespace eventhooks::pg
