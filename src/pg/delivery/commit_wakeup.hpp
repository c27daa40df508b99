// Wakes the delivery worker when a transaction that wrote events commits (GUIDE §4), and the
// launcher when a transaction that created the extension commits.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

// The current transaction wrote event `id` (directly, bypassing SQL). At commit, the worker is
// woken once and told the smallest id written, since its cursor may already be past it. Such
// a transaction cannot be prepared (PREPARE TRANSACTION): the commit of a prepared transaction
// runs no callback here, so the worker would never learn of its events.
void note_event_written(const pg_uuid_t &id);

// The current transaction made an event pending again through SQL (it then carries a
// next_retry_at, which the worker finds by itself): at commit, wake the worker.
void note_event_requeued();

// The current transaction wrote cron_events or scheduled_events (not the worker): at commit,
// wake the worker and have it check its timed sources (it otherwise looks when one is due).
void note_timed_work_written();

// The current transaction ran CREATE EXTENSION: at commit, ask the launcher for a worker.
void note_extension_created();

}  // namespace eventhooks::pg
