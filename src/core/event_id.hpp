// Event ids: UUIDv7 (RFC 9562) generation, cheap enough for the row-change hot path, and the
// canonical text form.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace eventhooks::core {

using Uuid = std::array<uint8_t, 16>;

// A new UUIDv7: 48-bit unix milliseconds, version 7, 12-bit rand_a holding the sub-millisecond
// fraction of the clock (RFC 9562 §6.2 method 3) bumped as a counter so that ids from one process
// are strictly increasing (if it overflows, the millisecond is bumped), variant 0b10, and 62
// random bits from a per-process xoshiro256** generator seeded from OpenSSL RAND_bytes (reseeded
// in the child after fork()). Thread-safe. Costs one clock_gettime(CLOCK_REALTIME) per id.
Uuid new_event_uuid_v7();

// Lowercase canonical form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string uuid_to_string(const Uuid &uuid);

}  // namespace eventhooks::core
