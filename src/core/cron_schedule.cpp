// Cron expression parsing and next-time computation (SPEC §2 cron triggers). Error messages are
// part of the user interface (Postgres ERRORs compared by regression tests): keep them stable.
// Dates use Howard Hinnant's days_from_civil / civil_from_days on 64-bit integers, not
// gmtime/timegm: those are not thread-safe (gmtime) or not everywhere (timegm), and their range
// depends on the platform.
#include "core/cron_schedule.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "core/config_error.hpp"

namespace eventhooks::core {

namespace {

// How much of the user's input a message quotes: enough to recognise it, never kilobytes.
constexpr std::size_t kMaxQuotedExpression = 80;
constexpr std::size_t kMaxQuotedField = 40;
constexpr std::size_t kMaxQuotedToken = 20;
// Numbers are read saturating here: any larger value is out of range in every field anyway.
constexpr int kNumberCap = 1000000;
// next_after works on inputs within +-2^50 s (about 35 million years), so that no day or second
// count it computes can overflow int64.
constexpr int64_t kMaxInputSeconds = int64_t{1} << 50;
// The Gregorian calendar repeats every 400 years (146097 days, a whole number of weeks): a
// schedule that matches at all matches within any 400-year window.
constexpr int64_t kSearchYears = 401;

constexpr const char *kWhitespace = " \t\n\r\v\f";
constexpr const char *kFieldList = "(minute hour day-of-month month day-of-week)";

constexpr std::array<const char *, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char *, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct FieldSpec {
    const char *name;
    int min;
    int max;
    // End of "*" and of "N/step" ("5/15" is 5-implicit_max/15). Day-of-week accepts 7 for
    // Sunday but "*" and "1/2" stop at Saturday, so that "1/2" is Mon, Wed, Fri only.
    int implicit_max;
    const char *const *names;  // names[i] stands for first_name_value + i; nullptr: none
    int name_count;
    int first_name_value;
    const char *names_range;  // "JAN-DEC", for messages
};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, 59, nullptr, 0, 0, nullptr},
    {"hour", 0, 23, 23, nullptr, 0, 0, nullptr},
    {"day-of-month", 1, 31, 31, nullptr, 0, 0, nullptr},
    {"month", 1, 12, 12, kMonthNames.data(), 12, 1, "JAN-DEC"},
    {"day-of-week", 0, 7, 6, kWeekdayNames.data(), 7, 0, "SUN-SAT"},
}};
constexpr int kDayOfWeekField = 4;

struct Macro {
    const char *name;
    const char *fields;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};
constexpr const char *kMacroList =
    "@hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually";

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (upper(a[i]) != upper(b[i])) return false;
    }
    return true;
}

// Input as quoted in a message: control characters shown as '?', cut after `max` bytes (at a
// UTF-8 character boundary, so the message stays valid text) with "..." appended.
std::string shorten(std::string_view text, std::size_t max) {
    bool cut = text.size() > max;
    if (cut) {
        std::size_t end = max;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        text = text.substr(0, end);
    }
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7F) ? '?' : c;
    }
    if (cut) out += "...";
    return out;
}

std::string describe_character(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7F) return std::string("'") + c + "'";
    static const char kHex[] = "0123456789ABCDEF";
    return std::string("0x") + kHex[u >> 4] + kHex[u & 0xF];
}

int next_bit(uint64_t bits, int from) {
    if (from >= 64) return -1;
    uint64_t masked = bits & (~uint64_t{0} << from);
    return masked == 0 ? -1 : __builtin_ctzll(masked);
}

// Parses one field's text into a bit set (bit v set for value v; day-of-week 7 stays bit 7).
class FieldParser {
  public:
    FieldParser(const FieldSpec &spec, std::string_view text) : spec_(spec), text_(text) {}

    uint64_t parse() {
        uint64_t bits = 0;
        std::size_t start = 0;
        while (true) {
            std::size_t comma = text_.find(',', start);
            std::string_view item = text_.substr(start, comma - start);
            if (item.empty()) fail("empty item in the list");
            bits |= parse_item(item);
            if (comma == std::string_view::npos) return bits;
            start = comma + 1;
        }
    }

