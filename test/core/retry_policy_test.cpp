// Unit tests of src/core/retry_policy: fixed and exponential backoff, exhaustion, the one extra
// attempt granted by Retry-After, and Retry-After parsing (delta-seconds and HTTP-dates).
#include "core/retry_policy.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace ec = eventhooks::core;
using ec::AttemptResult;

namespace {

ec::RetryConf fixed(int num_retries, int interval_sec) {
    ec::RetryConf c;
    c.num_retries = num_retries;
    c.interval_sec = interval_sec;
    return c;
}

ec::RetryConf exponential(int num_retries, int interval_sec, int max_interval_sec) {
    ec::RetryConf c = fixed(num_retries, interval_sec);
    c.backoff = "exponential";
    c.max_interval_sec = max_interval_sec;
    return c;
}

ec::RetryDecision fail_at(const ec::RetryConf &c, int tries,
                          std::optional<int64_t> retry_after = {}, double jitter = 0.0) {
    return ec::decide_after_attempt(c, tries, false, retry_after, jitter);
}

// Sun, 06 Nov 1994 08:49:37 GMT
constexpr int64_t kDate = 784111777;

}  // namespace

TEST(RetryPolicy, SuccessIsDelivered) {
    auto d = ec::decide_after_attempt(fixed(3, 10), 1, true, std::nullopt, 0.5);
    EXPECT_EQ(d.result, AttemptResult::Delivered);
    EXPECT_EQ(d.delay_ms, 0);
    // Even after retries are used up, and with a Retry-After.
    d = ec::decide_after_attempt(fixed(0, 10), 7, true, 30, 0.5);
    EXPECT_EQ(d.result, AttemptResult::Delivered);
}

TEST(RetryPolicy, NoRetriesFailsAtOnce) {
    auto d = fail_at(fixed(0, 10), 1);
    EXPECT_EQ(d.result, AttemptResult::Failed);
}

TEST(RetryPolicy, FixedSpacingThenExhaustion) {
    auto c = fixed(3, 7);
    for (int tries = 1; tries <= 3; ++tries) {
        auto d = fail_at(c, tries, std::nullopt, 0.9);
        EXPECT_EQ(d.result, AttemptResult::RetryLater) << tries;
        EXPECT_EQ(d.delay_ms, 7000) << tries;  // no jitter with fixed backoff
    }
    EXPECT_EQ(fail_at(c, 4).result, AttemptResult::Failed);
    EXPECT_EQ(fail_at(c, 5).result, AttemptResult::Failed);
}

TEST(RetryPolicy, ZeroIntervalRetriesImmediately) {
    auto d = fail_at(fixed(1, 0), 1);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 0);
}

TEST(RetryPolicy, RetryAfterReplacesIntervalWhileRetriesRemain) {
    auto d = fail_at(fixed(3, 10), 2, 120);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 120000);
    d = fail_at(fixed(3, 10), 1, 0);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 0);
}

TEST(RetryPolicy, RetryAfterGivesExactlyOneExtraAttempt) {
    auto c = fixed(2, 10);
    // Attempt 3 is the last regular one; with Retry-After, one more (attempt 4) is granted.
    auto d = fail_at(c, 3, 45);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 45000);
    // The extra attempt failing again with Retry-After: no further attempt.
    EXPECT_EQ(fail_at(c, 4, 45).result, AttemptResult::Failed);
    EXPECT_EQ(fail_at(c, 4).result, AttemptResult::Failed);
    // Without Retry-After the last regular attempt is final.
    EXPECT_EQ(fail_at(c, 3).result, AttemptResult::Failed);

    // num_retries 0: the first attempt with Retry-After still gets one more.
    d = fail_at(fixed(0, 10), 1, 5);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 5000);
    EXPECT_EQ(fail_at(fixed(0, 10), 2, 5).result, AttemptResult::Failed);
}

TEST(RetryPolicy, RetryAfterIsCappedAtOneDay) {
    auto d = fail_at(fixed(1, 10), 1, 10 * 86400);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 86400 * 1000LL);
    d = fail_at(fixed(0, 10), 1, std::numeric_limits<int64_t>::max());
    EXPECT_EQ(d.delay_ms, 86400 * 1000LL);
    // Not capped by max_interval_sec.
    d = fail_at(exponential(1, 1, 60), 1, 600);
    EXPECT_EQ(d.delay_ms, 600000);
}

