// Event payload as jsonb (see event_payload.hpp).
#include "pg/event_payload.hpp"

extern "C" {
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
        info->fn_expr =
            reinterpret_cast<Node *>(makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(argument),
                                                  InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
        MemoryContextSwitchTo(old);
        flinfo = info;
    }
    return flinfo;
}

// A string as object key (WJB_KEY) or value (WJB_VALUE).
void push_string(JsonbParseState **state, JsonbIteratorToken token, const char *text) {
    JsonbValue v;
    v.type = jbvString;
    v.val.string.val = const_cast<char *>(text);
    v.val.string.len = static_cast<int>(strlen(text));
    pushJsonbValue(state, token, &v);
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

Jsonb *row_to_jsonb(Datum composite) {
    return DatumGetJsonbP(FunctionCall1(to_jsonb_for_records(), composite));
}

Datum build_event_payload(const char *op, Jsonb *old_row, Jsonb *new_row) {
    JsonbParseState *state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    push_string(&state, WJB_KEY, "op");
    push_string(&state, WJB_VALUE, op);
    push_string(&state, WJB_KEY, "data");
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    push_string(&state, WJB_KEY, "old");
    push_jsonb_or_null(&state, old_row);
    push_string(&state, WJB_KEY, "new");
    push_jsonb_or_null(&state, new_row);
    pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
    push_string(&state, WJB_KEY, "session_variables");
    push_jsonb_or_null(&state, current_session_variables());
    JsonbValue *result = pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
    return JsonbPGetDatum(JsonbValueToJsonb(result));
}

}  // namespace eventhooks::pg
