// Retry policy of webhook delivery (SPEC §4, §7): what to do after a delivery attempt (delivered,
// retry after some delay, or give up), and parsing of the HTTP Retry-After response header.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/trigger_config.hpp"

namespace eventhooks::core {

enum class AttemptResult { Delivered, RetryLater, Failed };

struct RetryDecision {
    AttemptResult result;
    int64_t delay_ms = 0;  // RetryLater only: wait this long before the next attempt
};

// Longest Retry-After that is honoured; longer values are capped to it.
constexpr int64_t kMaxRetryAfterSec = 86400;

// tries_including_this_one: 1 for the first attempt. retry_after_sec: the failed response's
// Retry-After (already parsed, >= 0), if any. jitter_unit: a random number in [0, 1] (values
// outside are clamped), used by exponential backoff to add up to 10% to the delay.
//
// - success → Delivered.
// - failure and tries <= num_retries → RetryLater after Retry-After (capped at kMaxRetryAfterSec)
//   if given, else after interval_sec ("fixed") or min(interval_sec * 2^(tries-1),
//   max_interval_sec) plus up to 10% jitter ("exponential").
// - failure and tries == num_retries + 1 with a Retry-After → RetryLater after Retry-After (one
//   extra attempt beyond num_retries).
// - otherwise → Failed.
RetryDecision decide_after_attempt(const RetryConf &conf, int tries_including_this_one,
                                   bool success, std::optional<int64_t> retry_after_sec,
                                   double jitter_unit);

// Parses a Retry-After header value: delta-seconds ("120") or an HTTP-date (IMF-fixdate, RFC 850
// or asctime form). Returns the delay in seconds from now_unix_sec, clamped at >= 0 (a date in
// the past gives 0); nullopt for anything else. Huge delta-seconds saturate at INT64_MAX.
std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_unix_sec);

}  // namespace eventhooks::core
