// Row to jsonb tree, the way to_jsonb does it (see row_encoder.hpp).
#include "pg/row_encoder.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

namespace eventhooks::pg {

namespace {

// to_jsonb(anyelement) reads the argument's type from fn_expr: a typed null constant there
// makes this FmgrInfo convert values of `type`.
void prepare_to_jsonb(FmgrInfo *function, Oid type, MemoryContext context) {
    fmgr_info_cxt(F_TO_JSONB, function, context);
    MemoryContext old = MemoryContextSwitchTo(context);
    Const *argument = makeNullConst(type, -1, InvalidOid);
    function->fn_expr =
        reinterpret_cast<Node *>(makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(argument),
                                              InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    MemoryContextSwitchTo(old);
}

void prepare_output_function(FmgrInfo *function, Oid type, MemoryContext context) {
    Oid output;
    bool is_varlena;
    getTypeOutputInfo(type, &output, &is_varlena);
    fmgr_info_cxt(output, function, context);
}

// jsonb_categorize_type's decision (PostgreSQL 15, utils/adt/jsonb.c), made once per column.
void categorize(EncodedColumn *column, Oid declared_type, MemoryContext context) {
    Oid type = getBaseType(declared_type);  // domains encode as their base type
    switch (type) {
        case BOOLOID: column->encoding = ColumnEncoding::kBool; return;
        case INT2OID: column->encoding = ColumnEncoding::kInt2; return;
        case INT4OID: column->encoding = ColumnEncoding::kInt4; return;
        case INT8OID: column->encoding = ColumnEncoding::kInt8; return;
        case DATEOID: column->encoding = ColumnEncoding::kDate; return;
        case TIMESTAMPOID: column->encoding = ColumnEncoding::kTimestamp; return;
        case TIMESTAMPTZOID: column->encoding = ColumnEncoding::kTimestampTz; return;
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:  // their output functions return the stored string unchanged
            column->encoding = ColumnEncoding::kText;
            return;
        case NUMERICOID:
            column->encoding = ColumnEncoding::kNumeric;
            prepare_output_function(&column->function, type, context);
            return;
        case FLOAT4OID:
        case FLOAT8OID:
            column->encoding = ColumnEncoding::kFloat;
            prepare_output_function(&column->function, type, context);
            return;
        default: break;
    }
    bool structured = type == JSONOID || type == JSONBOID || OidIsValid(get_element_type(type)) ||
                      type_is_rowtype(type);
    // A type made by a user may have a cast to json that to_jsonb would use. pg_cast changes
    // invalidate the trigger cache, so the decision stays right.
    Oid cast_function = InvalidOid;
    bool casts_to_json = type >= FirstNormalObjectId &&
                         find_coercion_pathway(JSONOID, type, COERCION_EXPLICIT, &cast_function) ==
                             COERCION_PATH_FUNC &&
                         OidIsValid(cast_function);
    if (structured || casts_to_json) {
        column->encoding = ColumnEncoding::kToJsonb;
        prepare_to_jsonb(&column->function, declared_type, context);
    } else {
        column->encoding = ColumnEncoding::kOutputFunction;
        prepare_output_function(&column->function, type, context);
    }
}

// jsonb's object key order: shorter keys first, equal lengths by bytes.
int compare_keys(const void *a, const void *b) {
    auto *x = static_cast<const EncodedColumn *>(a);
    auto *y = static_cast<const EncodedColumn *>(b);
    if (x->key_length != y->key_length) return x->key_length < y->key_length ? -1 : 1;
    return memcmp(x->key, y->key, x->key_length);
}

void set_string(JsonbValue *out, char *text, size_t length) {
    if (length > JENTRY_OFFLENMASK)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("string too long to represent as jsonb string"),
                        errdetail("Due to an implementation restriction, jsonb strings cannot "
                                  "exceed %d bytes.",
                                  JENTRY_OFFLENMASK)));
    out->type = jbvString;
    out->val.string.val = text;
    out->val.string.len = static_cast<int>(length);
}

void set_cstring(JsonbValue *out, char *text) { set_string(out, text, strlen(text)); }

void set_numeric(JsonbValue *out, Numeric value) {
    out->type = jbvNumeric;
    out->val.numeric = value;
}

void encode_value(const EncodedColumn &column, Datum value, JsonbValue *out) {
    switch (column.encoding) {
        case ColumnEncoding::kBool:
            out->type = jbvBool;
            out->val.boolean = DatumGetBool(value);
            return;
        case ColumnEncoding::kInt2: return set_numeric(out, int64_to_numeric(DatumGetInt16(value)));
        case ColumnEncoding::kInt4: return set_numeric(out, int64_to_numeric(DatumGetInt32(value)));
        case ColumnEncoding::kInt8: return set_numeric(out, int64_to_numeric(DatumGetInt64(value)));
        case ColumnEncoding::kNumeric: {
            Numeric number = DatumGetNumeric(value);
            // JSON has no NaN or Infinity: to_jsonb gives them as strings.
            if (numeric_is_nan(number) || numeric_is_inf(number))
                return set_cstring(out, OutputFunctionCall(&column.function, value));
            return set_numeric(out, number);
        }
        case ColumnEncoding::kFloat: {
            // Through text, as to_jsonb does: the shortest exact decimal, never float rounding.
            char *text = OutputFunctionCall(&column.function, value);
            if (strchr(text, 'N') != nullptr || strchr(text, 'n') != nullptr)
                return set_cstring(out, text);  // NaN, Infinity, -Infinity
            return set_numeric(out, DatumGetNumeric(DirectFunctionCall3(
                                        numeric_in, CStringGetDatum(text),
                                        ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))));
        }
        case ColumnEncoding::kText: {
            text *string = DatumGetTextPP(value);
            return set_string(out, VARDATA_ANY(string), VARSIZE_ANY_EXHDR(string));
        }
        case ColumnEncoding::kDate:
            return set_cstring(out, JsonEncodeDateTime(nullptr, value, DATEOID, nullptr));
        case ColumnEncoding::kTimestamp:
            return set_cstring(out, JsonEncodeDateTime(nullptr, value, TIMESTAMPOID, nullptr));
        case ColumnEncoding::kTimestampTz:
            return set_cstring(out, JsonEncodeDateTime(nullptr, value, TIMESTAMPTZOID, nullptr));
        case ColumnEncoding::kOutputFunction:
            return set_cstring(out, OutputFunctionCall(&column.function, value));
        case ColumnEncoding::kToJsonb:
            *out = *jsonb_value_tree(DatumGetJsonbP(FunctionCall1(&column.function, value)));
            return;
    }
}

}  // namespace

