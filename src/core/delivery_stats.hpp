// Per trigger, per minute delivery figures the delivery worker keeps in memory and writes to
// eventhooks.trigger_delivery_stats about once a second (src/pg/delivery/stats_flush.cpp):
// delivered events, failed attempts, a latency histogram of commit-to-2xx, the last error.
// eventhooks.trigger_stats merges the last 60 minutes in SQL (SPEC §7). Pure C++: no Postgres.
//
// Latency histogram: log-spaced buckets, 4 per doubling, from 0.1 ms up to about a day.
// Bucket b holds latencies in (upper(b-1), upper(b)], upper(b) = 0.1 ms * 2^(b/4); bucket 0
// everything up to 0.1 ms, the last bucket everything above a day. A percentile is the upper
// bound of the bucket it falls in: at most 19% (2^(1/4)) above the true value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace eventhooks::core {

constexpr int kLatencyBuckets = 120;  // upper(119) = 0.1 ms * 2^29.75, about 1.0 day

int latency_bucket(double latency_ms);
double latency_bucket_upper_ms(int bucket);

// Sparse histogram: bucket -> count.
using LatencyHistogram = std::map<int, int64_t>;

// The upper bound of the bucket holding the `fraction` (0..1] quantile; nullopt when empty.
// The same rule as eventhooks._latency_percentile in SQL.
std::optional<double> histogram_percentile_ms(const LatencyHistogram &histogram, double fraction);

// The unix time in milliseconds (with the 12-bit sub-millisecond fraction) of a UUIDv7 event
// id in text form (src/core/event_id.cpp); nullopt if the text is no UUIDv7.
std::optional<double> event_id_unix_ms(const std::string &uuid_text);

// One trigger's figures for one minute, since the last take().
struct MinuteStats {
    std::string trigger_name;
    int64_t minute = 0;  // unix seconds of the minute's start
    int64_t delivered = 0;
    int64_t failed = 0;  // failed attempts (retried or not)
    LatencyHistogram latency;
    std::string last_error;      // empty: none this minute
    int64_t last_error_at = 0;   // unix microseconds
};

// The worker's aggregation: a hash lookup and a few adds per attempt.
class DeliveryStats {
  public:
    // `now_unix_ms`: when the 2xx response was taken; the latency is from the event id's time.
    void delivered(const std::string &trigger_name, const std::string &event_id,
                   double now_unix_ms);
    void failed(const std::string &trigger_name, const std::string &error, double now_unix_ms);
    bool empty() const { return minutes_.empty(); }
    // What was gathered since the last take, oldest minute first per trigger; then empty.
    std::vector<MinuteStats> take();

  private:
    MinuteStats &at(const std::string &trigger_name, double now_unix_ms);
    // Keyed by trigger name; each holds the figures of the minutes seen since the last take.
    std::unordered_map<std::string, std::vector<MinuteStats>> minutes_;
};

}  // namespace eventhooks::core