  private:
    [[noreturn]] void fail(const std::string &why) const {
        throw ConfigError("schedule: " + std::string(spec_.name) + " field \"" +
                          shorten(text_, kMaxQuotedField) + "\": " + why);
    }

    static std::string quoted(std::string_view s) {
        return "\"" + shorten(s, kMaxQuotedToken) + "\"";
    }

    uint64_t parse_item(std::string_view item) {
        for (char c : item) {
            if (!is_digit(c) && !is_letter(c) && c != '*' && c != '-' && c != '/') {
                fail("unexpected character " + describe_character(c));
            }
        }
        std::size_t slash = item.find('/');
        std::string_view base = item.substr(0, slash);
        bool has_step = slash != std::string_view::npos;
        int step = 1;
        if (has_step) {
            std::string_view step_text = item.substr(slash + 1);
            if (base.empty()) fail("missing number before \"/\" in " + quoted(item));
            if (step_text.empty()) fail("missing step after \"/\" in " + quoted(item));
            if (step_text.find('/') != std::string_view::npos) {
                fail("more than one \"/\" in " + quoted(item));
            }
            if (!all_digits(step_text)) fail("step " + quoted(step_text) + " is not a number");
            step = read_number(step_text);
            if (step < 1 || step > spec_.max) {
                fail("step " + shorten(step_text, kMaxQuotedToken) + " is out of range 1-" +
                     std::to_string(spec_.max));
            }
        }
        int low = 0;
        int high = 0;
        std::size_t dash = base.find('-');
        if (base == "*") {
            low = spec_.min;
            high = spec_.implicit_max;
        } else if (base.find('*') != std::string_view::npos) {
            fail("\"*\" must stand alone (as in * or */5), got " + quoted(base));
        } else if (dash != std::string_view::npos) {
            std::string_view first = base.substr(0, dash);
            std::string_view last = base.substr(dash + 1);
            if (first.empty()) fail("missing number before \"-\" in " + quoted(base));
            if (last.empty()) fail("missing number after \"-\" in " + quoted(base));
            if (last.find('-') != std::string_view::npos) {
                fail("more than one \"-\" in " + quoted(base));
            }
            low = parse_value(first);
            high = parse_value(last);
            if (low > high) {
                std::string why = "reversed range " + shorten(base, kMaxQuotedToken) + ": " +
                                  std::to_string(low) + " is greater than " + std::to_string(high);
                if (&spec_ == &kFields[kDayOfWeekField] && high == 0) {
                    why += " (use 7 for Sunday at the end of a range)";
                }
                fail(why);
            }
        } else {
            low = parse_value(base);
            high = has_step ? std::max(low, spec_.implicit_max) : low;
        }
        uint64_t bits = 0;
        for (int v = low; v <= high; v += step) bits |= uint64_t{1} << v;
        return bits;
    }

    // A number or (in month and day-of-week) a name, checked against the field's range.
    int parse_value(std::string_view token) {
        if (all_digits(token)) {
            int value = read_number(token);
            if (value < spec_.min || value > spec_.max) {
                fail(shorten(token, kMaxQuotedToken) + " is out of range " +
                     std::to_string(spec_.min) + "-" + std::to_string(spec_.max));
            }
            return value;
        }
        bool letters = true;
        for (char c : token) letters = letters && is_letter(c);
        if (!letters) fail(quoted(token) + " is not a number");
        if (spec_.names == nullptr) {
            fail(quoted(token) +
                 " is not a number (names are allowed only in the month and day-of-week fields)");
        }
        for (int i = 0; i < spec_.name_count; ++i) {
            if (equals_ignoring_case(token, spec_.names[i])) return spec_.first_name_value + i;
        }
        fail("unknown name " + quoted(token) + " (expected " + std::to_string(spec_.min) + "-" +
             std::to_string(spec_.max) + " or " + spec_.names_range + ")");
    }

    static bool all_digits(std::string_view s) {
        if (s.empty()) return false;
        for (char c : s) {
            if (!is_digit(c)) return false;
        }
        return true;
    }

