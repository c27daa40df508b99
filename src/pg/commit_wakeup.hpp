// Wakes the delivery worker when a transaction that wrote events commits (GUIDE §4), and the
// launcher when a transaction that created the extension commits.
#pragma once

namespace eventhooks::pg {

// The current transaction wrote an event: at commit, set the worker's latch once.
void note_event_written();

// The current transaction ran CREATE EXTENSION: at commit, ask the launcher for a worker.
void note_extension_created();

}  // namespace eventhooks::pg
