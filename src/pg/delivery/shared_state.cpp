// Shared memory of pg_eventhooks (see shared_state.hpp): setup and the few operations on it.
#include "pg/delivery/shared_state.hpp"

#include "pg/guc.hpp"
#include "pg/delivery/uuid_order.hpp"

extern "C" {
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/lwlock.h"
}

namespace eventhooks::pg {

bool am_delivery_worker = false;

static SharedState *state = nullptr;
static shmem_request_hook_type previous_shmem_request_hook = nullptr;
static shmem_startup_hook_type previous_shmem_startup_hook = nullptr;

// eventhooks.max_databases is a postmaster setting: the same in every process.
static int slot_count() { return guc_max_databases + kCheckingSlots; }

static Size shared_memory_size() {
    return add_size(MAXALIGN(sizeof(SharedState)), mul_size(slot_count(), sizeof(DeliverySlot)));
}

static void request_shared_memory() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    RequestAddinShmemSpace(shared_memory_size());
}

static void attach_shared_memory() {
    if (previous_shmem_startup_hook) previous_shmem_startup_hook();
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    Size size = shared_memory_size();
    state = static_cast<SharedState *>(ShmemInitStruct("pg_eventhooks", size, &found));
    if (!found) {
        memset(state, 0, size);
        SpinLockInit(&state->mutex);
        state->slot_count = slot_count();
        state->slots = reinterpret_cast<DeliverySlot *>(reinterpret_cast<char *>(state) +
                                                        MAXALIGN(sizeof(SharedState)));
    }
    LWLockRelease(AddinShmemInitLock);
}

void install_shared_memory_hooks() {
    previous_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
    previous_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = attach_shared_memory;
}

SharedState *shared_state() { return state; }

DeliverySlot *find_slot_locked(Oid database_oid, bool create) {
    DeliverySlot *free_slot = nullptr;
    for (int i = 0; i < state->slot_count; i++) {
        DeliverySlot &slot = state->slots[i];
        if (slot.database_oid == database_oid) return &slot;
        if (free_slot == nullptr && slot.database_oid == InvalidOid) free_slot = &slot;
    }
    if (!create || free_slot == nullptr) return nullptr;
    memset(free_slot, 0, sizeof(DeliverySlot));
    free_slot->database_oid = database_oid;
    return free_slot;
}

void wake_delivery_worker(Oid database_oid, const pg_uuid_t *rescan_from) {
    if (state == nullptr) return;
    Latch *latch = nullptr;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    if (slot != nullptr) {
        if (slot->worker_pid != 0) latch = slot->worker_latch;
        if (rescan_from != nullptr &&
            (!slot->rescan_requested || uuid_less(*rescan_from, slot->rescan_from))) {
            slot->rescan_from = *rescan_from;
            slot->rescan_requested = true;
        }
    }
    SpinLockRelease(&state->mutex);
    // A PGPROC latch stays valid memory after its process exits, so a stale pointer is harmless.
    if (latch != nullptr) SetLatch(latch);
}

void wake_delivery_worker_for_timed_work(Oid database_oid) {
    if (state == nullptr) return;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    if (slot != nullptr) slot->timed_work_written = true;
    SpinLockRelease(&state->mutex);
    wake_delivery_worker(database_oid);
}

bool take_timed_work_written(Oid database_oid) {
    if (state == nullptr) return false;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    bool written = slot != nullptr && slot->timed_work_written;
    if (written) slot->timed_work_written = false;
    SpinLockRelease(&state->mutex);
    return written;
}

bool take_rescan_request(Oid database_oid, pg_uuid_t *from) {
    if (state == nullptr) return false;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    bool requested = slot != nullptr && slot->rescan_requested;
    if (requested) {
        *from = uuid_before(slot->rescan_from);
        slot->rescan_requested = false;
        if (slot->resume_valid && uuid_less(*from, slot->resume_from)) slot->resume_from = *from;
    }
    SpinLockRelease(&state->mutex);
    return requested;
}

void publish_resume_point(Oid database_oid, Oid event_log_relid, const pg_uuid_t &from) {
    if (state == nullptr) return;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    if (slot != nullptr) {
        slot->resume_valid = true;
        slot->resume_relid = event_log_relid;
        slot->resume_from = from;
    }
    SpinLockRelease(&state->mutex);
}