    static int read_number(std::string_view digits) {
        int value = 0;
        for (char c : digits) value = std::min(kNumberCap, value * 10 + (c - '0'));
        return value;
    }

    const FieldSpec &spec_;
    std::string_view text_;
};

// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
    year -= month <= 2 ? 1 : 0;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const auto year_of_era = static_cast<unsigned>(year - era * 400);
    const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

struct CivilDate {
    int64_t year;
    unsigned month;  // 1-12
    unsigned day;    // 1-31
};

// The date of a day count since 1970-01-01 (Hinnant's civil_from_days).
CivilDate civil_from_days(int64_t days) {
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const auto day_of_era = static_cast<unsigned>(days - era * 146097);
    const unsigned year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const unsigned day_of_year =
        day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const unsigned shifted_month = (5 * day_of_year + 2) / 153;  // March = 0
    const unsigned day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    const unsigned month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
    return {static_cast<int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// 0 = Sunday. 1970-01-01 was a Thursday.
unsigned weekday_from_days(int64_t days) {
    return static_cast<unsigned>(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

bool is_leap_year(int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

unsigned days_in_month(int64_t year, unsigned month) {
    static constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

CronSchedule CronSchedule::parse(const std::string &expression) {
    std::size_t first = expression.find_first_not_of(kWhitespace);
    std::string trimmed =
        first == std::string::npos
            ? std::string()
            : expression.substr(first, expression.find_last_not_of(kWhitespace) - first + 1);

    std::string_view fields_text = trimmed;
    if (!trimmed.empty() && trimmed[0] == '@') {
        if (trimmed.find_first_of(kWhitespace) != std::string::npos) {
            throw ConfigError("schedule: \"" + shorten(trimmed, kMaxQuotedExpression) +
                              "\": a macro such as @daily must be the whole expression");
        }
        if (equals_ignoring_case(trimmed, "@reboot")) {
            throw ConfigError(
                "schedule: @reboot is not supported (a cron trigger needs a time "
                "schedule: 5 fields or " +
                std::string(kMacroList) + ")");
        }
        const Macro *macro = nullptr;
        for (const Macro &m : kMacros) {
            if (equals_ignoring_case(trimmed, m.name)) macro = &m;
        }
        if (macro == nullptr) {
            throw ConfigError("schedule: unknown macro \"" + shorten(trimmed, kMaxQuotedToken) +
                              "\" (expected " + kMacroList + ")");
        }
        fields_text = macro->fields;
    }

    std::array<std::string_view, 5> fields;
    std::size_t count = 0;
    for (std::size_t pos = fields_text.find_first_not_of(kWhitespace);
         pos != std::string_view::npos; pos = fields_text.find_first_not_of(kWhitespace, pos)) {
        std::size_t end = std::min(fields_text.find_first_of(kWhitespace, pos), fields_text.size());
        if (count < fields.size()) fields[count] = fields_text.substr(pos, end - pos);
        ++count;
        pos = end;
    }
    if (count != fields.size()) {
        throw ConfigError(std::string("schedule: expected 5 fields ") + kFieldList + ", got " +
                          std::to_string(count));
    }

    std::array<uint64_t, 5> bits{};
    for (std::size_t i = 0; i < fields.size(); ++i)
        bits[i] = FieldParser(kFields[i], fields[i]).parse();

    CronSchedule schedule;
    schedule.text_ = trimmed;
    schedule.minutes_ = bits[0];
    schedule.hours_ = static_cast<uint32_t>(bits[1]);
    schedule.days_of_month_ = static_cast<uint32_t>(bits[2]);
    schedule.months_ = static_cast<uint16_t>(bits[3]);
    // Sunday is 0 or 7: fold bit 7 onto bit 0.
    schedule.days_of_week_ = static_cast<uint8_t>((bits[4] | (bits[4] >> 7)) & 0x7F);
    schedule.day_of_month_star_ = fields[2][0] == '*';
    schedule.day_of_week_star_ = fields[4][0] == '*';

    // Never matches: only when the day-of-month must match (one day field starts with '*') and
    // no chosen month has a chosen day (the 30th of February). Otherwise some date matches, and
    // every date falls on every weekday within 400 years, so day-of-week cannot prevent a match.
    if (schedule.day_of_month_star_ || schedule.day_of_week_star_) {
        bool some_day = false;
        for (unsigned month = 1; month <= 12; ++month) {
            if ((schedule.months_ >> month & 1U) == 0) continue;
            uint32_t valid_days = (uint32_t{2} << days_in_month(2000, month)) - 2;  // leap year
            some_day = some_day || (schedule.days_of_month_ & valid_days) != 0;
        }
        if (!some_day) {
            throw ConfigError("schedule: \"" + shorten(trimmed, kMaxQuotedExpression) +
                              "\" never matches (day-of-month " +
                              shorten(fields[2], kMaxQuotedField) + " does not occur in month " +
                              shorten(fields[3], kMaxQuotedField) + ")");
        }
    }
    return schedule;
}

bool CronSchedule::day_matches(int64_t year, unsigned month, unsigned day) const {
    bool day_of_month = (days_of_month_ >> day & 1U) != 0;
    bool day_of_week =
        (days_of_week_ >> weekday_from_days(days_from_civil(year, month, day)) & 1U) != 0;
    // Vixie cron: both restricted -> either; one is '*'-based -> both (the '*' one is all days
    // unless stepped, as in */2).
    if (day_of_month_star_ || day_of_week_star_) return day_of_month && day_of_week;
    return day_of_month || day_of_week;
}

bool CronSchedule::matches(int64_t unix_seconds) const {
    if (unix_seconds < -kMaxInputSeconds || unix_seconds > kMaxInputSeconds) return false;
    int64_t minute = floor_div(unix_seconds, 60);
    int64_t days = floor_div(minute, 1440);
    auto minute_of_day = static_cast<int>(minute - days * 1440);
    CivilDate date = civil_from_days(days);
    return (minutes_ >> (minute_of_day % 60) & 1U) != 0 &&
           (hours_ >> (minute_of_day / 60) & 1U) != 0 && (months_ >> date.month & 1U) != 0 &&
           day_matches(date.year, date.month, date.day);
}

std::optional<int64_t> CronSchedule::next_after(int64_t after_unix_seconds) const {
    if (after_unix_seconds < -kMaxInputSeconds || after_unix_seconds > kMaxInputSeconds) {
        return std::nullopt;
    }
    // Search from the minute after the one containing `after`, skipping whole months, days and
    // hours that cannot match; each loop turn moves forward, so the loop ends.
    int64_t start_minute = floor_div(after_unix_seconds, 60) + 1;
    int64_t start_days = floor_div(start_minute, 1440);
    auto minute_of_day = static_cast<int>(start_minute - start_days * 1440);
    int hour = minute_of_day / 60;
    int minute = minute_of_day % 60;
    CivilDate date = civil_from_days(start_days);
    int64_t year = date.year;
    auto month = static_cast<int>(date.month);
    auto day = static_cast<unsigned>(date.day);
    const int64_t last_year = year + kSearchYears;

    auto next_day = [&] {
        ++day;
        hour = 0;
        minute = 0;
    };
    while (year <= last_year) {
        if ((months_ >> month & 1U) == 0 || day > days_in_month(year, month)) {
            month = next_bit(months_, month + 1);
            if (month < 0) {
                ++year;
                month = next_bit(months_, 1);
            }
            day = 1;
            hour = 0;
            minute = 0;
            continue;
        }
        if (!day_matches(year, static_cast<unsigned>(month), day)) {
            next_day();
            continue;
        }
        int matching_hour = next_bit(hours_, hour);
        if (matching_hour < 0) {
            next_day();
            continue;
        }
        if (matching_hour != hour) minute = 0;
        hour = matching_hour;
        int matching_minute = next_bit(minutes_, minute);
        if (matching_minute < 0) {
            ++hour;
            minute = 0;
            if (hour == 24) next_day();
            continue;
        }
        int64_t days = days_from_civil(year, static_cast<unsigned>(month), day);
        return (days * 1440 + hour * 60 + matching_minute) * 60;
    }
    return std::nullopt;
}

const std::string &CronSchedule::text() const { return text_; }

}  // namespace eventhooks::core
