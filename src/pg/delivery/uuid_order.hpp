// Event ids in the order the worker's cursor uses: the byte order of the uuid, which is also
// Postgres's uuid ordering (and, for UUIDv7, time order).
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace eventhooks::pg {

inline bool uuid_less(const pg_uuid_t &a, const pg_uuid_t &b) {
    return memcmp(a.data, b.data, UUID_LEN) < 0;
}

// The id just before `id` (as 128-bit numbers; the zero id stays zero): the worker's cursor is
// exclusive, so this is where a scan that must see `id` starts.
inline pg_uuid_t uuid_before(pg_uuid_t id) {
    for (int i = UUID_LEN - 1; i >= 0; i--)
        if (id.data[i]-- != 0) return id;
    memset(id.data, 0, UUID_LEN);
    return id;
}

}  // namespace eventhooks::pg
