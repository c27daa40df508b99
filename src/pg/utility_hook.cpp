// Stops the delivery worker of a database before statements that need it to have no
// connections (see utility_hook.hpp).
extern "C" {
#include "postgres.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"
#include "pgstat.h"
}

#include <csignal>

#include "pg/delivery/shared_state.hpp"
#include "pg/utility_hook.hpp"

namespace eventhooks::pg {

namespace {

ProcessUtility_hook_type previous_utility_hook = nullptr;

// The database a statement needs free of other connections, or nullptr.
const char *database_needing_exclusive_access(Node *statement, bool *is_drop) {
    *is_drop = false;
    if (IsA(statement, DropdbStmt)) {
        *is_drop = true;
        return castNode(DropdbStmt, statement)->dbname;
    }
    if (IsA(statement, RenameStmt) &&
        castNode(RenameStmt, statement)->renameType == OBJECT_DATABASE)
        return castNode(RenameStmt, statement)->subname;
    if (IsA(statement, CreatedbStmt)) {
        ListCell *cell;
        foreach (cell, castNode(CreatedbStmt, statement)->options) {
            DefElem *option = lfirst_node(DefElem, cell);
            if (strcmp(option->defname, "template") == 0) return defGetString(option);
        }
    }
    return nullptr;
}

// Marks the database as not to be served and waits (up to 5 s) for its worker to exit.
void stop_worker(Oid database_oid, bool stop) {
    SharedState *state = shared_state();
    pid_t pid = 0;
    SpinLockAcquire(&state->mutex);
    DeliverySlot *slot = find_slot_locked(database_oid, false);
    if (slot != nullptr) {
        slot->database_dropping = stop;
        pid = slot->worker_pid;
    }
    SpinLockRelease(&state->mutex);
    if (!stop) {
        wake_launcher();
        return;
    }
    if (pid == 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        SpinLockAcquire(&state->mutex);
        pid = slot->worker_pid;
        SpinLockRelease(&state->mutex);
        if (pid == 0) return;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

void utility_hook(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                  ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *query_env,
                  DestReceiver *dest, QueryCompletion *qc) {
    bool drop_found = false;
    const char *dbname = shared_state()
                             ? database_needing_exclusive_access(pstmt->utilityStmt, &drop_found)
                             : nullptr;
    const volatile bool is_drop = drop_found;
    const volatile Oid database_oid = dbname ? get_database_oid(dbname, true) : InvalidOid;
    if (OidIsValid(database_oid)) stop_worker(database_oid, true);
    PG_TRY();
    {
        if (previous_utility_hook)
            previous_utility_hook(pstmt, query_string, read_only_tree, context, params, query_env,
                                  dest, qc);
        else
            standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                    dest, qc);
    }
    PG_CATCH();
    {
        if (OidIsValid(database_oid)) stop_worker(database_oid, false);
        PG_RE_THROW();
    }
    PG_END_TRY();
    // After a DROP the database is gone and the launcher forgets it; otherwise serve it again.
    if (OidIsValid(database_oid) && !is_drop) stop_worker(database_oid, false);
}

}  // namespace

void install_utility_hook() {
    previous_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = utility_hook;
}

}  // namespace eventhooks::pg
