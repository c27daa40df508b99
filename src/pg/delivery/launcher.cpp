// Launcher background worker (see launcher.hpp). Connected to no database, it reads
// pg_database and keeps a delivery worker running for each database that has the extension.
// It cannot read another database's catalog, so a database it knows nothing about is checked
// by starting its worker in a slot: a worker that finds no extension reports it and exits, and
// the launcher frees the slot and remembers the database in its own memory (never in the
// bounded shared slot table). CREATE EXTENSION leaves a request in a slot and wakes it.
extern "C" {
#include "postgres.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "pg/delivery/launcher.hpp"
#include "pg/delivery/shared_state.hpp"

namespace eventhooks::pg {

namespace {

constexpr int kReconcileIntervalMs = 1000;
constexpr int kRestartDelayMs = 1000;  // a crashing worker is restarted at most once a second

// What the launcher knows of a database that holds no slot.
enum class Known : uint8 {
    Nothing,      // to be checked: start its worker in a slot
    NoExtension,  // its worker found no extension (a CREATE EXTENSION leaves a request)
    NoRoom,       // its worker found the extension, every place was held (checked again when
                  // a place frees)
};

struct DatabaseEntry {
    Oid database_oid;  // hash key
    Known known;
    uint64 seen_in_pass;  // pg_database listed it in this pass of reconcile()
    BackgroundWorkerHandle *handle;
    TimestampTz started_at;
    bool start_failed;  // warned once; warn again only after a success
};

HTAB *databases = nullptr;  // Oid -> DatabaseEntry, in the launcher's memory
uint64 pass = 0;
volatile sig_atomic_t shutdown_requested = false;

void handle_sigterm(SIGNAL_ARGS) {
    int saved_errno = errno;
    shutdown_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

void create_database_table() {
    HASHCTL ctl;
    memset(&ctl, 0, sizeof(ctl));
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(DatabaseEntry);
    databases = hash_create("pg_eventhooks launcher databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);
}

// Marks the databases a delivery worker may connect to (not templates, connections allowed)
// as seen in this pass, adding the new ones.
void list_databases() {
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
        if (db->datistemplate || !db->datallowconn) continue;
        bool found;
        auto *entry =
            static_cast<DatabaseEntry *>(hash_search(databases, &db->oid, HASH_ENTER, &found));
        if (!found) {
            entry->known = Known::Nothing;
            entry->handle = nullptr;
            entry->started_at = 0;
            entry->start_failed = false;
        }
        entry->seen_in_pass = pass;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    PopActiveSnapshot();
    CommitTransactionCommand();
}

bool worker_running(DatabaseEntry *entry) {
    if (entry->handle == nullptr) return false;
    pid_t pid;
    if (GetBackgroundWorkerPid(entry->handle, &pid) == BGWH_STOPPED) {
        pfree(entry->handle);
        entry->handle = nullptr;
        return false;
    }
    return true;
}

void start_worker(DatabaseEntry *entry) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof(worker));
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it, and knows when not to
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_eventhooks");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "eventhooks_delivery_worker_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_eventhooks delivery for database %u",
             entry->database_oid);
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_eventhooks delivery");
    worker.bgw_main_arg = ObjectIdGetDatum(entry->database_oid);
    worker.bgw_notify_pid = MyProcPid;  // its start and exit set our latch
    entry->started_at = GetCurrentTimestamp();
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    bool registered = RegisterDynamicBackgroundWorker(&worker, &entry->handle);
    MemoryContextSwitchTo(old);
    if (registered) {
        entry->start_failed = false;
        return;
    }
    entry->handle = nullptr;
    if (!entry->start_failed)
        ereport(WARNING, (errmsg("pg_eventhooks: could not start a delivery worker for database %u",
                                 entry->database_oid),
                          errhint("Raise max_worker_processes: it must leave room for one "
                                  "pg_eventhooks worker per database with the extension.")));
    entry->start_failed = true;
}

// Frees the slots whose worker is done with them: the database is gone, has no extension, or
// found no place. What they said is kept in the database's entry. Returns whether a place
// (eventhooks.max_databases) was freed.
bool settle_slots(SharedState *state) {
    SpinLockAcquire(&state->mutex);
    bool requests_lost = state->requests_lost;
    state->requests_lost = false;
    SpinLockRelease(&state->mutex);
    if (requests_lost) {
        // A CREATE EXTENSION somewhere found no slot for its request: check everything again.
        HASH_SEQ_STATUS status;
        hash_seq_init(&status, databases);
        DatabaseEntry *entry;
        while ((entry = static_cast<DatabaseEntry *>(hash_seq_search(&status))) != nullptr)
            entry->known = Known::Nothing;
    }
    bool place_freed = false;
    SpinLockAcquire(&state->mutex);
    for (int i = 0; i < state->slot_count; i++) {
        DeliverySlot *slot = &state->slots[i];
        if (slot->database_oid == InvalidOid || slot->worker_pid != 0) continue;
        auto *entry = static_cast<DatabaseEntry *>(
            hash_search(databases, &slot->database_oid, HASH_FIND, nullptr));
        bool gone = entry == nullptr || entry->seen_in_pass != pass;
        if (!gone && !slot->extension_missing && !slot->no_room) continue;
        if (!gone) entry->known = slot->extension_missing ? Known::NoExtension : Known::NoRoom;
        if (slot->serving) place_freed = true;
        slot->database_oid = InvalidOid;
    }
    SpinLockRelease(&state->mutex);
    return place_freed;
}

// One pass: start what should run, check what is unknown, forget what no longer exists.
// Returns ms until the next pass is needed.
long reconcile() {
    SharedState *state = shared_state();
    pass++;
    list_databases();
    long next_ms = kReconcileIntervalMs;
    TimestampTz now = GetCurrentTimestamp();

    bool place_freed = settle_slots(state);
    int free_slots = 0;
    int checking = 0;  // slots not (yet) holding a place: checks and fresh requests
    SpinLockAcquire(&state->mutex);
    for (int i = 0; i < state->slot_count; i++) {
        if (state->slots[i].database_oid == InvalidOid)
            free_slots++;
        else if (!state->slots[i].serving)
            checking++;
    }
    SpinLockRelease(&state->mutex);

    HASH_SEQ_STATUS status;
    hash_seq_init(&status, databases);
    DatabaseEntry *entry;
    while ((entry = static_cast<DatabaseEntry *>(hash_seq_search(&status))) != nullptr) {
        if (entry->seen_in_pass != pass) {
            // Gone from pg_database: forget it once its worker has exited.
            if (!worker_running(entry)) hash_search(databases, &entry->database_oid, HASH_REMOVE,
                                                    nullptr);
            continue;
        }
        if (place_freed && entry->known == Known::NoRoom) entry->known = Known::Nothing;
        Oid database_oid = entry->database_oid;
        SpinLockAcquire(&state->mutex);
        DeliverySlot *slot = find_slot_locked(database_oid, false);
        bool wanted = slot != nullptr && !slot->extension_missing && !slot->no_room &&
                      !slot->database_dropping;
        SpinLockRelease(&state->mutex);
        if (slot != nullptr) entry->known = Known::Nothing;  // a request, or being served
        if (worker_running(entry)) continue;
        if (slot == nullptr) {
            if (entry->known != Known::Nothing) continue;
            // Check it in a slot of its own; a few at a time (each check ends by waking us).
            if (free_slots == 0 || checking >= kCheckingSlots) continue;
            SpinLockAcquire(&state->mutex);
            slot = find_slot_locked(database_oid, true);
            SpinLockRelease(&state->mutex);
            if (slot == nullptr) continue;
            free_slots--;
            checking++;
        } else if (!wanted) {
            continue;
        }
        long since_start_ms = (now - entry->started_at) / 1000;
        if (entry->started_at != 0 && since_start_ms < kRestartDelayMs) {
            next_ms = Min(next_ms, kRestartDelayMs - since_start_ms);
            continue;
        }
        start_worker(entry);
    }
    return next_ms;
}

}  // namespace

void register_launcher() {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof(worker));
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    // Not on a hot standby: delivery starts after promotion.
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 5;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_eventhooks");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "eventhooks_launcher_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_eventhooks launcher");
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_eventhooks launcher");
    RegisterBackgroundWorker(&worker);
}

}  // namespace eventhooks::pg

extern "C" {
PGDLLEXPORT void eventhooks_launcher_main(Datum);

void eventhooks_launcher_main(Datum) {
    using namespace eventhooks::pg;
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, handle_sigterm);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

    create_database_table();
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    state->launcher_pid = MyProcPid;
    state->launcher_latch = MyLatch;
    SpinLockRelease(&state->mutex);
    ereport(LOG, (errmsg("pg_eventhooks launcher started")));

    while (!shutdown_requested) {
        long wait_ms = reconcile();
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
    }

    SpinLockAcquire(&state->mutex);
    state->launcher_pid = 0;
    state->launcher_latch = nullptr;
    SpinLockRelease(&state->mutex);
    ereport(LOG, (errmsg("pg_eventhooks launcher stopped")));
    proc_exit(0);
}
}
