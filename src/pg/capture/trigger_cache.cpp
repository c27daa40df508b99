// Per-backend event trigger configuration cache (see trigger_cache.hpp).
#include <string>
#include <vector>

#include "pg/capture/trigger_cache.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

#include "core/trigger_config.hpp"
#include "pg/extension_catalog.hpp"

namespace eventhooks::pg {

namespace {

MemoryContext cache_context = nullptr;
HTAB *cache = nullptr;
List *watched_relids = NIL;  // relations whose relcache invalidation makes the cache stale
bool cache_stale = false;
bool callback_registered = false;

void on_relcache_invalidation(Datum, Oid relid) {
    forget_extension_catalog(relid);
    if (cache == nullptr) return;
    if (relid == InvalidOid || list_member_oid(watched_relids, relid)) cache_stale = true;
}

// A changed cast can change how a column is sent; a renamed schema, the names events report.
void on_syscache_invalidation(Datum, int, uint32) {
    if (cache != nullptr) cache_stale = true;
}

void reset_cache_if_stale() {
    if (cache != nullptr && !cache_stale) return;
    // The old entries may still be in use: a trigger call whose row encoding runs user code
    // (an output function, a cast to json written in SQL) can fire another event trigger,
    // which lands here. So the old cache is handed to the transaction, which frees it at its
    // end, when no trigger call can still be running.
    cache = nullptr;
    watched_relids = NIL;
    if (cache_context != nullptr) MemoryContextSetParent(cache_context, TopTransactionContext);
    cache_context = nullptr;
    cache_context = AllocSetContextCreate(CacheMemoryContext, "pg_eventhooks trigger cache",
                                          ALLOCSET_SMALL_SIZES);
    cache_stale = false;

    HASHCTL ctl;
    memset(&ctl, 0, sizeof(ctl));
    ctl.keysize = sizeof(TriggerCacheKey);
    ctl.entrysize = sizeof(CachedTrigger);
    ctl.hcxt = cache_context;
    cache = hash_create("pg_eventhooks triggers", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    MemoryContext old = MemoryContextSwitchTo(cache_context);
    watched_relids = lappend_oid(NIL, event_triggers_relid());
    MemoryContextSwitchTo(old);
}

// Column names of one OperationSpec part, copied out of the C++ parser before any Postgres
// call can raise an error (GUIDE §3). all = "*"; ok = false if the stored JSON is unreadable.
struct SpecColumns {
    bool ok = false;
    bool all = true;
    int count = 0;
    char **names = nullptr;
};

SpecColumns copy_column_names(const core::ColumnSelection &selection) {
    SpecColumns out;
    out.all = selection.all;
    out.count = static_cast<int>(selection.columns.size());
    if (out.count > 0) {
        out.names =
            static_cast<char **>(palloc_extended(sizeof(char *) * out.count, MCXT_ALLOC_NO_OOM));
        if (out.names == nullptr) return out;
        for (int i = 0; i < out.count; i++) {
            const std::string &name = selection.columns[i];
            out.names[i] = static_cast<char *>(palloc_extended(name.size() + 1, MCXT_ALLOC_NO_OOM));
            if (out.names[i] == nullptr) return out;
            memcpy(out.names[i], name.c_str(), name.size() + 1);
        }
    }
    out.ok = true;
    return out;
}

void parse_stored_spec(const char *json, SpecColumns *listened, SpecColumns *payload) noexcept {
    try {
        core::OperationSpec spec = core::parse_operation_spec("stored", json);
        *listened = copy_column_names(spec.columns);
        *payload = copy_column_names(spec.payload);
    } catch (...) {
        listened->ok = payload->ok = false;
    }
}

ColumnList resolve_columns(const SpecColumns &names, Relation rel) {
    ColumnList list = {true, 0, nullptr};
    if (!names.ok || names.all) return list;
    list.all = false;
    list.attnums = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * names.count));
    for (int i = 0; i < names.count; i++) {
        AttrNumber attnum = get_attnum(RelationGetRelid(rel), names.names[i]);
        // A column dropped after the trigger was made can no longer change or be sent.
        if (attnum > 0) list.attnums[list.count++] = attnum;
    }
    return list;
}

ColumnComparison *update_comparisons(const ColumnList &listened, Relation rel, int *count) {
    TupleDesc desc = RelationGetDescr(rel);
    int n = listened.all ? desc->natts : listened.count;
    auto *compare = static_cast<ColumnComparison *>(palloc0(sizeof(ColumnComparison) * (n + 1)));
    *count = 0;
    for (int i = 0; i < n; i++) {
        AttrNumber attnum =
            listened.all ? static_cast<AttrNumber>(i + 1) : listened.attnums[i];
        Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
        if (att->attisdropped) continue;
        ColumnComparison &c = compare[(*count)++];
        c.attnum = attnum;
        c.collation = att->attcollation;
        TypeCacheEntry *type = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR_FINFO);
        c.by_image = !OidIsValid(type->eq_opr_finfo.fn_oid);
        if (!c.by_image) fmgr_info_copy(&c.equal, &type->eq_opr_finfo, cache_context);
    }
    return compare;
}

