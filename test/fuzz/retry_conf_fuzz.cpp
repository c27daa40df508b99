// parse_retry_conf (retry_conf: num_retries, interval_sec, timeout_sec, backoff,
// max_interval_sec, and tolerance_sec for cron triggers / scheduled events), then
// decide_after_attempt on what was accepted. The first input byte picks allow_tolerance.
// Invariants: ConfigError is the only exception; accepted values are in their documented ranges
// and survive a round trip through JSON; every retry delay is in [0, max(interval, 30 days) * 1.1]
// and never overflows (UBSan); a success is always Delivered.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/retry_policy.hpp"
#include "core/trigger_config.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    if (size == 0) return 0;
    const bool allow_tolerance = (data[0] & 1) != 0;
    std::string text = fuzz_text(data + 1, size - 1);
    core::RetryConf conf;
    try {
        conf = core::parse_retry_conf(text, allow_tolerance);
    } catch (const core::ConfigError &e) {
        FUZZ_CHECK(std::string(e.what()).rfind("retry_conf", 0) == 0, e.what());
        return 0;
    }
    constexpr int kThirtyDays = 86400 * 30;
    FUZZ_CHECK(conf.num_retries >= 0 && conf.num_retries <= 10000, "num_retries");
    FUZZ_CHECK(conf.interval_sec >= 0 && conf.interval_sec <= kThirtyDays, "interval_sec");
    FUZZ_CHECK(conf.timeout_sec >= 1 && conf.timeout_sec <= 86400, "timeout_sec");
    FUZZ_CHECK(conf.backoff == "fixed" || conf.backoff == "exponential", conf.backoff);
    FUZZ_CHECK(conf.max_interval_sec >= 1 && conf.max_interval_sec <= kThirtyDays, "max_interval");
    FUZZ_CHECK(conf.tolerance_sec >= 0, "tolerance_sec");

    nlohmann::json again = {{"num_retries", conf.num_retries},
                            {"interval_sec", conf.interval_sec},
                            {"timeout_sec", conf.timeout_sec},
                            {"backoff", conf.backoff},
                            {"max_interval_sec", conf.max_interval_sec}};
    if (allow_tolerance) again["tolerance_sec"] = conf.tolerance_sec;
    auto back = core::parse_retry_conf(again.dump(), allow_tolerance);
    FUZZ_CHECK(back.num_retries == conf.num_retries && back.interval_sec == conf.interval_sec &&
                   back.timeout_sec == conf.timeout_sec && back.backoff == conf.backoff &&
                   back.max_interval_sec == conf.max_interval_sec &&
                   back.tolerance_sec == conf.tolerance_sec,
               "round trip changed the retry_conf");

    const int64_t max_ms =
        static_cast<int64_t>(std::max(conf.interval_sec, conf.max_interval_sec)) * 1100;
    for (int tries : {1, 2, conf.num_retries, conf.num_retries + 1, conf.num_retries + 2, 64}) {
        for (double jitter : {0.0, 1.0}) {
            auto d = core::decide_after_attempt(conf, tries, false, std::nullopt, jitter);
            FUZZ_CHECK(d.delay_ms >= 0 && d.delay_ms <= max_ms, "backoff delay out of range");
            FUZZ_CHECK((d.result == core::AttemptResult::RetryLater) == (std::max(tries, 1) <= conf.num_retries),
                       "retry decision");
        }
        auto with_after = core::decide_after_attempt(conf, tries, false, int64_t{1} << 62, 0.5);
        FUZZ_CHECK(with_after.delay_ms <= core::kMaxRetryAfterSec * 1000, "Retry-After not capped");
        FUZZ_CHECK(core::decide_after_attempt(conf, tries, true, std::nullopt, 0.5).result ==
                       core::AttemptResult::Delivered,
                   "success not delivered");
    }
    return 0;
}
