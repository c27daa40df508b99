// Unit tests of src/core/cron_schedule: every field syntax, names, Sunday as 0 and 7, Vixie
// cron's day-of-month / day-of-week rule, macros, next_after across minute, hour, day, month and
// year ends and leap years, and every error message. Times are written as UTC text and converted
// with timegm/gmtime_r here, independently of the Hinnant arithmetic under test.
#include "core/cron_schedule.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/config_error.hpp"

namespace ec = eventhooks::core;
using ec::CronSchedule;

namespace {

// "YYYY-MM-DD HH:MM:SS" (UTC) -> Unix seconds.
int64_t at(const std::string &text) {
    std::tm tm{};
    int year = 0;
    if (std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d", &year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec) != 6) {
        ADD_FAILURE() << "bad time " << text;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon -= 1;
    return static_cast<int64_t>(timegm(&tm));
}

// Unix seconds -> "YYYY-MM-DD HH:MM:SS" (UTC).
std::string show(int64_t t) {
    auto tt = static_cast<time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string next(const std::string &expression, const std::string &after) {
    auto t = CronSchedule::parse(expression).next_after(at(after));
    return t ? show(*t) : "none";
}

// The first n matches after `after`, each from the previous one.
std::vector<std::string> upcoming(const std::string &expression, const std::string &after, int n) {
    CronSchedule s = CronSchedule::parse(expression);
    std::vector<std::string> out;
    int64_t t = at(after);
    for (int i = 0; i < n; ++i) {
        auto r = s.next_after(t);
        if (!r) {
            out.emplace_back("none");
            break;
        }
        out.push_back(show(*r));
        t = *r;
    }
    return out;
}

std::string error_of(const std::string &expression) {
    try {
        CronSchedule::parse(expression);
    } catch (const ec::ConfigError &e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST(CronSchedule, EveryMinute) {
    EXPECT_EQ(upcoming("* * * * *", "2025-03-10 12:00:00", 3),
              (std::vector<std::string>{"2025-03-10 12:01:00", "2025-03-10 12:02:00",
                                        "2025-03-10 12:03:00"}));
}

TEST(CronSchedule, MinuteSyntax) {
    EXPECT_EQ(upcoming("7 * * * *", "2025-03-10 12:00:00", 2),
              (std::vector<std::string>{"2025-03-10 12:07:00", "2025-03-10 13:07:00"}));
    EXPECT_EQ(upcoming("*/15 * * * *", "2025-03-10 12:00:00", 4),
              (std::vector<std::string>{"2025-03-10 12:15:00", "2025-03-10 12:30:00",
                                        "2025-03-10 12:45:00", "2025-03-10 13:00:00"}));
    // 1-10/4: 1, 5, 9.
    EXPECT_EQ(upcoming("1-10/4 * * * *", "2025-03-10 12:00:00", 4),
              (std::vector<std::string>{"2025-03-10 12:01:00", "2025-03-10 12:05:00",
                                        "2025-03-10 12:09:00", "2025-03-10 13:01:00"}));
    // 5/15 is 5-59/15 (Vixie cron): 5, 20, 35, 50.
    EXPECT_EQ(upcoming("5/15 * * * *", "2025-03-10 12:00:00", 5),
              (std::vector<std::string>{"2025-03-10 12:05:00", "2025-03-10 12:20:00",
                                        "2025-03-10 12:35:00", "2025-03-10 12:50:00",
                                        "2025-03-10 13:05:00"}));
    EXPECT_EQ(upcoming("58-59,0 * * * *", "2025-03-10 12:30:00", 4),
              (std::vector<std::string>{"2025-03-10 12:58:00", "2025-03-10 12:59:00",
                                        "2025-03-10 13:00:00", "2025-03-10 13:58:00"}));
    // A list mixing single values, ranges and steps.
    EXPECT_EQ(upcoming("3,10-12,40/10 * * * *", "2025-03-10 12:00:00", 7),
              (std::vector<std::string>{"2025-03-10 12:03:00", "2025-03-10 12:10:00",
                                        "2025-03-10 12:11:00", "2025-03-10 12:12:00",
                                        "2025-03-10 12:40:00", "2025-03-10 12:50:00",
                                        "2025-03-10 13:03:00"}));
}

TEST(CronSchedule, HourSyntax) {
    EXPECT_EQ(upcoming("0,30 9-10 * * *", "2025-03-10 09:00:00", 4),
              (std::vector<std::string>{"2025-03-10 09:30:00", "2025-03-10 10:00:00",
                                        "2025-03-10 10:30:00", "2025-03-11 09:00:00"}));
    EXPECT_EQ(upcoming("15 */6 * * *", "2025-03-10 13:00:00", 3),
              (std::vector<std::string>{"2025-03-10 18:15:00", "2025-03-11 00:15:00",
                                        "2025-03-11 06:15:00"}));
    EXPECT_EQ(upcoming("0 22/1 * * *", "2025-03-10 00:00:00", 3),
              (std::vector<std::string>{"2025-03-10 22:00:00", "2025-03-10 23:00:00",
                                        "2025-03-11 22:00:00"}));
}

TEST(CronSchedule, DayOfMonthSyntax) {
    EXPECT_EQ(upcoming("0 0 1,15 * *", "2025-03-10 00:00:00", 3),
              (std::vector<std::string>{"2025-03-15 00:00:00", "2025-04-01 00:00:00",
                                        "2025-04-15 00:00:00"}));
    EXPECT_EQ(upcoming("0 0 5/10 * *", "2025-03-01 00:00:00", 4),
              (std::vector<std::string>{"2025-03-05 00:00:00", "2025-03-15 00:00:00",
                                        "2025-03-25 00:00:00", "2025-04-05 00:00:00"}));
    EXPECT_EQ(upcoming("0 12 10-11 * *", "2025-03-01 00:00:00", 3),
              (std::vector<std::string>{"2025-03-10 12:00:00", "2025-03-11 12:00:00",
                                        "2025-04-10 12:00:00"}));
}

TEST(CronSchedule, MonthSyntax) {
    EXPECT_EQ(upcoming("0 0 1 */3 *", "2025-01-01 00:00:00", 4),
              (std::vector<std::string>{"2025-04-01 00:00:00", "2025-07-01 00:00:00",
                                        "2025-10-01 00:00:00", "2026-01-01 00:00:00"}));
    EXPECT_EQ(upcoming("0 0 1 6-7 *", "2025-01-01 00:00:00", 3),
              (std::vector<std::string>{"2025-06-01 00:00:00", "2025-07-01 00:00:00",
                                        "2026-06-01 00:00:00"}));
}

TEST(CronSchedule, DayOfWeekSyntax) {
    // 2025-03-14 is a Friday: the weekend is skipped.
    EXPECT_EQ(upcoming("0 9 * * 1-5", "2025-03-14 00:00:00", 3),
              (std::vector<std::string>{"2025-03-14 09:00:00", "2025-03-17 09:00:00",
                                        "2025-03-18 09:00:00"}));
    EXPECT_EQ(upcoming("0 9 * * 2,4", "2025-03-14 00:00:00", 3),
              (std::vector<std::string>{"2025-03-18 09:00:00", "2025-03-20 09:00:00",
                                        "2025-03-25 09:00:00"}));
    // 1/2 is Monday, Wednesday, Friday: the implicit end is Saturday, not 7.
    EXPECT_EQ(upcoming("0 9 * * 1/2", "2025-03-14 10:00:00", 4),
              (std::vector<std::string>{"2025-03-17 09:00:00", "2025-03-19 09:00:00",
                                        "2025-03-21 09:00:00", "2025-03-24 09:00:00"}));
}

TEST(CronSchedule, NamesAnyCase) {
    EXPECT_EQ(upcoming("0 0 1 jan,JUL *", "2025-03-01 00:00:00", 3),
              (std::vector<std::string>{"2025-07-01 00:00:00", "2026-01-01 00:00:00",
                                        "2026-07-01 00:00:00"}));
    EXPECT_EQ(upcoming("0 0 1 Feb-Apr *", "2025-03-15 00:00:00", 3),
              (std::vector<std::string>{"2025-04-01 00:00:00", "2026-02-01 00:00:00",
                                        "2026-03-01 00:00:00"}));
    EXPECT_EQ(upcoming("0 9 * * MON-FRI", "2025-03-14 00:00:00", 3),
              upcoming("0 9 * * 1-5", "2025-03-14 00:00:00", 3));
    EXPECT_EQ(upcoming("0 9 * * mon,Wed", "2025-03-14 00:00:00", 3),
              (std::vector<std::string>{"2025-03-17 09:00:00", "2025-03-19 09:00:00",
                                        "2025-03-24 09:00:00"}));
    EXPECT_EQ(next("0 9 * * sun", "2025-03-14 00:00:00"), "2025-03-16 09:00:00");
    EXPECT_EQ(next("0 0 1 DEC/2 *", "2025-03-14 00:00:00"), "2025-12-01 00:00:00");
}

TEST(CronSchedule, SundayIsZeroOrSeven) {
    // 2025-03-16 and 2025-03-23 are Sundays.
    std::vector<std::string> sundays = {"2025-03-16 00:00:00", "2025-03-23 00:00:00"};
    EXPECT_EQ(upcoming("0 0 * * 0", "2025-03-14 00:00:00", 2), sundays);
    EXPECT_EQ(upcoming("0 0 * * 7", "2025-03-14 00:00:00", 2), sundays);
    // 7 in a range: Friday, Saturday, Sunday.
    EXPECT_EQ(upcoming("0 0 * * 5-7", "2025-03-13 00:00:00", 4),
              (std::vector<std::string>{"2025-03-14 00:00:00", "2025-03-15 00:00:00",
                                        "2025-03-16 00:00:00", "2025-03-21 00:00:00"}));
    EXPECT_EQ(upcoming("0 0 * * FRI-7", "2025-03-13 00:00:00", 4),
              upcoming("0 0 * * 5-7", "2025-03-13 00:00:00", 4));
}

TEST(CronSchedule, DayOfMonthOrDayOfWeekWhenBothRestricted) {
    // Every 13th and every Friday (2025-01-03 is a Friday, 2025-01-13 a Monday).
    EXPECT_EQ(upcoming("0 0 13 * 5", "2025-01-01 00:00:00", 8),
              (std::vector<std::string>{"2025-01-03 00:00:00", "2025-01-10 00:00:00",
                                        "2025-01-13 00:00:00", "2025-01-17 00:00:00",
                                        "2025-01-24 00:00:00", "2025-01-31 00:00:00",
                                        "2025-02-07 00:00:00", "2025-02-13 00:00:00"}));
    // Only the 13th.
    EXPECT_EQ(upcoming("0 0 13 * *", "2025-01-01 00:00:00", 3),
              (std::vector<std::string>{"2025-01-13 00:00:00", "2025-02-13 00:00:00",
                                        "2025-03-13 00:00:00"}));
    // Only Fridays.
    EXPECT_EQ(upcoming("0 0 * * 5", "2025-01-01 00:00:00", 3),
              (std::vector<std::string>{"2025-01-03 00:00:00", "2025-01-10 00:00:00",
                                        "2025-01-17 00:00:00"}));
    // A stepped '*' still counts as '*' (Vixie cron): odd days that are Fridays, both needed.
    EXPECT_EQ(upcoming("0 0 */2 * 5", "2025-01-01 00:00:00", 5),
              (std::vector<std::string>{"2025-01-03 00:00:00", "2025-01-17 00:00:00",
                                        "2025-01-31 00:00:00", "2025-02-07 00:00:00",
                                        "2025-02-21 00:00:00"}));
}

TEST(CronSchedule, Macros) {
    const std::string from = "2025-03-14 10:20:00";
    EXPECT_EQ(upcoming("@hourly", from, 5), upcoming("0 * * * *", from, 5));
    EXPECT_EQ(upcoming("@daily", from, 5), upcoming("0 0 * * *", from, 5));
    EXPECT_EQ(upcoming("@midnight", from, 5), upcoming("0 0 * * *", from, 5));
    EXPECT_EQ(upcoming("@weekly", from, 5), upcoming("0 0 * * 0", from, 5));
    EXPECT_EQ(upcoming("@monthly", from, 5), upcoming("0 0 1 * *", from, 5));
    EXPECT_EQ(upcoming("@yearly", from, 5), upcoming("0 0 1 1 *", from, 5));
    EXPECT_EQ(upcoming("@annually", from, 5), upcoming("0 0 1 1 *", from, 5));
    EXPECT_EQ(next("@hourly", from), "2025-03-14 11:00:00");
    EXPECT_EQ(next("@weekly", from), "2025-03-16 00:00:00");
    EXPECT_EQ(next("@yearly", from), "2026-01-01 00:00:00");
    EXPECT_EQ(next("  @Daily\t", from), "2025-03-15 00:00:00");
    EXPECT_EQ(CronSchedule::parse("  @Daily\t").text(), "@Daily");
}

TEST(CronSchedule, CrossesMinuteHourDayMonthAndYearEnds) {
    EXPECT_EQ(next("* * * * *", "2025-03-14 10:20:00"), "2025-03-14 10:21:00");
    EXPECT_EQ(next("* * * * *", "2025-03-14 10:59:00"), "2025-03-14 11:00:00");
    EXPECT_EQ(next("* * * * *", "2025-03-14 23:59:00"), "2025-03-15 00:00:00");
    EXPECT_EQ(next("* * * * *", "2025-03-31 23:59:00"), "2025-04-01 00:00:00");
    EXPECT_EQ(next("* * * * *", "2025-12-31 23:59:00"), "2026-01-01 00:00:00");
    EXPECT_EQ(next("0 * * * *", "2025-12-31 23:00:00"), "2026-01-01 00:00:00");
    EXPECT_EQ(next("30 23 * * *", "2025-12-31 23:30:00"), "2026-01-01 23:30:00");
    EXPECT_EQ(next("0 0 1 * *", "2025-01-31 12:00:00"), "2025-02-01 00:00:00");
    EXPECT_EQ(next("0 0 1 1 *", "2025-01-01 00:00:00"), "2026-01-01 00:00:00");
    EXPECT_EQ(next("59 23 31 12 *", "2025-06-01 00:00:00"), "2025-12-31 23:59:00");
    // The last hour of the day has no matching minute left: the next day.
    EXPECT_EQ(next("10 23 * * *", "2025-03-14 23:10:00"), "2025-03-15 23:10:00");
    EXPECT_EQ(next("* * * * *", "9999-12-31 23:59:00"), "10000-01-01 00:00:00");
}

TEST(CronSchedule, LeapYears) {
    EXPECT_EQ(next("0 0 29 2 *", "2025-01-01 00:00:00"), "2028-02-29 00:00:00");
    // 2100 is not a leap year; 2000 is (divisible by 400).
    EXPECT_EQ(next("0 0 29 2 *", "2096-03-01 00:00:00"), "2104-02-29 00:00:00");
    EXPECT_EQ(next("0 0 29 2 *", "1999-03-01 00:00:00"), "2000-02-29 00:00:00");
    EXPECT_EQ(next("0 0 28 2 *", "2100-02-27 00:00:00"), "2100-02-28 00:00:00");
    EXPECT_EQ(next("0 0 1 3 *", "2100-02-28 00:00:00"), "2100-03-01 00:00:00");
    EXPECT_EQ(next("0 0 * 2 *", "2028-02-28 00:00:00"), "2028-02-29 00:00:00");
    EXPECT_EQ(next("0 0 * 2 *", "2027-02-28 00:00:00"), "2028-02-01 00:00:00");
    // Feb 29 that is a Sunday ('*/7' makes day-of-week count too): 2088, then 40 years later,
    // beyond 30 years: the search covers a whole 400-year cycle.
    EXPECT_EQ(next("0 0 29 2 */7", "2088-03-01 00:00:00"), "2128-02-29 00:00:00");
}

TEST(CronSchedule, ThirtyFirstSkipsShortMonths) {
    EXPECT_EQ(upcoming("0 0 31 * *", "2025-01-01 00:00:00", 8),
              (std::vector<std::string>{"2025-01-31 00:00:00", "2025-03-31 00:00:00",
                                        "2025-05-31 00:00:00", "2025-07-31 00:00:00",
                                        "2025-08-31 00:00:00", "2025-10-31 00:00:00",
                                        "2025-12-31 00:00:00", "2026-01-31 00:00:00"}));
    EXPECT_EQ(next("0 0 30 * *", "2025-01-30 00:00:00"), "2025-03-30 00:00:00");
}

TEST(CronSchedule, StrictlyAfter) {
    EXPECT_EQ(next("0 12 * * *", "2025-03-14 12:00:00"), "2025-03-15 12:00:00");
    EXPECT_EQ(next("0 12 * * *", "2025-03-14 11:59:59"), "2025-03-14 12:00:00");
    EXPECT_EQ(next("*/5 * * * *", "2025-03-14 12:05:00"), "2025-03-14 12:10:00");
}

TEST(CronSchedule, SecondsWithinAMinute) {
    EXPECT_EQ(next("* * * * *", "2025-03-14 12:00:30"), "2025-03-14 12:01:00");
    EXPECT_EQ(next("* * * * *", "2025-03-14 12:00:59"), "2025-03-14 12:01:00");
    EXPECT_EQ(next("1 12 * * *", "2025-03-14 12:00:59"), "2025-03-14 12:01:00");
}

TEST(CronSchedule, EpochAndNegativeTimes) {
    CronSchedule every = CronSchedule::parse("* * * * *");
    EXPECT_EQ(every.next_after(-1), 0);
    EXPECT_EQ(every.next_after(0), 60);
    EXPECT_EQ(every.next_after(-60), 0);
    EXPECT_EQ(every.next_after(-61), -60);
    EXPECT_EQ(every.next_after(-119), -60);
    EXPECT_EQ(CronSchedule::parse("0 0 1 1 *").next_after(-1), 0);
    EXPECT_EQ(next("0 0 29 2 *", "1960-01-01 00:00:00"), "1960-02-29 00:00:00");
    EXPECT_EQ(next("0 0 * * 4", "1969-12-31 00:00:00"), "1970-01-01 00:00:00");
    EXPECT_EQ(next("0 0 * * 3", "1969-12-29 00:00:00"), "1969-12-31 00:00:00");
    EXPECT_EQ(next("0 0 29 2 *", "1899-01-01 00:00:00"), "1904-02-29 00:00:00");
}

TEST(CronSchedule, InputsBeyondTheSupportedRange) {
    CronSchedule every = CronSchedule::parse("* * * * *");
    EXPECT_EQ(every.next_after(std::numeric_limits<int64_t>::max()), std::nullopt);
    EXPECT_EQ(every.next_after(std::numeric_limits<int64_t>::min()), std::nullopt);
    EXPECT_EQ(every.next_after(int64_t{1} << 50), (int64_t{1} << 50) / 60 * 60 + 60);
}

// next_after's skipping search against a minute-by-minute scan with a predicate written here
// over gmtime's fields, for a year of minutes from a start that is not on a boundary.
TEST(CronSchedule, AgreesWithAMinuteByMinuteScan) {
    struct Case {
        const char *expression;
        std::function<bool(const std::tm &)> matches;
    };
    const std::vector<Case> cases = {
        {"*/7 3-5 */3 * 1,3",
         [](const std::tm &t) {
             return t.tm_min % 7 == 0 && t.tm_hour >= 3 && t.tm_hour <= 5 &&
                    (t.tm_mday - 1) % 3 == 0 && (t.tm_wday == 1 || t.tm_wday == 3);
         }},
        {"0 12 13 * FRI",
         [](const std::tm &t) {
             return t.tm_min == 0 && t.tm_hour == 12 && (t.tm_mday == 13 || t.tm_wday == 5);
         }},
        {"45 23 29-31 feb-apr,NOV *",
         [](const std::tm &t) {
             return t.tm_min == 45 && t.tm_hour == 23 && t.tm_mday >= 29 &&
                    ((t.tm_mon >= 1 && t.tm_mon <= 3) || t.tm_mon == 10);
         }},
    };
    const int64_t start = at("2027-11-20 07:13:29");
    const int64_t end = start + 366LL * 86400;
    for (const Case &c : cases) {
        SCOPED_TRACE(c.expression);
        CronSchedule s = CronSchedule::parse(c.expression);
        std::vector<int64_t> expected;
        for (int64_t t = (start / 60 + 1) * 60; t < end; t += 60) {
            auto tt = static_cast<time_t>(t);
            std::tm tm{};
            gmtime_r(&tt, &tm);
            if (c.matches(tm)) expected.push_back(t);
            EXPECT_EQ(s.matches(t), c.matches(tm)) << show(t);
        }
        std::vector<int64_t> got;
        for (auto t = s.next_after(start); t && *t < end; t = s.next_after(*t)) got.push_back(*t);
        EXPECT_EQ(got, expected);
        EXPECT_GT(expected.size(), 3u);
    }
}

TEST(CronSchedule, WhitespaceAndText) {
    CronSchedule s = CronSchedule::parse(" \t 0\t0  * *   1 \n");
    EXPECT_EQ(s.text(), "0\t0  * *   1");
    EXPECT_EQ(s.next_after(at("2025-03-14 00:00:00")), at("2025-03-17 00:00:00"));
}

TEST(CronSchedule, NeverMatchingSchedulesAreErrors) {
    EXPECT_EQ(error_of("0 0 30 2 *"),
              "schedule: \"0 0 30 2 *\" never matches (day-of-month 30 does not occur in month 2)");
    EXPECT_EQ(error_of(" 0 0 31 4,6,9,11 * "),
              "schedule: \"0 0 31 4,6,9,11 *\" never matches (day-of-month 31 does not occur in "
              "month 4,6,9,11)");
    EXPECT_EQ(error_of("0 0 30-31 FEB */2"),
              "schedule: \"0 0 30-31 FEB */2\" never matches (day-of-month 30-31 does not occur "
              "in month FEB)");
    // These match: Feb 29 in leap years; both day fields restricted means either.
    EXPECT_EQ(error_of("0 0 29 2 *"), "(accepted)");
    EXPECT_EQ(error_of("0 0 30 2 1"), "(accepted)");
    EXPECT_EQ(next("0 0 30 2 1", "2025-01-01 00:00:00"), "2025-02-03 00:00:00");
    EXPECT_EQ(error_of("0 0 31 4,5 *"), "(accepted)");
}

TEST(CronSchedule, FieldErrorsNameTheFieldAndWhy) {
    EXPECT_EQ(error_of("61 * * * *"), "schedule: minute field \"61\": 61 is out of range 0-59");
    EXPECT_EQ(error_of("* 24 * * *"), "schedule: hour field \"24\": 24 is out of range 0-23");
    EXPECT_EQ(error_of("* * 0 * *"), "schedule: day-of-month field \"0\": 0 is out of range 1-31");
    EXPECT_EQ(error_of("* * 32 * *"),
              "schedule: day-of-month field \"32\": 32 is out of range 1-31");
    EXPECT_EQ(error_of("* * * 13 *"), "schedule: month field \"13\": 13 is out of range 1-12");
    EXPECT_EQ(error_of("* * * * 8"), "schedule: day-of-week field \"8\": 8 is out of range 0-7");
    EXPECT_EQ(error_of("1,99999999999999999999 * * * *"),
              "schedule: minute field \"1,99999999999999999999\": 99999999999999999999 is out of "
              "range 0-59");
    EXPECT_EQ(error_of("* * * *"),
              "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 4");
    EXPECT_EQ(error_of("* * * * * *"),
              "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 6");
    EXPECT_EQ(error_of("  \t "),
              "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 0");
    EXPECT_EQ(error_of("1,,2 * * * *"), "schedule: minute field \"1,,2\": empty item in the list");
    EXPECT_EQ(error_of("* 1, * * *"), "schedule: hour field \"1,\": empty item in the list");
    EXPECT_EQ(error_of("* * ,1 * *"),
              "schedule: day-of-month field \",1\": empty item in the list");
    EXPECT_EQ(error_of("* 5-1 * * *"),
              "schedule: hour field \"5-1\": reversed range 5-1: 5 is greater than 1");
    EXPECT_EQ(error_of("* * * * FRI-SUN"),
              "schedule: day-of-week field \"FRI-SUN\": reversed range FRI-SUN: 5 is greater than "
              "0 (use 7 for Sunday at the end of a range)");
    EXPECT_EQ(error_of("*/0 * * * *"),
              "schedule: minute field \"*/0\": step 0 is out of range 1-59");
    EXPECT_EQ(error_of("* * * 1-12/13 *"),
              "schedule: month field \"1-12/13\": step 13 is out of range 1-12");
    EXPECT_EQ(error_of("* * * FOO *"),
              "schedule: month field \"FOO\": unknown name \"FOO\" (expected 1-12 or JAN-DEC)");
    EXPECT_EQ(error_of("* * * * monday"),
              "schedule: day-of-week field \"monday\": unknown name \"monday\" (expected 0-7 or "
              "SUN-SAT)");
    EXPECT_EQ(error_of("mon * * * *"),
              "schedule: minute field \"mon\": \"mon\" is not a number (names are allowed only "
              "in the month and day-of-week fields)");
    EXPECT_EQ(error_of("* * * 1a *"), "schedule: month field \"1a\": \"1a\" is not a number");
    EXPECT_EQ(error_of("5# * * * *"), "schedule: minute field \"5#\": unexpected character '#'");
    EXPECT_EQ(error_of("* * ? * *"),
              "schedule: day-of-month field \"?\": unexpected character '?'");
    EXPECT_EQ(error_of(std::string("* * 1") + '\x01' + " * *"),
              "schedule: day-of-month field \"1?\": unexpected character 0x01");
    EXPECT_EQ(error_of("*/ * * * *"),
              "schedule: minute field \"*/\": missing step after \"/\" in \"*/\"");
    EXPECT_EQ(error_of("/5 * * * *"),
              "schedule: minute field \"/5\": missing number before \"/\" in \"/5\"");
    EXPECT_EQ(error_of("*/5/2 * * * *"),
              "schedule: minute field \"*/5/2\": more than one \"/\" in \"*/5/2\"");
    EXPECT_EQ(error_of("*/x * * * *"),
              "schedule: minute field \"*/x\": step \"x\" is not a number");
    EXPECT_EQ(error_of("-5 * * * *"),
              "schedule: minute field \"-5\": missing number before \"-\" in \"-5\"");
    EXPECT_EQ(error_of("5- * * * *"),
              "schedule: minute field \"5-\": missing number after \"-\" in \"5-\"");
    EXPECT_EQ(error_of("1-2-3 * * * *"),
              "schedule: minute field \"1-2-3\": more than one \"-\" in \"1-2-3\"");
    EXPECT_EQ(
        error_of("*-5 * * * *"),
        "schedule: minute field \"*-5\": \"*\" must stand alone (as in * or */5), got \"*-5\"");
    EXPECT_EQ(error_of("** * * * *"),
              "schedule: minute field \"**\": \"*\" must stand alone (as in * or */5), got \"**\"");
}

TEST(CronSchedule, MacroErrors) {
    EXPECT_EQ(error_of("@reboot"),
              "schedule: @reboot is not supported (a cron trigger needs a time schedule: 5 fields "
              "or @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually)");
    EXPECT_EQ(error_of("@fortnightly"),
              "schedule: unknown macro \"@fortnightly\" (expected @hourly, @daily, @midnight, "
              "@weekly, @monthly, @yearly or @annually)");
    EXPECT_EQ(error_of("@daily 5"),
              "schedule: \"@daily 5\": a macro such as @daily must be the whole expression");
    EXPECT_EQ(error_of("0 @daily * * *"),
              "schedule: hour field \"@daily\": unexpected character '@'");
}

TEST(CronSchedule, LongInputIsNotEchoed) {
    std::string huge_field(10000, '1');
    std::string message = error_of(huge_field + " * * * *");
    EXPECT_EQ(message.rfind("schedule: minute field \"1111", 0), 0u) << message;
    EXPECT_LT(message.size(), 200u) << message;
    EXPECT_NE(message.find("...\""), std::string::npos) << message;

    std::string list = "1";
    for (int i = 0; i < 3000; ++i) list += ",1";
    message = error_of(list + ",x * * * *");
    EXPECT_LT(message.size(), 200u) << message;

    std::string fields;
    for (int i = 0; i < 5000; ++i) fields += "* ";
    EXPECT_EQ(error_of(fields),
              "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 5000");

    message = error_of("0 0 30 2 " + std::string(10000, '*'));
    EXPECT_LT(message.size(), 300u) << message;

    message = error_of("@" + std::string(10000, 'x'));
    EXPECT_LT(message.size(), 200u) << message;

    // A cut never splits a UTF-8 character: "é" is two bytes.
    std::string accents;
    for (int i = 0; i < 100; ++i) accents += "\xC3\xA9";
    message = error_of(accents + " * * * *");
    EXPECT_NE(message.find("\xC3\xA9...\""), std::string::npos) << message;
}
