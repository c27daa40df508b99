// Event payload as jsonb (see event_payload.hpp).
#include "pg/event_payload.hpp"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
}

#include "pg/session_variables.hpp"

namespace eventhooks::pg {

namespace {

// to_jsonb(anyelement) decides how to convert from the declared argument type, which it reads
// from fn_expr: declaring "record" makes it convert any composite datum by its own row type.
FmgrInfo *to_jsonb_for_records() {
    static FmgrInfo *flinfo = nullptr;
    if (flinfo == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        auto *info = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo)));
        fmgr_info_cxt(F_TO_JSONB, info, TopMemoryContext);
        Const *argument = makeNullConst(RECORDOID, -1, InvalidOid);
        info->fn_expr = reinterpret_cast<Node *>(
            makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(argument), InvalidOid, InvalidOid,
                         COERCE_EXPLICIT_CALL));
        MemoryContextSwitchTo(old);
        flinfo = info;
    }
    return flinfo;
}

// The payload as a row type: (op text, data (old record, new record), session_variables jsonb).
// Registered once per backend; to_jsonb then renders a whole payload from one datum.
struct PayloadRowTypes {
    TupleDesc payload = nullptr;
    TupleDesc data = nullptr;
};

const PayloadRowTypes &payload_row_types() {
    static PayloadRowTypes types;
    if (types.payload == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        TupleDesc data = CreateTemplateTupleDesc(2);
        TupleDescInitEntry(data, 1, "old", RECORDOID, -1, 0);
        TupleDescInitEntry(data, 2, "new", RECORDOID, -1, 0);
        TupleDesc payload = CreateTemplateTupleDesc(3);
        TupleDescInitEntry(payload, 1, "op", TEXTOID, -1, 0);
        TupleDescInitEntry(payload, 2, "data", RECORDOID, -1, 0);
        TupleDescInitEntry(payload, 3, "session_variables", JSONBOID, -1, 0);
        types.data = BlessTupleDesc(data);
        types.payload = BlessTupleDesc(payload);
        MemoryContextSwitchTo(old);
    }
    return types;
}

void push_key(JsonbParseState **state, const char *key) {
    JsonbValue v;
    v.type = jbvString;
    v.val.string.val = const_cast<char *>(key);
    v.val.string.len = static_cast<int>(strlen(key));
    pushJsonbValue(state, WJB_KEY, &v);
}

void push_jsonb_or_null(JsonbParseState **state, const Jsonb *value) {
    JsonbValue v;
    if (value == nullptr) {
        v.type = jbvNull;
    } else {
        v.type = jbvBinary;
        v.val.binary.data = const_cast<JsonbContainer *>(&value->root);
        v.val.binary.len = static_cast<int>(VARSIZE(value) - VARHDRSZ);
    }
    pushJsonbValue(state, WJB_VALUE, &v);
}

}  // namespace

Datum build_row_event_payload(const char *op, Datum old_row, Datum new_row) {
    const PayloadRowTypes &types = payload_row_types();
    Datum data_values[2] = {old_row, new_row};
    bool data_nulls[2] = {old_row == (Datum)0, new_row == (Datum)0};
    HeapTuple data = heap_form_tuple(types.data, data_values, data_nulls);
    const Jsonb *session_variables = current_session_variables();
    Datum values[3] = {CStringGetTextDatum(op), HeapTupleGetDatum(data),
                       PointerGetDatum(session_variables)};
    bool nulls[3] = {false, false, session_variables == nullptr};
    HeapTuple payload = heap_form_tuple(types.payload, values, nulls);
    return FunctionCall1(to_jsonb_for_records(), HeapTupleGetDatum(payload));
}

Datum build_manual_event_payload(const Jsonb *new_value) {
    JsonbParseState *state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    push_key(&state, "op");
    JsonbValue op_value;
    op_value.type = jbvString;
    op_value.val.string.val = const_cast<char *>("MANUAL");
    op_value.val.string.len = 6;
    pushJsonbValue(&state, WJB_VALUE, &op_value);
    push_key(&state, "data");
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    push_key(&state, "old");
    push_jsonb_or_null(&state, nullptr);
    push_key(&state, "new");
    push_jsonb_or_null(&state, new_value);
    pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
    push_key(&state, "session_variables");
    push_jsonb_or_null(&state, current_session_variables());
    JsonbValue *result = pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
    return JsonbPGetDatum(JsonbValueToJsonb(result));
}

}  // namespace eventhooks::pg
