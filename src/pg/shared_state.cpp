// Shared memory of pg_eventhooks (see shared_state.hpp): setup and the few operations on it.
#include "pg/shared_state.hpp"

#include "pg/uuid_order.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/lwlock.h"
}

namespace eventhooks::pg {

static SharedState *state = nullptr;
static shmem_request_hook_type previous_shmem_request_hook = nullptr;
static shmem_startup_hook_type previous_shmem_startup_hook = nullptr;

static void request_shared_memory() {
    if (previous_shmem_request_hook) previous_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

static void attach_shared_memory() {
    if (previous_shmem_startup_hook) previous_shmem_startup_hook();
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    state =
        static_cast<SharedState *>(ShmemInitStruct("pg_eventhooks", sizeof(SharedState), &found));
    if (!found) {
        memset(state, 0, sizeof(SharedState));
        SpinLockInit(&state->mutex);
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
    for (auto &slot : state->slots) {
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
        slot->request_count++;
    }
    SpinLockRelease(&state->mutex);
    wake_launcher();
}

}  // namespace eventhooks::pg