TEST(RetryPolicy, ExponentialGrowthAndCap) {
    auto c = exponential(10, 10, 100);
    EXPECT_EQ(fail_at(c, 1).delay_ms, 10000);
    EXPECT_EQ(fail_at(c, 2).delay_ms, 20000);
    EXPECT_EQ(fail_at(c, 3).delay_ms, 40000);
    EXPECT_EQ(fail_at(c, 4).delay_ms, 80000);
    EXPECT_EQ(fail_at(c, 5).delay_ms, 100000);
    EXPECT_EQ(fail_at(c, 10).delay_ms, 100000);
    EXPECT_EQ(fail_at(c, 11).result, AttemptResult::Failed);
}

TEST(RetryPolicy, ExponentialWithHugeTryCountDoesNotOverflow) {
    auto c = exponential(10000, 86400 * 30, 86400 * 30);
    auto d = fail_at(c, 9999, std::nullopt, 1.0);
    EXPECT_EQ(d.result, AttemptResult::RetryLater);
    EXPECT_EQ(d.delay_ms, 86400LL * 30 * 1000 * 11 / 10);
}

TEST(RetryPolicy, ExponentialJitterIsAtMostTenPercent) {
    auto c = exponential(10, 10, 3600);
    EXPECT_EQ(fail_at(c, 2, std::nullopt, 0.0).delay_ms, 20000);
    EXPECT_EQ(fail_at(c, 2, std::nullopt, 0.5).delay_ms, 21000);
    EXPECT_EQ(fail_at(c, 2, std::nullopt, 1.0).delay_ms, 22000);
    // Out-of-range jitter is clamped.
    EXPECT_EQ(fail_at(c, 2, std::nullopt, 7.0).delay_ms, 22000);
    EXPECT_EQ(fail_at(c, 2, std::nullopt, -1.0).delay_ms, 20000);
    EXPECT_EQ(fail_at(c, 2, std::nullopt, std::numeric_limits<double>::quiet_NaN()).delay_ms,
              20000);
    // Jitter applies on top of the cap.
    auto capped = exponential(10, 10, 25);
    EXPECT_EQ(fail_at(capped, 5, std::nullopt, 1.0).delay_ms, 27500);
    for (int i = 0; i <= 100; ++i) {
        int64_t ms = fail_at(c, 3, std::nullopt, i / 100.0).delay_ms;
        EXPECT_GE(ms, 40000);
        EXPECT_LE(ms, 44000);
    }
}

TEST(RetryAfter, DeltaSeconds) {
    EXPECT_EQ(ec::parse_retry_after("120", kDate), 120);
    EXPECT_EQ(ec::parse_retry_after("0", kDate), 0);
    EXPECT_EQ(ec::parse_retry_after(" 7\t", kDate), 7);
    EXPECT_EQ(ec::parse_retry_after("99999999999999999999999", kDate),
              std::numeric_limits<int64_t>::max());
}

TEST(RetryAfter, HttpDates) {
    // IMF-fixdate, RFC 850 and asctime forms of the same instant, 100 s after "now".
    const int64_t now = kDate - 100;
    EXPECT_EQ(ec::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 100);
    EXPECT_EQ(ec::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 100);
    EXPECT_EQ(ec::parse_retry_after("Sun Nov  6 08:49:37 1994", now), 100);
    EXPECT_EQ(ec::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 3600), 3600);
}

TEST(RetryAfter, PastDateIsZero) {
    EXPECT_EQ(ec::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kDate), 0);
    EXPECT_EQ(ec::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kDate + 5000), 0);
}

TEST(RetryAfter, Garbage) {
    for (const char *value : {"", "  ", "-5", "+5", "1.5", "12abc", "soon", "5 s", "0x10",
                              "Sun, 99 Foo 1994 08:49:37 GMT"}) {
        EXPECT_EQ(ec::parse_retry_after(value, kDate), std::nullopt) << value;
    }
}
