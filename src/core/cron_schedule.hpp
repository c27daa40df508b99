// Cron schedules of cron triggers (SPEC §2): parsing a 5-field cron expression or a macro, and
// computing the next scheduled minute after a given time, in UTC, with Vixie cron's rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace eventhooks::core {

class CronSchedule {
  public:
    // Parses a 5-field cron expression (minute hour day-of-month month day-of-week, UTC) or a
    // macro (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually). Fields take
    // numbers, ranges (1-5), lists (1,3,5), steps (*/5, 1-10/2, and 5/15 meaning 5-max/15),
    // month names JAN-DEC and weekday names SUN-SAT (any case), Sunday as 0 or 7. When neither
    // day-of-month nor day-of-week starts with '*', a day matches if either matches; otherwise
    // both must (as Vixie cron). Throws ConfigError (core/config_error.hpp) whose message starts
    // with "schedule: " and names the field and why, e.g.
    //   schedule: minute field "61": 61 is out of range 0-59
    //   schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 4
    //   schedule: "0 0 30 2 *" never matches (day-of-month 30 does not occur in month 2)
    // Quoted input is shortened, so a message stays short whatever the input's length.
    static CronSchedule parse(const std::string &expression);

    // The first matching minute strictly after `after` (Unix seconds, UTC; may be negative), as
    // Unix seconds (a multiple of 60). Looks ahead one full 400-year Gregorian cycle, in which
    // every schedule that parses matches; so nullopt only for inputs beyond +-2^50 seconds
    // (about 35 million years), which are outside the supported range.
    std::optional<int64_t> next_after(int64_t after_unix_seconds) const;

    // Whether the minute containing `unix_seconds` matches: a plain field-by-field check of that
    // one minute (for tests, which compare it with next_after's skipping search).
    bool matches(int64_t unix_seconds) const;

    // The expression as given (trimmed), for messages.
    const std::string &text() const;

  private:
    CronSchedule() = default;
    bool day_matches(int64_t year, unsigned month, unsigned day) const;

    std::string text_;
    uint64_t minutes_ = 0;        // bit n: minute n (0-59)
    uint32_t hours_ = 0;          // bit n: hour n (0-23)
    uint32_t days_of_month_ = 0;  // bit n: day n (1-31)
    uint16_t months_ = 0;         // bit n: month n (1-12)
    uint8_t days_of_week_ = 0;    // bit n: weekday n (0 = Sunday ... 6; 7 is stored as 0)
    // The field starts with '*' (Vixie cron's DOM_STAR / DOW_STAR): decides how the two day
    // fields combine.
    bool day_of_month_star_ = false;
    bool day_of_week_star_ = false;
};

}  // namespace eventhooks::core
