// Materializes the upcoming events of cron triggers into eventhooks.cron_events (SPEC §2):
// operators see what will be sent, and a restart loses nothing. Called by the SQL API when a
// trigger is created, replaced or resumed, and by the delivery worker as time moves on.
#pragma once

namespace eventhooks::pg {

// Inserts the times of `trigger_name` (nullptr: of every cron trigger not paused) after the
// latest event it has (or after now, if that is earlier), up to two hours ahead and at least
// the next one, at most kCronEventsPlanned at a time. Skips triggers that already have an event
// more than an hour ahead. Idempotent (one row per trigger and time). SPI must be connected;
// runs as the extension owner. A stored schedule that does not parse raises an ERROR.
void plan_cron_events(const char *trigger_name);

// For the worker: plan_cron_events for each cron trigger that needs it, each in a
// subtransaction of its own, so that one trigger whose stored schedule does not parse (edited
// by hand) stops only its own planning. Returns nullptr, or what failed (palloc'd).
char *plan_each_cron_trigger();

constexpr int kCronEventsPlanned = 120;

}  // namespace eventhooks::pg