// The first argument of pg_trigger row `tuple` is `name`.
bool first_argument_is(HeapTuple tuple, TupleDesc desc, const char *name) {
    if (reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple))->tgnargs < 1) return false;
    bool isnull;
    Datum args = heap_getattr(tuple, Anum_pg_trigger_tgargs, desc, &isnull);
    if (isnull) return false;
    bytea *bytes = DatumGetByteaPP(args);
    const char *first = VARDATA_ANY(bytes);
    size_t size = VARSIZE_ANY_EXHDR(bytes);
    size_t length = strnlen(first, size);  // each argument ends with a NUL
    return length < size && length == strlen(name) && memcmp(first, name, length) == 0;
}

// eventhooks.capture_event(name), made on `relid` itself (not a clone on a partition).
bool is_capture_trigger_of(HeapTuple tuple, TupleDesc desc, Oid relid, const char *name) {
    auto *trigger = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
    return trigger->tgrelid == relid && !OidIsValid(trigger->tgparentid) &&
           trigger->tgfoid == capture_event_function_oid() && first_argument_is(tuple, desc, name);
}

SysScanDesc scan_trigger_by_oid(Relation pg_trigger, Oid oid, ScanKeyData *key) {
    ScanKeyInit(key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(oid));
    return systable_beginscan(pg_trigger, TriggerOidIndexId, true, nullptr, 1, key);
}

// The trigger a partition's clone was cloned from, up to the one made on the partitioned
// table itself (a clone's tgparentid names its parent trigger).
Oid root_trigger(Oid trigger_oid) {
    Relation pg_trigger = table_open(TriggerRelationId, AccessShareLock);
    for (int depth = 0; depth < 1000 && OidIsValid(trigger_oid); depth++) {
        ScanKeyData key;
        SysScanDesc scan = scan_trigger_by_oid(pg_trigger, trigger_oid, &key);
        HeapTuple tuple = systable_getnext(scan);
        Oid parent = HeapTupleIsValid(tuple)
                         ? reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple))->tgparentid
                         : InvalidOid;
        systable_endscan(scan);
        if (!OidIsValid(parent)) break;
        trigger_oid = parent;
    }
    table_close(pg_trigger, AccessShareLock);
    return trigger_oid;
}

Datum config_value(HeapTuple tuple, TupleDesc desc, Oid config_relid, const char *column,
                   bool *isnull) {
    return heap_getattr(tuple, get_attnum(config_relid, column), desc, isnull);
}

void build_entry(CachedTrigger *entry, const char *name, Oid firing_trigger, Relation rel) {
    Oid config_relid = event_triggers_relid();
    if (!OidIsValid(config_relid)) return;
    Relation config = table_open(config_relid, AccessShareLock);
    TupleDesc config_desc = RelationGetDescr(config);
    ScanKeyData key;
    ScanKeyInit(&key, get_attnum(config_relid, "name"), BTEqualStrategyNumber, F_TEXTEQ,
                CStringGetTextDatum(name));
    SysScanDesc scan = systable_beginscan(config, InvalidOid, false, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    Oid table = InvalidOid;
    if (HeapTupleIsValid(tuple)) {
        entry->found = true;
        bool isnull;
        Datum value = config_value(tuple, config_desc, config_relid, "table_name", &isnull);
        table = isnull ? InvalidOid : DatumGetObjectId(value);
        value = config_value(tuple, config_desc, config_relid, "row_trigger", &isnull);
        Oid stored = isnull ? InvalidOid : DatumGetObjectId(value);
        // Bound by oid, never by name: a trigger renamed, copied by hand or made on another
        // table records nothing for this configuration (row_trigger.cpp says so once).
        Oid bound = bound_row_trigger(table, stored, name);
        if (OidIsValid(bound) && root_trigger(firing_trigger) == bound)
            entry->firing_trigger = firing_trigger;
    }
    if (HeapTupleIsValid(tuple) && OidIsValid(entry->firing_trigger)) {
        const char *spec_columns[3] = {"on_insert", "on_update", "on_delete"};
        for (int op = 0; op < 3; op++) {
            bool isnull;
            Datum spec = config_value(tuple, config_desc, config_relid, spec_columns[op], &isnull);
            entry->fires[op] = !isnull;
            if (isnull) continue;
            Jsonb *jsonb = DatumGetJsonbP(spec);
            char *json = JsonbToCString(nullptr, &jsonb->root, VARSIZE(jsonb));
            SpecColumns listened, payload;
            parse_stored_spec(json, &listened, &payload);
            MemoryContext old = MemoryContextSwitchTo(cache_context);
            entry->listened[op] = resolve_columns(listened, rel);
            entry->payload[op] = resolve_columns(payload, rel);
            const ColumnList &sent = entry->payload[op];
            entry->encoder[op] = make_row_encoder(RelationGetDescr(rel), sent.all, sent.attnums,
                                                  sent.count, cache_context);
            if (op == kUpdate)
                entry->compare =
                    update_comparisons(entry->listened[op], rel, &entry->compare_count);
            MemoryContextSwitchTo(old);
        }
    }
    systable_endscan(scan);
    table_close(config, AccessShareLock);

    // Events report the table the event trigger was made on: for a partition's rows, the
    // partitioned table, whose trigger the firing one was cloned from.
    MemoryContext old = MemoryContextSwitchTo(cache_context);
    if (OidIsValid(entry->firing_trigger)) {
        entry->schema_name = get_namespace_name(get_rel_namespace(table));
        entry->table_name = get_rel_name(table);
        if (table != RelationGetRelid(rel)) watched_relids = lappend_oid(watched_relids, table);
    }
    watched_relids = lappend_oid(watched_relids, RelationGetRelid(rel));
    MemoryContextSwitchTo(old);
}

}  // namespace