bool read_resume_point(Oid database_oid, Oid *event_log_relid, pg_uuid_t *from) {
    if (state == nullptr) return false;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    bool valid = slot != nullptr && slot->resume_valid;
    if (valid) {
        *event_log_relid = slot->resume_relid;
        *from = slot->resume_from;
    }
    SpinLockRelease(&state->mutex);
    return valid;
}

bool read_pending_scan_start(Oid database_oid, Oid *event_log_relid, pg_uuid_t *from) {
    if (state == nullptr) return false;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    bool valid = slot != nullptr && slot->resume_valid;
    if (valid) {
        *event_log_relid = slot->resume_relid;
        *from = slot->resume_from;
        if (slot->rescan_requested) {
            pg_uuid_t before = uuid_before(slot->rescan_from);
            if (uuid_less(before, *from)) *from = before;
        }
    }
    SpinLockRelease(&state->mutex);
    return valid;
}

uint32 trigger_name_hash(const char *name, size_t length) {
    return hash_bytes(reinterpret_cast<const unsigned char *>(name), static_cast<int>(length));
}

bool read_trigger_in_flight(Oid database_oid, uint32 name_hash, int *count) {
    if (state == nullptr) return false;
    bool known = true;
    *count = 0;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    if (slot != nullptr && slot->worker_pid != 0) {
        bool found = false;
        for (int i = 0; i < slot->in_flight_trigger_count; i++)
            if (slot->in_flight_by_trigger[i].name_hash == name_hash) {
                *count += slot->in_flight_by_trigger[i].count;  // a hash collision adds up
                found = true;
            }
        if (!found && slot->in_flight_overflow) known = false;
    }
    SpinLockRelease(&state->mutex);
    return known;
}

void publish_in_flight(DeliverySlot *slot, int total,
                       const std::unordered_map<std::string, int> &by_trigger) {
    TriggerInFlight entries[kInFlightTriggers];
    int n = 0;
    bool overflow = false;
    for (const auto &[name, count] : by_trigger) {
        if (n == kInFlightTriggers) {
            overflow = true;
            break;
        }
        entries[n++] = TriggerInFlight{trigger_name_hash(name.data(), name.size()), count};
    }
    SpinLockAcquire(&state->mutex);
    slot->requests_in_flight = total;
    slot->in_flight_trigger_count = n;
    slot->in_flight_overflow = overflow;
    memcpy(slot->in_flight_by_trigger, entries, sizeof(TriggerInFlight) * n);
    SpinLockRelease(&state->mutex);
}

void publish_worker_state(DeliverySlot *slot, WorkerState worker_state, int64 connections_open) {
    SpinLockAcquire(&state->mutex);
    slot->state = worker_state;
    slot->connections_open = static_cast<int32>(connections_open);
    SpinLockRelease(&state->mutex);
}

void publish_wakeup(DeliverySlot *slot) {
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&state->mutex);
    slot->last_wakeup_at = now;
    SpinLockRelease(&state->mutex);
}

const char *worker_state_name(WorkerState worker_state) {
    switch (worker_state) {
        case WorkerState::Starting:
            return "starting";
        case WorkerState::Idle:
            return "idle";
        case WorkerState::Delivering:
            return "delivering";
        case WorkerState::Holding:
            return "holding";
        case WorkerState::Stopping:
            return "stopping";
    }
    return "unknown";
}

void wake_launcher() {
    if (state == nullptr) return;
    SpinLockAcquire(&state->mutex);
    Latch *latch = state->launcher_latch;
    SpinLockRelease(&state->mutex);
    if (latch != nullptr) SetLatch(latch);
}

void request_delivery_worker(Oid database_oid) {
    if (state == nullptr) return;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, true);
    if (slot != nullptr) {
        slot->extension_missing = false;
        slot->has_extension = true;
        slot->request_count++;
    } else {
        state->requests_lost = true;
    }
    SpinLockRelease(&state->mutex);
    wake_launcher();
}

bool take_delivery_place(DeliverySlot *slot) {
    SpinLockAcquire(&state->mutex);
    slot->has_extension = true;
    if (!slot->serving) {
        int serving = 0;
        for (int i = 0; i < state->slot_count; i++)
            if (state->slots[i].serving) serving++;
        if (serving < guc_max_databases)
            slot->serving = true;
        else
            slot->no_room = true;
    }
    bool taken = slot->serving;
    SpinLockRelease(&state->mutex);
    return taken;
}

}  // namespace eventhooks::pg
