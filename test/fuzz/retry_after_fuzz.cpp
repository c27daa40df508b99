// parse_retry_after (the Retry-After response header: delta-seconds or an HTTP-date).
// Invariants: a result is never negative; delta-seconds do not depend on "now"; a date's delay
// does not grow when "now" moves forward; nothing throws.
#include <algorithm>

#include "core/retry_policy.hpp"
#include "fuzz_check.hpp"

using eventhooks::core::parse_retry_after;

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string value = fuzz_text(data, size);
    constexpr int64_t now = 1700000000;
    auto at_now = parse_retry_after(value, now);
    auto later = parse_retry_after(value, now + 1000);
    FUZZ_CHECK(at_now.has_value() == later.has_value(), "accepted at one time, not at another");
    if (!at_now) return 0;
    FUZZ_CHECK(*at_now >= 0 && *later >= 0, "negative delay");
    // Delta-seconds: only digits between the optional white space.
    bool digits = std::all_of(value.begin(), value.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == ' ' || c == '\t';
    });
    if (digits) {
        FUZZ_CHECK(*at_now == *later, "delta-seconds changed with now");
    } else {
        FUZZ_CHECK(*later <= *at_now, "HTTP-date delay grew as time passed");
    }
    return 0;
}