void register_cache_invalidation() {
    if (callback_registered) return;
    CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum)0);
    CacheRegisterSyscacheCallback(CASTSOURCETARGET, on_syscache_invalidation, (Datum)0);
    CacheRegisterSyscacheCallback(NAMESPACEOID, on_syscache_invalidation, (Datum)0);
    callback_registered = true;
}

Oid bound_row_trigger(Oid relid, Oid stored, const char *name) {
    if (!OidIsValid(relid) || !OidIsValid(stored)) return InvalidOid;
    Relation pg_trigger = table_open(TriggerRelationId, AccessShareLock);
    TupleDesc desc = RelationGetDescr(pg_trigger);
    ScanKeyData key;
    SysScanDesc scan = scan_trigger_by_oid(pg_trigger, stored, &key);
    HeapTuple tuple = systable_getnext(scan);
    Oid bound = HeapTupleIsValid(tuple) && is_capture_trigger_of(tuple, desc, relid, name)
                    ? stored
                    : InvalidOid;
    systable_endscan(scan);
    if (!OidIsValid(bound)) {
        // Re-bind, only ever to a trigger on the configured table: `stored` is from before a
        // restore (or the row trigger was dropped by hand: then there is none).
        char *own_name = psprintf("eventhooks_%s", name);
        Oid candidate = InvalidOid;
        int candidates = 0;
        ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
                    ObjectIdGetDatum(relid));
        scan = systable_beginscan(pg_trigger, TriggerRelidNameIndexId, true, nullptr, 1, &key);
        while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
            if (!is_capture_trigger_of(tuple, desc, relid, name)) continue;
            auto *trigger = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
            if (strcmp(NameStr(trigger->tgname), own_name) == 0) bound = trigger->oid;
            candidate = trigger->oid;
            candidates++;
        }
        systable_endscan(scan);
        if (!OidIsValid(bound) && candidates == 1) bound = candidate;
    }
    table_close(pg_trigger, AccessShareLock);
    return bound;
}

CachedTrigger *lookup_trigger(const char *name, Oid firing_trigger, Relation rel) {
    register_cache_invalidation();
    reset_cache_if_stale();
    TriggerCacheKey key;
    memset(&key, 0, sizeof(key));
    strlcpy(key.name, name, NAMEDATALEN);
    key.relid = RelationGetRelid(rel);
    key.trigger = firing_trigger;
    auto *entry = static_cast<CachedTrigger *>(hash_search(cache, &key, HASH_FIND, nullptr));
    if (entry != nullptr) return entry;

    // Built aside and entered only when complete, so an error halfway leaves no broken entry.
    CachedTrigger fresh;
    memset(&fresh, 0, sizeof(fresh));
    fresh.key = key;
    build_entry(&fresh, name, firing_trigger, rel);
    if (cache_stale) {
        // An invalidation arrived while building: use the entry for this row only; the next
        // call starts from an empty cache (and the transaction's end frees this one).
        auto *one_row_entry =
            static_cast<CachedTrigger *>(MemoryContextAlloc(cache_context, sizeof(CachedTrigger)));
        *one_row_entry = fresh;
        return one_row_entry;
    }
    entry = static_cast<CachedTrigger *>(hash_search(cache, &key, HASH_ENTER, nullptr));
    *entry = fresh;
    return entry;
}

}  // namespace eventhooks::pg
