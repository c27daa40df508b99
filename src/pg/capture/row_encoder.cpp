// Row to jsonb tree, the way to_jsonb does it (see row_encoder.hpp).
#include "pg/capture/row_encoder.hpp"

#include <algorithm>

extern "C" {
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/typcache.h"
}

namespace eventhooks::pg {

namespace {

// to_jsonb(anyelement) and to_json(anyelement) read the argument's type from fn_expr: a typed
// null constant there makes this FmgrInfo convert values of `type`.
void prepare_polymorphic(FmgrInfo *function, Oid function_oid, Oid result_type, Oid type,
                         MemoryContext context) {
    fmgr_info_cxt(function_oid, function, context);
    MemoryContext old = MemoryContextSwitchTo(context);
    Const *argument = makeNullConst(type, -1, InvalidOid);
    function->fn_expr =
        reinterpret_cast<Node *>(makeFuncExpr(function_oid, result_type, list_make1(argument),
                                              InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    MemoryContextSwitchTo(old);
}

// A type made by a user may have a cast to json that to_jsonb would use. pg_cast changes
// invalidate the trigger cache, so the decision stays right.
bool casts_to_json(Oid type) {
    Oid cast_function = InvalidOid;
    return type >= FirstNormalObjectId &&
           find_coercion_pathway(JSONOID, type, COERCION_EXPLICIT, &cast_function) ==
               COERCION_PATH_FUNC &&
           OidIsValid(cast_function);
}

// Whether to_jsonb of a `type` value parses json text somewhere (a json value, an element or
// attribute of type json, a cast to json). Appends the composite types walked to *composites.
bool may_hold_json(Oid type, List **composites) {
    check_stack_depth();
    type = getBaseType(type);
    if (type == JSONOID) return true;
    if (type == JSONBOID) return false;
    Oid element = get_element_type(type);
    if (OidIsValid(element)) return may_hold_json(element, composites);
    if (type != RECORDOID && type_is_rowtype(type)) {
        *composites = lappend_oid(*composites, type);
        TupleDesc desc = lookup_rowtype_tupdesc(type, -1);
        bool found = false;
        for (int i = 0; i < desc->natts && !found; i++) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            found = !att->attisdropped && may_hold_json(att->atttypid, composites);
        }
        ReleaseTupleDesc(desc);
        return found;
    }
    return casts_to_json(type);
}

void decide_json_text(EncodedColumn *column, Oid declared_type, MemoryContext context) {
    Oid type = getBaseType(declared_type);
    if (type == JSONOID) {
        column->json_text = JsonText::kValue;
        return;
    }
    List *composites = NIL;
    if (may_hold_json(type, &composites)) {
        column->json_text = JsonText::kNested;
    } else {
        column->json_text = JsonText::kNone;
        column->composite_count = list_length(composites);
        column->composite_types =
            static_cast<Oid *>(MemoryContextAlloc(context, sizeof(Oid) * (column->composite_count + 1)));
        column->composite_identities = static_cast<uint64 *>(
            MemoryContextAlloc(context, sizeof(uint64) * (column->composite_count + 1)));
        for (int i = 0; i < column->composite_count; i++) {
            Oid composite = list_nth_oid(composites, i);
            column->composite_types[i] = composite;
            column->composite_identities[i] =
                lookup_type_cache(composite, TYPECACHE_TUPDESC)->tupDesc_identifier;
        }
    }
    list_free(composites);
    // Prepared for every structured column: a composite may gain a json attribute later.
    prepare_polymorphic(&column->to_json, F_TO_JSON, JSONOID, declared_type, context);
}

// A composite type a kNone decision rests on was changed since (ALTER TYPE ... ADD ATTRIBUTE
// does not invalidate the tables using it): take the json-safe way from now on. One typcache
// lookup per composite type, next to the several to_jsonb itself makes per value.
void recheck_json_text(const EncodedColumn &column) {
    for (int i = 0; i < column.composite_count; i++) {
        if (lookup_type_cache(column.composite_types[i], TYPECACHE_TUPDESC)->tupDesc_identifier !=
            column.composite_identities[i]) {
            column.json_text = JsonText::kNested;
            return;
        }
    }
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
    if (structured || casts_to_json(type)) {
        column->encoding = ColumnEncoding::kToJsonb;
        prepare_polymorphic(&column->function, F_TO_JSONB, JSONBOID, declared_type, context);
        decide_json_text(column, declared_type, context);
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

// jsonb refuses a string or a container longer than this (JENTRY_OFFLENMASK). The payload
// around the rows (keys, op, session variables) gets a megabyte of the budget.
constexpr size_t kMaxJsonbBytes = JENTRY_OFFLENMASK;
constexpr size_t kRowsBudget = kMaxJsonbBytes - 1024 * 1024;

// Bytes a value adds to its jsonb container besides its JEntry: data plus alignment padding.
constexpr size_t kPadding = 3;

size_t set_omitted(JsonbValue *out, size_t bytes) {
    char *marker = psprintf("%s %zu bytes", kOmittedMarker, bytes);
    out->type = jbvString;
    out->val.string.val = marker;
    out->val.string.len = static_cast<int>(strlen(marker));
    return out->val.string.len;
}

size_t set_string(JsonbValue *out, char *text, size_t length) {
    if (length > kMaxJsonbBytes) return set_omitted(out, length);
    out->type = jbvString;
    out->val.string.val = text;
    out->val.string.len = static_cast<int>(length);
    return length;
}

size_t set_cstring(JsonbValue *out, char *text) { return set_string(out, text, strlen(text)); }

size_t set_numeric(JsonbValue *out, Numeric value) {
    out->type = jbvNumeric;
    out->val.numeric = value;
    return VARSIZE_ANY(value) + kPadding;
}

// --- json text that jsonb cannot hold as is -------------------------------------------------

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The code unit of the escape "\uXXXX" at `escape`, or -1 when it is not one.
int escaped_unit(const char *escape, const char *end) {
    if (end - escape < 6 || escape[0] != '\\' || escape[1] != 'u') return -1;
    int unit = 0;
    for (int i = 2; i < 6; i++) {
        int digit = hex_digit(escape[i]);
        if (digit < 0) return -1;
        unit = unit * 16 + digit;
    }
    return unit;
}

bool is_high_surrogate(int unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool is_low_surrogate(int unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

// Whether jsonb can hold `code_point` de-escaped: not NUL (text cannot), and the database's
// encoding has the character (pg_unicode_to_server would fail otherwise).
bool storable_code_point(pg_wchar code_point) {
    if (code_point == 0) return false;
    if (code_point <= 0x7F) return true;
    int encoding = GetDatabaseEncoding();
    if (encoding == PG_UTF8) return true;
    if (encoding == PG_SQL_ASCII) return false;  // no conversion from UTF8 exists
    static Oid conversion = InvalidOid;  // the database's encoding never changes
    static bool looked_up = false;
    if (!looked_up) {
        conversion = FindDefaultConversionProc(PG_UTF8, encoding);
        looked_up = true;
    }
    if (!OidIsValid(conversion)) return false;
    unsigned char utf8[8];
    unsigned char converted[8 * MAX_CONVERSION_GROWTH + 1];
    unicode_to_utf8(code_point, utf8);
    int length = pg_utf_mblen(utf8);
    return pg_do_encoding_conversion_buf(conversion, PG_UTF8, encoding, utf8, length, converted,
                                         sizeof(converted), true) == length;
}

// `json` (valid json text) with every \u escape jsonb cannot hold kept as its six characters
// of text: a backslash is put before it, so "\u0000" becomes the string `\u0000`. Returns
// `json` itself when there is none, which a memchr for a backslash mostly settles at once.
text *keep_unstorable_escapes(text *json) {
    const char *begin = VARDATA_ANY(json);
    const char *end = begin + VARSIZE_ANY_EXHDR(json);
    const char *p = static_cast<const char *>(memchr(begin, '\\', end - begin));
    if (p == nullptr) return json;
    StringInfoData out;
    out.data = nullptr;
    const char *copied = begin;
    auto keep_as_text = [&](const char *escape) {
        if (out.data == nullptr) initStringInfo(&out);
        appendBinaryStringInfo(&out, copied, static_cast<int>(escape - copied));
        appendStringInfoChar(&out, '\\');
        copied = escape;
    };
    while (p != nullptr) {
        // Valid json has backslashes only inside strings, each starting an escape.
        int unit = escaped_unit(p, end);
        if (unit < 0) {
            p += 2;  // \n, \", \\ and the like
        } else if (is_high_surrogate(unit) && is_low_surrogate(escaped_unit(p + 6, end))) {
            int low = escaped_unit(p + 6, end);
            pg_wchar code_point = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            if (!storable_code_point(code_point)) {
                keep_as_text(p);
                keep_as_text(p + 6);
            }
            p += 12;
        } else {
            if (is_high_surrogate(unit) || is_low_surrogate(unit) ||
                !storable_code_point(static_cast<pg_wchar>(unit)))
                keep_as_text(p);
            p += 6;
        }
        p = p < end ? static_cast<const char *>(memchr(p, '\\', end - p)) : nullptr;
    }
    if (out.data == nullptr) return json;
    appendBinaryStringInfo(&out, copied, static_cast<int>(end - copied));
    return cstring_to_text_with_len(out.data, out.len);
}

// numeric's bounds (PostgreSQL 15, utils/adt/numeric.c), which jsonb's numbers have and json's
// do not: numeric_in refuses an exponent of INT_MAX/2 or more, and make_result a weight beyond
// int16 (32767 base-10000 digits: 131072 decimal digits before the point) or a display scale
// beyond NUMERIC_DSCALE_MAX (16383 digits after it). Ours stay 1000 digits inside them, so a
// number near a bound is never tried: keeping one numeric could hold costs nothing.
constexpr int64 kMaxIntegerDigits = 131072 - 1000;
constexpr int64 kMaxScale = 16383 - 1000;
constexpr int64 kExponentCap = 1000000000;  // larger exponents count as this one: far beyond

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Whether numeric_in takes the json number at `p` (valid json: -?int(.frac)?([eE][+-]?exp)?);
// sets *number_end past it. Over-estimates weight and scale (leading zeros are counted), which
// only sends a few storable numbers the text way.
bool storable_number(const char *p, const char *end, const char **number_end) {
    int64 integer_digits = 0, fraction_digits = 0, exponent = 0;
    if (*p == '-') p++;
    for (; p < end && is_digit(*p); p++) integer_digits++;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++) fraction_digits++;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool negative = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+')) p++;
        for (; p < end && is_digit(*p); p++)
            if (exponent < kExponentCap) exponent = exponent * 10 + (*p - '0');
        if (negative) exponent = -exponent;
    }
    *number_end = p;
    return integer_digits + exponent <= kMaxIntegerDigits &&
           fraction_digits - exponent <= kMaxScale;
}

// Past the json string whose content starts at `p` (after its opening quote).
const char *string_end(const char *p, const char *end) {
    for (;;) {
        const char *quote = static_cast<const char *>(memchr(p, '"', end - p));
        if (quote == nullptr) return end;
        const char *b = quote;
        while (b[-1] == '\\') b--;  // the opening quote stops this
        if ((quote - b) % 2 == 0) return quote + 1;  // not escaped
        p = quote + 1;
    }
}

// `json` (valid json text) with every number numeric cannot hold (1e1000000, 1e-20000, 20000
// fractional digits) made a json string of its text: 1e1000000 becomes "1e1000000". Returns
// `json` itself when there is none. One pass outside strings (strings are skipped by memchr),
// cheap next to jsonb_in, which lexes the same text and parses every number with numeric_in.
text *keep_unstorable_numbers(text *json) {
    const char *begin = VARDATA_ANY(json);
    const char *end = begin + VARSIZE_ANY_EXHDR(json);
    StringInfoData out;
    out.data = nullptr;
    const char *copied = begin;
    const char *p = begin;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = string_end(p + 1, end);
        } else if (c == '-' || is_digit(c)) {
            const char *number_end;
            if (!storable_number(p, end, &number_end)) {
                if (out.data == nullptr) initStringInfo(&out);
                appendBinaryStringInfo(&out, copied, static_cast<int>(p - copied));
                appendStringInfoChar(&out, '"');  // a number's characters need no escaping
                appendBinaryStringInfo(&out, p, static_cast<int>(number_end - p));
                appendStringInfoChar(&out, '"');
                copied = number_end;
            }
            p = number_end;
        } else {
            p++;  // structure, white space, true/false/null
        }
    }
    if (out.data == nullptr) return json;
    appendBinaryStringInfo(&out, copied, static_cast<int>(end - copied));
    return cstring_to_text_with_len(out.data, out.len);
}

// A kToJsonb value: to_jsonb, except that json text inside is rid of what jsonb refuses first.
size_t encode_through_to_jsonb(const EncodedColumn &column, Datum value, JsonbValue *out) {
    if (column.composite_count > 0 && column.json_text == JsonText::kNone)
        recheck_json_text(column);
    Jsonb *jsonb;
    if (column.json_text == JsonText::kNone) {
        jsonb = DatumGetJsonbP(FunctionCall1(&column.function, value));
    } else {
        // row_to_json's text of the value (json columns are their own text).
        text *json = DatumGetTextPP(column.json_text == JsonText::kValue
                                        ? value
                                        : FunctionCall1(&column.to_json, value));
        size_t length = VARSIZE_ANY_EXHDR(json);
        if (length > kMaxJsonbBytes) return set_omitted(out, length);
        json = keep_unstorable_numbers(keep_unstorable_escapes(json));
        if (column.json_text == JsonText::kValue)
            jsonb = DatumGetJsonbP(FunctionCall1(&column.function, PointerGetDatum(json)));
        else
            jsonb = DatumGetJsonbP(
                DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(json))));
    }
    *out = *jsonb_value_tree(jsonb);
    return VARSIZE(jsonb) + kPadding;
}

// The value as jsonb; returns an upper bound of the bytes it adds to the row's object.
size_t encode_value(const EncodedColumn &column, Datum value, JsonbValue *out) {
    switch (column.encoding) {
        case ColumnEncoding::kBool:
            out->type = jbvBool;
            out->val.boolean = DatumGetBool(value);
            return 0;
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
        case ColumnEncoding::kToJsonb: return encode_through_to_jsonb(column, value, out);
    }
    return 0;
}

// Upper bound of the bytes `value` takes in its container, walking it (the rare path only).
size_t estimated_bytes(const JsonbValue &value) {
    switch (value.type) {
        case jbvString: return value.val.string.len + sizeof(JEntry);
        case jbvNumeric: return VARSIZE_ANY(value.val.numeric) + kPadding + sizeof(JEntry);
        case jbvArray: {
            size_t bytes = 2 * sizeof(JEntry) + kPadding;
            for (int i = 0; i < value.val.array.nElems; i++)
                bytes += estimated_bytes(value.val.array.elems[i]);
            return bytes;
        }
        case jbvObject: {
            size_t bytes = 2 * sizeof(JEntry) + kPadding;
            for (int i = 0; i < value.val.object.nPairs; i++)
                bytes += estimated_bytes(value.val.object.pairs[i].key) +
                         estimated_bytes(value.val.object.pairs[i].value);
            return bytes;
        }
        default: return sizeof(JEntry);
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
        AttrNumber attnum = all_columns ? static_cast<AttrNumber>(i + 1) : attnums[i];
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

JsonbValue *encode_row(const RowEncoder &encoder, HeapTuple row, TupleDesc desc,
                       size_t *estimated_bytes) {
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
    // Keys, their JEntries and the value's JEntry for every column, and the header.
    size_t bytes = sizeof(JEntry) + kPadding;
    for (int i = 0; i < encoder.count; i++) {
        const EncodedColumn &column = encoder.columns[i];
        JsonbPair &pair = object->val.object.pairs[i];
        pair.key.type = jbvString;
        pair.key.val.string.val = column.key;
        pair.key.val.string.len = column.key_length;
        pair.order = static_cast<uint32>(i);
        bytes += column.key_length + 2 * sizeof(JEntry);
        int index = column.attnum - 1;
        if (nulls[index])
            pair.value.type = jbvNull;
        else
            bytes += encode_value(column, values[index], &pair.value);
    }
    if (estimated_bytes != nullptr) *estimated_bytes = bytes;
    return object;
}

void fit_rows_in_jsonb(JsonbValue *old_row, size_t old_bytes, JsonbValue *new_row,
                       size_t new_bytes) {
    size_t total = old_bytes + new_bytes;
    if (total <= kRowsBudget) return;  // always but for rows of hundreds of megabytes
    // The largest values of either row become markers until both rows fit in one payload.
    JsonbValue *rows[2] = {old_row, new_row};
    while (total > kRowsBudget) {
        JsonbValue *largest = nullptr;
        size_t largest_bytes = 0;
        for (JsonbValue *row : rows) {
            if (row == nullptr) continue;
            for (int i = 0; i < row->val.object.nPairs; i++) {
                JsonbValue *value = &row->val.object.pairs[i].value;
                size_t bytes = estimated_bytes(*value);
                if (bytes > largest_bytes) largest = value, largest_bytes = bytes;
            }
        }
        if (largest == nullptr || largest_bytes <= 1024) break;  // nothing left worth omitting
        size_t marker_bytes =
            set_omitted(largest, largest->type == jbvString ? largest->val.string.len
                                                             : largest_bytes) +
            sizeof(JEntry);
        total = total - std::min(total, largest_bytes) + marker_bytes;
    }
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
