// Module entry: _PG_init defines the settings and the hooks that write a statement's events
// together and, when preloaded, the shared memory, the launcher worker and the utility hook.
// Each part lives in its own file.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
}

#include "pg/capture/event_batch.hpp"
#include "pg/guc.hpp"
#include "pg/delivery/launcher.hpp"
#include "pg/delivery/shared_state.hpp"
#include "pg/capture/trigger_cache.hpp"
#include "pg/utility_hook.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void) {
    eventhooks::pg::define_settings();
    eventhooks::pg::install_event_batch_hooks();
    if (!process_shared_preload_libraries_in_progress) return;
    eventhooks::pg::install_shared_memory_hooks();
    eventhooks::pg::install_utility_hook();
    eventhooks::pg::register_launcher();
}
}