RowEncoder *make_row_encoder(TupleDesc desc, bool all_columns, const AttrNumber *attnums,
                             int count, MemoryContext context) {
    int candidates = all_columns ? desc->natts : count;
    auto *encoder = static_cast<RowEncoder *>(MemoryContextAllocZero(context, sizeof(RowEncoder)));
    encoder->columns = static_cast<EncodedColumn *>(
        MemoryContextAllocZero(context, sizeof(EncodedColumn) * (candidates + 1)));
    for (int i = 0; i < candidates; i++) {
        AttrNumber attnum = all_columns ? i + 1 : attnums[i];
        Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
        if (att->attisdropped) continue;
        EncodedColumn &column = encoder->columns[encoder->count++];
        column.attnum = attnum;
        column.key = MemoryContextStrdup(context, NameStr(att->attname));
        column.key_length = static_cast<int>(strlen(column.key));
        categorize(&column, att->atttypid, context);
    }
    qsort(encoder->columns, encoder->count, sizeof(EncodedColumn), compare_keys);
    return encoder;
}

JsonbValue *encode_row(const RowEncoder &encoder, HeapTuple row, TupleDesc desc) {
    // One pass over the tuple: heap_getattr per column would walk it again for each column
    // after the first variable-length one. Also fills in columns added after the row was
    // written (their defaults).
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * desc->natts));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * desc->natts));
    heap_deform_tuple(row, desc, values, nulls);

    auto *object = static_cast<JsonbValue *>(palloc(sizeof(JsonbValue)));
    object->type = jbvObject;
    object->val.object.nPairs = encoder.count;
    object->val.object.pairs =
        static_cast<JsonbPair *>(palloc(sizeof(JsonbPair) * (encoder.count + 1)));
    for (int i = 0; i < encoder.count; i++) {
        const EncodedColumn &column = encoder.columns[i];
        JsonbPair &pair = object->val.object.pairs[i];
        pair.key.type = jbvString;
        pair.key.val.string.val = column.key;
        pair.key.val.string.len = column.key_length;
        pair.order = static_cast<uint32>(i);
        int index = column.attnum - 1;
        if (nulls[index])
            pair.value.type = jbvNull;
        else
            encode_value(column, values[index], &pair.value);
    }
    return object;
}

JsonbValue *jsonb_value_tree(const Jsonb *value) {
    // A scalar root holds its value as the single element of a raw-scalar array.
    if (JB_ROOT_IS_SCALAR(value)) {
        auto *scalar = static_cast<JsonbValue *>(palloc(sizeof(JsonbValue)));
        JsonbExtractScalar(const_cast<JsonbContainer *>(&value->root), scalar);
        return scalar;
    }
    JsonbIterator *iterator = JsonbIteratorInit(const_cast<JsonbContainer *>(&value->root));
    JsonbParseState *state = nullptr;
    JsonbValue token_value;
    JsonbValue *tree = nullptr;
    JsonbIteratorToken token;
    while ((token = JsonbIteratorNext(&iterator, &token_value, false)) != WJB_DONE) {
        bool carries_value = token == WJB_KEY || token == WJB_VALUE || token == WJB_ELEM;
        tree = pushJsonbValue(&state, token, carries_value ? &token_value : nullptr);
    }
    return tree;
}

}  // namespace eventhooks::pg
