// Retry policy of webhook delivery: decision after an attempt (fixed / exponential backoff,
// Retry-After handling incl. the one extra attempt) and Retry-After header parsing.
#include "core/retry_policy.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>
#include <string>

namespace eventhooks::core {

namespace {

constexpr double kMaxJitterFraction = 0.10;

int64_t backoff_delay_ms(const RetryConf &conf, int tries, double jitter_unit) {
    const int64_t interval_ms = static_cast<int64_t>(conf.interval_sec) * 1000;
    if (conf.backoff != "exponential") return interval_ms;

    const int64_t cap_ms = static_cast<int64_t>(conf.max_interval_sec) * 1000;
    int64_t base_ms = interval_ms;
    for (int i = 1; i < tries && base_ms < cap_ms; ++i) base_ms *= 2;
    base_ms = std::min(base_ms, cap_ms);

    if (!(jitter_unit >= 0.0)) jitter_unit = 0.0;  // also catches NaN
    jitter_unit = std::min(jitter_unit, 1.0);
    auto jitter_ms = static_cast<int64_t>(
        std::floor(static_cast<double>(base_ms) * kMaxJitterFraction * jitter_unit));
    return base_ms + jitter_ms;
}

int64_t retry_after_delay_ms(int64_t retry_after_sec) {
    return std::clamp<int64_t>(retry_after_sec, 0, kMaxRetryAfterSec) * 1000;
}

}  // namespace

RetryDecision decide_after_attempt(const RetryConf &conf, int tries_including_this_one,
                                   bool success, std::optional<int64_t> retry_after_sec,
                                   double jitter_unit) {
    if (success) return {AttemptResult::Delivered, 0};
    const int tries = std::max(tries_including_this_one, 1);
    if (tries <= conf.num_retries) {
        if (retry_after_sec)
            return {AttemptResult::RetryLater, retry_after_delay_ms(*retry_after_sec)};
        return {AttemptResult::RetryLater, backoff_delay_ms(conf, tries, jitter_unit)};
    }
    if (retry_after_sec &&
        static_cast<int64_t>(tries) == static_cast<int64_t>(conf.num_retries) + 1) {
        return {AttemptResult::RetryLater, retry_after_delay_ms(*retry_after_sec)};
    }
    return {AttemptResult::Failed, 0};
}

std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_unix_sec) {
    // Optional whitespace around the field value (RFC 9110 OWS).
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;

    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        constexpr int64_t max = std::numeric_limits<int64_t>::max();
        int64_t seconds = 0;
        for (char c : value) {
            int digit = c - '0';
            if (seconds > (max - digit) / 10) return max;
            seconds = seconds * 10 + digit;
        }
        return seconds;
    }

    // An HTTP-date always contains a month name; this also keeps curl_getdate's leniency from
    // turning things like "-5" into dates.
    if (!std::any_of(value.begin(), value.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) {
        return std::nullopt;
    }
    std::string text(value);
    time_t date = curl_getdate(text.c_str(), nullptr);
    if (date == static_cast<time_t>(-1)) return std::nullopt;
    const int64_t when = static_cast<int64_t>(date);
    if (when <= now_unix_sec) return 0;
    return when - now_unix_sec;
}

}  // namespace eventhooks::core
