// Direct insert into eventhooks.event_log (see event_writer.hpp).
#include "pg/capture/event_writer.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/genam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

#include "core/event_id.hpp"
#include "pg/delivery/commit_wakeup.hpp"
#include "pg/extension_catalog.hpp"

namespace eventhooks::pg {

namespace {

// Attribute numbers (0-based) of event_log's columns, by name, for the cached relation oid.
struct EventLogLayout {
    Oid relid = InvalidOid;
    int natts = 0;
    int id = -1, schema_name = -1, table_name = -1, trigger_name = -1, payload = -1, delivered = -1,
        error = -1, tries = -1, created_at = -1, archived = -1;
};
EventLogLayout layout;

struct LayoutColumn {
    const char *name;
    int EventLogLayout::*position;
};
const LayoutColumn kLayoutColumns[] = {
    {"id", &EventLogLayout::id},
    {"schema_name", &EventLogLayout::schema_name},
    {"table_name", &EventLogLayout::table_name},
    {"trigger_name", &EventLogLayout::trigger_name},
    {"payload", &EventLogLayout::payload},
    {"delivered", &EventLogLayout::delivered},
    {"error", &EventLogLayout::error},
    {"tries", &EventLogLayout::tries},
    {"created_at", &EventLogLayout::created_at},
    {"archived", &EventLogLayout::archived},
};

void load_layout(Relation rel) {
    TupleDesc desc = RelationGetDescr(rel);
    EventLogLayout fresh;
    fresh.relid = RelationGetRelid(rel);
    fresh.natts = desc->natts;
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped) continue;
        for (const LayoutColumn &column : kLayoutColumns)
            if (strcmp(NameStr(att->attname), column.name) == 0) fresh.*column.position = i;
    }
    for (const LayoutColumn &column : kLayoutColumns)
        if (fresh.*column.position < 0)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("eventhooks.event_log has no column \"%s\", which "
                                   "pg_eventhooks writes",
                                   column.name)));
    layout = fresh;
}

// Index maintenance for event_log without the executor's per-statement setup: index
// metadata and partial-index predicates are prepared once per backend (and again after a
// relcache invalidation of event_log), so a row costs a heap insert and one index_insert per
// index. Indexes the fast path cannot handle (expressions, exclusion constraints, deferred
// uniqueness) send rows through the executor's generic path instead.
struct CachedIndex {
    Oid oid;
    IndexInfo *info;
    ExprState *predicate;  // nullptr: not partial
};

struct IndexCache {
    Oid relid = InvalidOid;
    bool generic = false;
    int count = 0;
    CachedIndex *indexes = nullptr;
    ExprContext *econtext = nullptr;
    TupleTableSlot *slot = nullptr;
    TupleTableSlot **batch_slots = nullptr;  // kMaxEventBatch of them, made when first needed
};

MemoryContext index_cache_context = nullptr;
IndexCache index_cache;
bool index_cache_stale = true;

void on_event_log_invalidation(Datum, Oid relid) {
    if (relid == InvalidOid || relid == index_cache.relid) index_cache_stale = true;
}

void build_index_cache(Relation rel) {
    if (index_cache_context == nullptr) {
        index_cache_context = AllocSetContextCreate(
            CacheMemoryContext, "pg_eventhooks event_log indexes", ALLOCSET_SMALL_SIZES);
        CacheRegisterRelcacheCallback(on_event_log_invalidation, (Datum)0);
    }
    MemoryContextReset(index_cache_context);
    index_cache = IndexCache{};
    index_cache_stale = false;
    MemoryContext old = MemoryContextSwitchTo(index_cache_context);
    EState *estate = CreateExecutorState();  // lives (as a child context) as long as the cache
    List *oids = RelationGetIndexList(rel);
    index_cache.indexes =
        static_cast<CachedIndex *>(palloc0(sizeof(CachedIndex) * (list_length(oids) + 1)));
    ListCell *cell;
    foreach (cell, oids) {
        Relation index = index_open(lfirst_oid(cell), RowExclusiveLock);
        CachedIndex &cached = index_cache.indexes[index_cache.count++];
        cached.oid = RelationGetRelid(index);
        cached.info = BuildIndexInfo(index);
        if (cached.info->ii_Expressions != NIL || cached.info->ii_ExclusionOps != nullptr ||
            !index->rd_index->indimmediate)
            index_cache.generic = true;
        if (cached.info->ii_Predicate != NIL)
            cached.predicate = ExecPrepareQual(cached.info->ii_Predicate, estate);
        index_close(index, NoLock);
    }
    index_cache.econtext = CreateStandaloneExprContext();
    index_cache.slot =
        MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(rel)), &TTSOpsHeapTuple);
    index_cache.relid = RelationGetRelid(rel);
    MemoryContextSwitchTo(old);
}

// The executor's way: right for any index, but it prepares everything again for each row.
void insert_generic(Relation rel, HeapTuple tuple) {
    EState *estate = CreateExecutorState();
    ResultRelInfo *result_rel = makeNode(ResultRelInfo);
    InitResultRelInfo(result_rel, rel, 1, nullptr, 0);
    ExecOpenIndices(result_rel, false);
    TupleTableSlot *slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
    ExecStoreHeapTuple(tuple, slot, false);
    table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, nullptr);
    if (result_rel->ri_NumIndices > 0)
        ExecInsertIndexTuples(result_rel, slot, estate, false, false, nullptr, NIL);
    ExecCloseIndices(result_rel);
    ExecResetTupleTable(estate->es_tupleTable, false);
    FreeExecutorState(estate);
}

