// eventhooks.worker_status(): one row per database with the extension that holds a slot in
// shared memory (SPEC §7). 0.3.0 added state, connections_open, last_wakeup_at and started_at:
// only as many columns are filled as the caller's row has (9 until ALTER EXTENSION UPDATE).
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "pg/delivery/shared_state.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_worker_status);

Datum eventhooks_worker_status(PG_FUNCTION_ARGS) {
    using namespace eventhooks::pg;
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    SharedState *state = shared_state();
    if (state == nullptr) return (Datum)0;  // not preloaded: no workers

    int count = state->slot_count;
    auto *slots = static_cast<DeliverySlot *>(palloc(sizeof(DeliverySlot) * count));
    SpinLockAcquire(&state->mutex);
    memcpy(slots, state->slots, sizeof(DeliverySlot) * count);
    SpinLockRelease(&state->mutex);

    for (int i = 0; i < count; i++) {
        const DeliverySlot &slot = slots[i];
        // Only databases known to have the extension: not those whose worker is checking.
        if (slot.database_oid == InvalidOid || slot.extension_missing || slot.no_room ||
            !slot.has_extension)
            continue;
        char *name = get_database_name(slot.database_oid);
        if (name == nullptr) continue;
        constexpr int kColumns = 13;
        Datum values[kColumns];
        bool nulls[kColumns] = {false};
        NameData *database_name = static_cast<NameData *>(palloc0(sizeof(NameData)));
        namestrcpy(database_name, name);
        values[0] = NameGetDatum(database_name);
        values[1] = Int32GetDatum(slot.worker_pid);
        nulls[1] = slot.worker_pid == 0;
        values[2] = Int32GetDatum(slot.requests_in_flight);
        values[3] = Int64GetDatum(slot.events_pending);
        nulls[3] = slot.events_pending < 0 || slot.worker_pid == 0;
        values[4] = Int64GetDatum(slot.events_due);
        nulls[4] = slot.events_due < 0 || slot.worker_pid == 0;
        values[5] = Int64GetDatum(slot.events_sent);
        values[6] = Int64GetDatum(slot.events_failed);
        values[7] = CStringGetTextDatum(slot.last_error);
        nulls[7] = slot.last_error[0] == '\0';
        values[8] = TimestampTzGetDatum(slot.last_error_at);
        nulls[8] = slot.last_error_at == 0;
        bool running = slot.worker_pid != 0;
        values[9] = CStringGetTextDatum(running ? worker_state_name(slot.state) : "stopped");
        values[10] = Int32GetDatum(slot.connections_open);
        nulls[10] = !running;
        values[11] = TimestampTzGetDatum(slot.last_wakeup_at);
        nulls[11] = !running || slot.last_wakeup_at == 0;
        values[12] = TimestampTzGetDatum(slot.started_at);
        nulls[12] = !running || slot.started_at == 0;
        int natts = rsinfo->setDesc->natts;
        if (natts != 9 && natts != kColumns)
            elog(ERROR, "pg_eventhooks: worker_status() called with %d columns", natts);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
}
