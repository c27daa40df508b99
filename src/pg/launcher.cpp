// Launcher background worker (see launcher.hpp). Connected to no database, it reads
// pg_database and keeps a delivery worker running for each database whose worker has not
// reported "no extension here". CREATE EXTENSION clears that report and wakes it.
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "pg/launcher.hpp"
#include "pg/shared_state.hpp"

namespace eventhooks::pg {

namespace {

constexpr int kReconcileIntervalMs = 1000;
constexpr int kRestartDelayMs = 1000;  // a crashing worker is restarted at most once a second

struct WorkerHandle {
    Oid database_oid;
    BackgroundWorkerHandle *handle;
    TimestampTz started_at;
    bool start_failed;  // warned once; warn again only after a success
};

WorkerHandle handles[kMaxDatabases];
volatile sig_atomic_t shutdown_requested = false;

void handle_sigterm(SIGNAL_ARGS) {
    int saved_errno = errno;
    shutdown_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

// Databases a delivery worker may connect to: not templates, connections allowed.
List *list_databases() {
    List *oids = NIL;
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    MemoryContext result_context = TopMemoryContext;
    while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
        if (db->datistemplate || !db->datallowconn) continue;
        MemoryContext old = MemoryContextSwitchTo(result_context);
        oids = lappend_oid(oids, db->oid);
        MemoryContextSwitchTo(old);
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    PopActiveSnapshot();
    CommitTransactionCommand();
    return oids;
}

WorkerHandle *handle_for(Oid database_oid, bool create) {
    WorkerHandle *free_handle = nullptr;
    for (auto &h : handles) {
        if (h.database_oid == database_oid) return &h;
        if (free_handle == nullptr && h.database_oid == InvalidOid) free_handle = &h;
    }
    if (!create || free_handle == nullptr) return nullptr;
    free_handle->database_oid = database_oid;
    free_handle->handle = nullptr;
    free_handle->started_at = 0;
    free_handle->start_failed = false;
    return free_handle;
}

bool worker_running(WorkerHandle *h) {
    if (h->handle == nullptr) return false;
    pid_t pid;
    if (GetBackgroundWorkerPid(h->handle, &pid) == BGWH_STOPPED) {
        pfree(h->handle);
        h->handle = nullptr;
        return false;
    }
    return true;
}

void start_worker(WorkerHandle *h) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof(worker));
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it, and knows when not to
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_eventhooks");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "eventhooks_delivery_worker_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_eventhooks delivery for database %u",
             h->database_oid);
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_eventhooks delivery");
    worker.bgw_main_arg = ObjectIdGetDatum(h->database_oid);
    worker.bgw_notify_pid = MyProcPid;
    h->started_at = GetCurrentTimestamp();
    if (RegisterDynamicBackgroundWorker(&worker, &h->handle)) {
        h->start_failed = false;
        return;
    }
    h->handle = nullptr;
    if (!h->start_failed)
        ereport(WARNING, (errmsg("pg_eventhooks: could not start a delivery worker for database %u",
                                 h->database_oid),
                          errhint("Raise max_worker_processes: it must leave room for one "
                                  "pg_eventhooks worker per database with the extension.")));
    h->start_failed = true;
}

// One pass: start what should run, forget what no longer exists. Returns ms until the next
// pass is needed.
long reconcile() {
    SharedState *state = shared_state();
    List *databases = list_databases();
    long next_ms = kReconcileIntervalMs;
    TimestampTz now = GetCurrentTimestamp();

    // Forget databases that are gone.
    for (auto &h : handles) {
        if (h.database_oid == InvalidOid || list_member_oid(databases, h.database_oid)) continue;
        if (worker_running(&h)) continue;  // it will exit on its own
        SpinLockAcquire(&state->mutex);
        DeliverySlot *slot = find_slot_locked(h.database_oid, false);
        if (slot != nullptr && slot->worker_pid == 0) slot->database_oid = InvalidOid;
        SpinLockRelease(&state->mutex);
        h.database_oid = InvalidOid;
    }

    ListCell *cell;
    foreach (cell, databases) {
        Oid database_oid = lfirst_oid(cell);
        SpinLockAcquire(&state->mutex);
        DeliverySlot *slot = find_slot_locked(database_oid, true);
        bool wanted = slot != nullptr && !slot->extension_missing && !slot->database_dropping;
        SpinLockRelease(&state->mutex);
        WorkerHandle *h = handle_for(database_oid, wanted);
        if (!wanted || h == nullptr || worker_running(h)) continue;
        long since_start_ms = (now - h->started_at) / 1000;
        if (h->started_at != 0 && since_start_ms < kRestartDelayMs) {
            next_ms = Min(next_ms, kRestartDelayMs - since_start_ms);
            continue;
        }
        start_worker(h);
    }
    list_free(databases);
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
