// CronSchedule::parse and next_after (cron triggers' schedule).
// Invariants: ConfigError is the only exception, its message starts with "schedule: " and stays
// short whatever the input; an accepted schedule always has a next time, strictly later and on
// a minute; next_after is consistent with itself (from just before its result it finds the same
// result) and with a minute-by-minute check (matches) over the first few hundred minutes.
#include <array>
#include <optional>
#include <string>

#include "core/config_error.hpp"
#include "core/cron_schedule.hpp"
#include "fuzz_check.hpp"

using eventhooks::core::ConfigError;
using eventhooks::core::CronSchedule;

namespace {

constexpr std::size_t kMaxMessage = 300;
constexpr int kScanMinutes = 300;

void check_from(const CronSchedule &schedule, int64_t after) {
    auto next = schedule.next_after(after);
    FUZZ_CHECK(next.has_value(), "no next time for accepted \"" + schedule.text() + "\"");
    FUZZ_CHECK(*next > after, "next time not after the start");
    FUZZ_CHECK(*next % 60 == 0, "next time not on a minute");
    FUZZ_CHECK(schedule.matches(*next), "next time does not match");
    FUZZ_CHECK(schedule.next_after(*next - 1) == next, "not found again from just before it");
    // Every minute between `after` and the result (the first kScanMinutes) must not match.
    int64_t minute = (after / 60 - (after % 60 < 0 ? 1 : 0) + 1) * 60;
    for (int i = 0; i < kScanMinutes && minute < *next; ++i, minute += 60) {
        FUZZ_CHECK(!schedule.matches(minute), "skipped a matching minute");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    std::optional<CronSchedule> schedule;
    try {
        schedule = CronSchedule::parse(text);
    } catch (const ConfigError &e) {
        std::string message = e.what();
        FUZZ_CHECK(message.rfind("schedule: ", 0) == 0, message);
        FUZZ_CHECK(message.size() <= kMaxMessage, message);
        return 0;
    }
    // 1970-01-01 00:00, just before it, a time within a minute, 2028-02-28 23:59:30 (a leap
    // day next), 9999-12-31 23:59:59, 1899-12-31 23:59:59.
    constexpr std::array<int64_t, 6> kStarts = {0,          -1,           1700000030,
                                                1835395170, 253402300799, -2208988801};
    for (int64_t after : kStarts) check_from(*schedule, after);
    // The second match follows the first.
    auto first = schedule->next_after(kStarts[2]);
    auto second = schedule->next_after(*first);
    FUZZ_CHECK(second && *second > *first, "no second match");
    return 0;
}
