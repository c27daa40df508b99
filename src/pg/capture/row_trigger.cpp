// The AFTER ROW trigger that records events (SPEC §2): filter, payload, one event_log row.
// Hot path: everything it needs per row comes from trigger_cache; no SQL, no network.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"
}

#include "pg/capture/event_payload.hpp"
#include "pg/capture/event_batch.hpp"
#include "pg/pg_guard.hpp"
#include "pg/capture/trigger_cache.hpp"

namespace eventhooks::pg {

namespace {

// IS DISTINCT FROM over the listened columns: NULLs count, values compare with the type's
// equality; types without one (json) compare their stored images.
bool listened_column_changed(const CachedTrigger &trigger, HeapTuple old_row, HeapTuple new_row,
                             TupleDesc desc) {
    for (int i = 0; i < trigger.compare_count; i++) {
        const ColumnComparison &c = trigger.compare[i];
        bool old_null, new_null;
        Datum old_value = heap_getattr(old_row, c.attnum, desc, &old_null);
        Datum new_value = heap_getattr(new_row, c.attnum, desc, &new_null);
        if (old_null != new_null) return true;
        if (old_null) continue;
        if (c.by_image) {
            Form_pg_attribute att = TupleDescAttr(desc, c.attnum - 1);
            if (!datum_image_eq(old_value, new_value, att->attbyval, att->attlen)) return true;
        } else if (!DatumGetBool(FunctionCall2Coll(const_cast<FmgrInfo *>(&c.equal), c.collation,
                                                   old_value, new_value))) {
            return true;
        }
    }
    return false;
}

// A trigger that names an event trigger it is not bound to: a hand-made copy of our row
// trigger (on another table, or a second one on the same table). It records nothing: the
// configuration belongs to its table's owner, and events from elsewhere would reach that
// owner's webhook with its headers. The write goes on (a user's write never fails because of
// us); a WARNING, once per session and configuration, tells whoever made the copy.
void report_misplaced_trigger(CachedTrigger *trigger, const TriggerData *data) {
    if (trigger->warned) return;
    trigger->warned = true;
    ereport(WARNING,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("pg_eventhooks: trigger \"%s\" on table \"%s\" records no events: event "
                    "trigger \"%s\" is bound to another row trigger",
                    data->tg_trigger->tgname, RelationGetRelationName(data->tg_relation),
                    trigger->key.name),
             errhint("Only eventhooks.create_event_trigger makes row triggers that record "
                     "events; drop this one.")));
}

Datum capture_event(FunctionCallInfo fcinfo) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("eventhooks.capture_event() must be called as a trigger")));
    auto *data = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_ROW(data->tg_event) || !TRIGGER_FIRED_AFTER(data->tg_event) ||
        data->tg_trigger->tgnargs < 1)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("eventhooks.capture_event() must be an AFTER ROW trigger with the "
                               "event trigger's name as argument")));

    const char *name = data->tg_trigger->tgargs[0];
    Relation rel = data->tg_relation;
    CachedTrigger *trigger = lookup_trigger(name, data->tg_trigger->tgoid, rel);
    if (!trigger->found) return PointerGetDatum(nullptr);  // configuration row gone: nothing to do
    if (!OidIsValid(trigger->firing_trigger)) {
        report_misplaced_trigger(trigger, data);
        return PointerGetDatum(nullptr);
    }

    TriggerOperation op;
    const char *op_name;
    if (TRIGGER_FIRED_BY_INSERT(data->tg_event)) {
        op = kInsert, op_name = "INSERT";
    } else if (TRIGGER_FIRED_BY_UPDATE(data->tg_event)) {
        op = kUpdate, op_name = "UPDATE";
    } else if (TRIGGER_FIRED_BY_DELETE(data->tg_event)) {
        op = kDelete, op_name = "DELETE";
    } else {
        return PointerGetDatum(nullptr);  // TRUNCATE is not an event
    }
    if (!trigger->fires[op]) return PointerGetDatum(nullptr);

    TupleDesc desc = RelationGetDescr(rel);
    HeapTuple old_row = op == kInsert ? nullptr : data->tg_trigtuple;
    HeapTuple new_row = op == kInsert   ? data->tg_trigtuple
                        : op == kUpdate ? data->tg_newtuple
                                        : nullptr;
    if (op == kUpdate && !listened_column_changed(*trigger, old_row, new_row, desc))
        return PointerGetDatum(nullptr);

    const RowEncoder &encoder = *trigger->encoder[op];
    size_t old_bytes = 0, new_bytes = 0;
    JsonbValue *old_json = old_row ? encode_row(encoder, old_row, desc, &old_bytes) : nullptr;
    JsonbValue *new_json = new_row ? encode_row(encoder, new_row, desc, &new_bytes) : nullptr;
    fit_rows_in_jsonb(old_json, old_bytes, new_json, new_bytes);  // values of ~256 MB: markers

    NewEvent event;
    event.schema_name = trigger->schema_name;
    event.table_name = trigger->table_name;
    event.trigger_name = name;
    event.payload = build_event_payload(op_name, old_json, new_json);
    record_event(event);
    return PointerGetDatum(nullptr);
}

}  // namespace

}  // namespace eventhooks::pg

extern "C" {
PG_FUNCTION_INFO_V1(eventhooks_capture_event);
Datum eventhooks_capture_event(PG_FUNCTION_ARGS) {
    return eventhooks::pg::guard_entry([&]() { return eventhooks::pg::capture_event(fcinfo); });
}
}