// The index entries of the tuple just inserted from `slot`.
void insert_index_entries(Relation rel, TupleTableSlot *slot) {
    ExprContext *econtext = index_cache.econtext;
    econtext->ecxt_scantuple = slot;
    Datum values[INDEX_MAX_KEYS];
    bool isnull[INDEX_MAX_KEYS];
    for (int i = 0; i < index_cache.count; i++) {
        const CachedIndex &cached = index_cache.indexes[i];
        Relation index = index_open(cached.oid, RowExclusiveLock);
        // CREATE INDEX CONCURRENTLY: an index not yet ready for inserts must not get entries
        // (its build finds the row, or its validation adds it), as in ExecInsertIndexTuples.
        // rd_index follows the index's own relcache invalidation, so this costs no lookup.
        if (!index->rd_index->indisready ||
            (cached.predicate != nullptr && !ExecQual(cached.predicate, econtext))) {
            index_close(index, NoLock);
            continue;
        }
        FormIndexDatum(cached.info, slot, nullptr, values, isnull);
        index_insert(index, values, isnull, &slot->tts_tid, rel,
                     cached.info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false,
                     cached.info);
        index_close(index, NoLock);
    }
    ResetExprContext(econtext);
}

// Slots for heap_multi_insert, made once per index cache (they follow event_log's shape).
TupleTableSlot **batch_slots(Relation rel) {
    if (index_cache.batch_slots == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(index_cache_context);
        index_cache.batch_slots =
            static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * kMaxEventBatch));
        for (int i = 0; i < kMaxEventBatch; i++)
            index_cache.batch_slots[i] = MakeSingleTupleTableSlot(
                CreateTupleDescCopy(RelationGetDescr(rel)), &TTSOpsHeapTuple);
        MemoryContextSwitchTo(old);
    }
    return index_cache.batch_slots;
}

}  // namespace

void insert_event_tuples(Relation rel, HeapTuple *tuples, int count) {
    Assert(count <= kMaxEventBatch);
    if (index_cache_stale || index_cache.relid != RelationGetRelid(rel)) build_index_cache(rel);
    if (index_cache.generic) {
        for (int i = 0; i < count; i++) insert_generic(rel, tuples[i]);
        return;
    }
    if (count == 1) {
        TupleTableSlot *slot = index_cache.slot;
        ExecStoreHeapTuple(tuples[0], slot, false);
        table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, nullptr);
        insert_index_entries(rel, slot);
        ExecClearTuple(slot);
        return;
    }
    // Several rows: one WAL record and one buffer lock per heap page instead of per row.
    TupleTableSlot **slots = batch_slots(rel);
    for (int i = 0; i < count; i++) ExecStoreHeapTuple(tuples[i], slots[i], false);
    table_multi_insert(rel, slots, count, GetCurrentCommandId(true), 0, nullptr);
    for (int i = 0; i < count; i++) {
        insert_index_entries(rel, slots[i]);
        ExecClearTuple(slots[i]);
    }
}

pg_uuid_t new_event_id() {
    pg_uuid_t id;
    auto bytes = core::new_event_uuid_v7();
    memcpy(id.data, bytes.data(), UUID_LEN);
    return id;
}

Relation open_event_log() {
    Oid relid = event_log_relid();
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("extension pg_eventhooks is not installed in this database")));
    Relation rel = table_open(relid, RowExclusiveLock);
    if (layout.relid != relid || layout.natts != RelationGetDescr(rel)->natts) load_layout(rel);
    return rel;
}

HeapTuple form_event_tuple(TupleDesc desc, const NewEvent &event, pg_uuid_t *id) {
    Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * layout.natts));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * layout.natts));
    memset(nulls, true, sizeof(bool) * layout.natts);

    *id = new_event_id();
    auto set = [&](int att, Datum value) {
        values[att] = value;
        nulls[att] = false;
    };
    set(layout.id, UUIDPGetDatum(id));
    set(layout.schema_name, CStringGetTextDatum(event.schema_name));
    set(layout.table_name, CStringGetTextDatum(event.table_name));
    set(layout.trigger_name, CStringGetTextDatum(event.trigger_name));
    set(layout.payload, event.payload);
    set(layout.delivered, BoolGetDatum(false));
    set(layout.error, BoolGetDatum(false));
    set(layout.tries, Int32GetDatum(0));
    set(layout.created_at, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
    set(layout.archived, BoolGetDatum(false));
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    pfree(values);
    pfree(nulls);
    note_event_written(*id);
    return tuple;
}

pg_uuid_t write_event(const NewEvent &event) {
    Relation rel = open_event_log();
    pg_uuid_t id;
    HeapTuple tuple = form_event_tuple(RelationGetDescr(rel), event, &id);
    insert_event_tuples(rel, &tuple, 1);
    table_close(rel, NoLock);
    return id;
}

}  // namespace eventhooks::pg
