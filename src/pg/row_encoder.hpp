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

struct EncodedColumn {
    AttrNumber attnum;  // in the firing relation
    int key_length;
    char *key;  // column name
    ColumnEncoding encoding;
    // Output function (kNumeric, kFloat, kOutputFunction) or to_jsonb. Calls may cache in
    // fn_extra, hence mutable in an otherwise read-only encoder.
    mutable FmgrInfo function;
};

struct RowEncoder {
    int count;
    EncodedColumn *columns;  // in jsonb object key order (length, then bytes)
};

// The encoder for `attnums` of `desc` (all live columns when all_columns), allocated in
// `context`, which must live as long as the encoder.
RowEncoder *make_row_encoder(TupleDesc desc, bool all_columns, const AttrNumber *attnums,
                             int count, MemoryContext context);

// The row as a jsonb object tree, allocated in CurrentMemoryContext. Strings may point into
// `row`, which must outlive the tree's use.
JsonbValue *encode_row(const RowEncoder &encoder, HeapTuple row, TupleDesc desc);

// A stored jsonb as a tree (no jbvBinary inside), for embedding in a JsonbValue tree.
JsonbValue *jsonb_value_tree(const Jsonb *value);

}  // namespace eventhooks::pg
