// Turns a table row into a jsonb object with exactly the values to_jsonb(row) gives (and so
// row_to_json(row)::jsonb), without to_jsonb's per-call work. to_jsonb looks up every column's
// type category and output function on every call (syscache lookups), builds a jsonb, and the
// payload around it then unpacks and re-serializes that jsonb. Here the per-column decisions
// and the key order are made once per trigger and table shape (trigger_cache), and a row
// becomes a JsonbValue tree that event_payload serializes once, together with the rest of the
// payload.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/jsonb.h"
}

namespace eventhooks::pg {

// How one column's value becomes a jsonb value: the categories of to_jsonb's
// jsonb_categorize_type for the built-in scalar types, decided once. kToJsonb hands the value
// to to_jsonb itself (json, jsonb, arrays, composites, types with a cast to json).
//
// A value a table can hold must never make the user's write fail here, yet jsonb cannot hold
// everything json can: a \u0000 escape, an unpaired UTF-16 surrogate (\ud800), and, in a
// database whose encoding is not UTF8, an escaped character that encoding lacks. Those escapes
// are kept as their six characters of text ("\u0000" as a string), see README. A value longer
// than a jsonb string or container may be is replaced by a marker string (kOmittedMarker).
enum class ColumnEncoding : uint8 {
    kBool,
    kInt2,
    kInt4,
    kInt8,
    kNumeric,
    kFloat,
    kText,
    kDate,
    kTimestamp,
    kTimestampTz,
    kOutputFunction,
    kToJsonb,
};

// Where json text (which may hold escapes jsonb refuses) can hide in a kToJsonb column.
enum class JsonText : uint8 {
    kNone,    // no json anywhere in the type: to_jsonb as is
    kValue,   // json or a domain over it: the value is the json text
    kNested,  // json inside (array, composite, a type with a cast to json): via to_json's text
};

struct EncodedColumn {
    AttrNumber attnum;  // in the firing relation
    int key_length;
    char *key;  // column name
    ColumnEncoding encoding;
    // Output function (kNumeric, kFloat, kOutputFunction) or to_jsonb. Calls may cache in
    // fn_extra, hence mutable in an otherwise read-only encoder.
    mutable FmgrInfo function;
    // kToJsonb only. json_text may turn kNested at run time: a composite type may gain a json
    // attribute (ALTER TYPE ... ADD ATTRIBUTE) without invalidating the table's cache entry, so
    // the composite types a kNone decision rests on are rechecked by their typcache identity.
    mutable JsonText json_text;
    mutable FmgrInfo to_json;  // to_json(declared type), for kNested
    int composite_count;
    Oid *composite_types;
    uint64 *composite_identities;
};

struct RowEncoder {
    int count;
    EncodedColumn *columns;  // in jsonb object key order (length, then bytes)
};

// The encoder for `attnums` of `desc` (all live columns when all_columns), allocated in
// `context`, which must live as long as the encoder.
RowEncoder *make_row_encoder(TupleDesc desc, bool all_columns, const AttrNumber *attnums,
                             int count, MemoryContext context);

// What replaces a value too large for jsonb, followed by its size: "<marker> 301000000 bytes".
inline constexpr char kOmittedMarker[] = "pg_eventhooks: value omitted, larger than jsonb allows:";

// The row as a jsonb object tree, allocated in CurrentMemoryContext. Strings may point into
// `row`, which must outlive the tree's use. *estimated_bytes (if given) gets an upper bound of
// the object's jsonb size, for fit_rows_in_jsonb.
JsonbValue *encode_row(const RowEncoder &encoder, HeapTuple row, TupleDesc desc,
                       size_t *estimated_bytes = nullptr);

// Rows whose estimated sizes together exceed what one jsonb payload can hold get their largest
// values replaced by the marker until they fit. Either row may be nullptr.
void fit_rows_in_jsonb(JsonbValue *old_row, size_t old_bytes, JsonbValue *new_row,
                       size_t new_bytes);

// A stored jsonb as a tree (no jbvBinary inside), for embedding in a JsonbValue tree.
JsonbValue *jsonb_value_tree(const Jsonb *value);

}  // namespace eventhooks::pg
