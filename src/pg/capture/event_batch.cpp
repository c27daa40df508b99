// A statement's events, written together (see event_batch.hpp).
//
// Rows must carry the xid of the (sub)transaction whose statement made them, so a batch has
// one owner: the subtransaction it was started in. It is written only while that
// subtransaction is the current one (at the end of any statement run in it, at its commit, at
// the top-level commit), and dropped when it aborts, with the changes its events describe.
// An event raised while the batch belongs to an outer subtransaction is written at once.
#include "pg/capture/event_batch.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

namespace eventhooks::pg {

namespace {

constexpr Size kMaxBatchBytes = 8 * 1024 * 1024;

struct Batch {
    MemoryContext context = nullptr;  // child of TopTransactionContext: gone at its end
    TupleDesc desc = nullptr;         // event_log's, copied when the batch starts
    Oid relid = InvalidOid;
    SubTransactionId owner = InvalidSubTransactionId;
    int count = 0;
    Size bytes = 0;
    HeapTuple tuples[kMaxEventBatch];
};
Batch batch;

// Statements ended in this backend, and the count when the last event was recorded: an event
// recorded at a new count is its statement's first, which is written at once, so that a
// single-row statement pays nothing for batching. Its second and later events are batched.
uint64 statements_ended = 0;
uint64 statement_of_last_event = ~uint64{0};

// A library loaded in the middle of a statement (not preloaded) missed that statement's
// ExecutorFinish hook: no batching for the rest of that transaction.
LocalTransactionId loaded_in_transaction = InvalidLocalTransactionId;

ExecutorFinish_hook_type previous_executor_finish = nullptr;
ProcessUtility_hook_type previous_process_utility = nullptr;

void drop_batch() {
    batch.count = 0;
    batch.bytes = 0;
    batch.desc = nullptr;
    if (batch.context != nullptr) MemoryContextReset(batch.context);
}

void write_batch() {
    if (batch.count == 0) return;
    Relation rel = open_event_log();
    // The batch holds RowExclusiveLock on event_log since its first row, so the table cannot
    // have been dropped or altered since; check anyway rather than write a row of another shape.
    if (RelationGetRelid(rel) != batch.relid || RelationGetDescr(rel)->natts != batch.desc->natts)
        elog(ERROR, "pg_eventhooks: eventhooks.event_log changed while events waited to be written");
    int count = batch.count;
    batch.count = 0;  // an ERROR below aborts the owner, and these rows with it
    insert_event_tuples(rel, batch.tuples, count);
    table_close(rel, NoLock);
    drop_batch();
}

void write_batch_if_current() {
    if (batch.count > 0 && batch.owner == GetCurrentSubTransactionId()) write_batch();
}

void on_transaction_event(XactEvent event, void *) {
    switch (event) {
        case XACT_EVENT_PRE_COMMIT:
        case XACT_EVENT_PARALLEL_PRE_COMMIT:
            write_batch();  // every subtransaction has ended: the owner is the top level
            break;
        case XACT_EVENT_PRE_PREPARE:
            break;  // refused when events were recorded (commit_wakeup.cpp)
        default:  // commit, abort, prepare: TopTransactionContext and the batch are gone
            // Only events recorded after the pre-commit write, by a path that ends no
            // statement, could be left at commit: say so rather than lose them silently.
            if (event == XACT_EVENT_COMMIT && batch.count > 0)
                elog(WARNING, "pg_eventhooks: %d events recorded during commit were not written",
                     batch.count);
            batch.context = nullptr;
            drop_batch();
            break;
    }
}

void on_subtransaction_event(SubXactEvent event, SubTransactionId sub, SubTransactionId, void *) {
    if (batch.count == 0 || batch.owner != sub) return;
    if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
        write_batch();
    else if (event == SUBXACT_EVENT_ABORT_SUB)
        drop_batch();
}

// After a statement's AFTER triggers have fired (they fire inside ExecutorFinish).
void executor_finish(QueryDesc *query) {
    if (previous_executor_finish)
        previous_executor_finish(query);
    else
        standard_ExecutorFinish(query);
    write_batch_if_current();
    statements_ended++;
}

// COPY FROM fires its AFTER triggers inside the utility statement.
void process_utility(PlannedStmt *pstmt, const char *query_string, bool read_only_tree,
                     ProcessUtilityContext context, ParamListInfo params,
                     QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc) {
    if (previous_process_utility)
        previous_process_utility(pstmt, query_string, read_only_tree, context, params, query_env,
                                 dest, qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
    write_batch_if_current();
    statements_ended++;
}

void start_batch() {
    if (batch.context == nullptr)
        batch.context = AllocSetContextCreate(TopTransactionContext, "pg_eventhooks statement events",
                                              ALLOCSET_DEFAULT_SIZES);
    Relation rel = open_event_log();  // its lock stays until the transaction ends
    MemoryContext old = MemoryContextSwitchTo(batch.context);
    batch.desc = CreateTupleDescCopy(RelationGetDescr(rel));
    MemoryContextSwitchTo(old);
    batch.relid = RelationGetRelid(rel);
    batch.owner = GetCurrentSubTransactionId();
    table_close(rel, NoLock);
}

}  // namespace

pg_uuid_t record_event(const NewEvent &event) {
    bool first_of_statement = statement_of_last_event != statements_ended;
    statement_of_last_event = statements_ended;
    bool batch_elsewhere = batch.count > 0 && batch.owner != GetCurrentSubTransactionId();
    if (first_of_statement || batch_elsewhere || MyProc->lxid == loaded_in_transaction)
        return write_event(event);
    if (batch.count == 0) start_batch();
    MemoryContext old = MemoryContextSwitchTo(batch.context);
    pg_uuid_t id;
    HeapTuple tuple = form_event_tuple(batch.desc, event, &id);
    MemoryContextSwitchTo(old);
    batch.tuples[batch.count++] = tuple;
    batch.bytes += tuple->t_len;
    if (batch.count == kMaxEventBatch || batch.bytes >= kMaxBatchBytes) write_batch();
    return id;
}

void install_event_batch_hooks() {
    if (!process_shared_preload_libraries_in_progress && MyProc != nullptr)
        loaded_in_transaction = MyProc->lxid;
    previous_executor_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = executor_finish;
    previous_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = process_utility;
    RegisterXactCallback(on_transaction_event, nullptr);
    RegisterSubXactCallback(on_subtransaction_event, nullptr);
}

}  // namespace eventhooks::pg
