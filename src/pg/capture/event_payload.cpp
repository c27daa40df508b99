// Event payload as jsonb (see event_payload.hpp).
#include "pg/capture/event_payload.hpp"

#include "pg/capture/session_variables.hpp"

namespace eventhooks::pg {

namespace {

void set_key(JsonbPair *pair, const char *key, uint32 order) {
    pair->key.type = jbvString;
    pair->key.val.string.val = const_cast<char *>(key);
    pair->key.val.string.len = static_cast<int>(strlen(key));
    pair->order = order;
}

void set_value_or_null(JsonbPair *pair, const JsonbValue *value) {
    if (value == nullptr)
        pair->value.type = jbvNull;
    else
        pair->value = *value;
}

}  // namespace

Datum build_event_payload(const char *op, const JsonbValue *old_row, const JsonbValue *new_row) {
    // Pairs are written in jsonb's key order (shorter keys first, then by bytes), which is
    // what JsonbValueToJsonb expects of an object it did not sort itself.
    JsonbPair data_pairs[2];
    set_key(&data_pairs[0], "new", 0);
    set_value_or_null(&data_pairs[0], new_row);
    set_key(&data_pairs[1], "old", 1);
    set_value_or_null(&data_pairs[1], old_row);

    JsonbPair pairs[3];
    set_key(&pairs[0], "op", 0);
    pairs[0].value.type = jbvString;
    pairs[0].value.val.string.val = const_cast<char *>(op);
    pairs[0].value.val.string.len = static_cast<int>(strlen(op));
    set_key(&pairs[1], "data", 1);
    pairs[1].value.type = jbvObject;
    pairs[1].value.val.object.nPairs = 2;
    pairs[1].value.val.object.pairs = data_pairs;
    set_key(&pairs[2], "session_variables", 2);
    set_value_or_null(&pairs[2], current_session_variables());

    JsonbValue payload;
    payload.type = jbvObject;
    payload.val.object.nPairs = 3;
    payload.val.object.pairs = pairs;
    return JsonbPGetDatum(JsonbValueToJsonb(&payload));
}

}  // namespace eventhooks::pg
