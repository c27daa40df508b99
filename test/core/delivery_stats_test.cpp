// Delivery figures per trigger and minute: bucketing, percentiles, id times, aggregation.
#include "core/delivery_stats.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>

#include "core/event_id.hpp"

using namespace eventhooks::core;

TEST(LatencyBucket, LogSpacedFourPerDoubling) {
    EXPECT_EQ(latency_bucket(0.0), 0);
    EXPECT_EQ(latency_bucket(-5.0), 0);  // a clock step back
    EXPECT_EQ(latency_bucket(0.1), 0);
    EXPECT_EQ(latency_bucket(0.11), 1);
    EXPECT_EQ(latency_bucket(0.2), 4);   // one doubling
    EXPECT_EQ(latency_bucket(0.21), 5);
    EXPECT_EQ(latency_bucket(1.0), 14);  // 4*log2(10) = 13.3
    EXPECT_EQ(latency_bucket(1e12), kLatencyBuckets - 1);
    for (double ms : {0.05, 0.3, 1.7, 12.5, 250.0, 4000.0, 86400000.0}) {
        int b = latency_bucket(ms);
        EXPECT_LE(ms, latency_bucket_upper_ms(b)) << ms;
        if (b > 0) {
            EXPECT_GT(ms, latency_bucket_upper_ms(b - 1)) << ms;
        }
    }
    EXPECT_NEAR(latency_bucket_upper_ms(4), 0.2, 1e-12);
    EXPECT_GT(latency_bucket_upper_ms(kLatencyBuckets - 1), 86400000.0 * 0.9);
}

TEST(HistogramPercentile, UpperBoundOfTheBucket) {
    EXPECT_FALSE(histogram_percentile_ms({}, 0.5).has_value());
    LatencyHistogram h{{4, 50}, {8, 45}, {12, 5}};  // 0.2 ms, 0.4 ms, 0.8 ms
    EXPECT_NEAR(*histogram_percentile_ms(h, 0.5), 0.2, 1e-12);
    EXPECT_NEAR(*histogram_percentile_ms(h, 0.51), 0.4, 1e-12);
    EXPECT_NEAR(*histogram_percentile_ms(h, 0.95), 0.4, 1e-12);
    EXPECT_NEAR(*histogram_percentile_ms(h, 0.99), 0.8, 1e-12);
    EXPECT_NEAR(*histogram_percentile_ms(h, 1.0), 0.8, 1e-12);
}

TEST(EventIdTime, ReadsTheMillisecondsAndFraction) {
    auto t = event_id_unix_ms("0190a1b2-c3d4-7800-8000-000000000000");
    ASSERT_TRUE(t.has_value());
    EXPECT_DOUBLE_EQ(*t, static_cast<double>(0x0190a1b2c3d4ULL) + 0x800 / 4096.0);
    EXPECT_FALSE(event_id_unix_ms("not a uuid").has_value());
    EXPECT_FALSE(event_id_unix_ms("0190a1b2-c3d4-4800-8000-000000000000").has_value());  // v4
    // A fresh id is now, to within a second.
    auto id = uuid_to_string(new_event_uuid_v7());
    auto now_ms = std::chrono::duration<double, std::milli>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    EXPECT_NEAR(*event_id_unix_ms(id), now_ms, 1000.0);
}

TEST(DeliveryStats, AggregatesPerTriggerAndMinute) {
    DeliveryStats stats;
    EXPECT_TRUE(stats.empty());
    double written = static_cast<double>(0x0190a1b2c3d4ULL);  // ms of the id below
    std::string id = "0190a1b2-c3d4-7000-8000-000000000000";
    double minute_start = std::floor(written / 60000.0) * 60000.0;
    stats.delivered("a", id, written + 1.0);   // 1 ms
    stats.delivered("a", id, written + 1.0);
    stats.delivered("b", id, written + 100.0);
    stats.failed("a", "HTTP status 500", written + 2.0);
    stats.failed("a", "timeout", written + 3.0);
    stats.delivered("a", id, minute_start + 60000.0 + 5);  // the next minute
    auto all = stats.take();
    EXPECT_TRUE(stats.empty());
    ASSERT_EQ(all.size(), 3u);
    std::map<std::pair<std::string, int64_t>, MinuteStats> by;
    for (auto &m : all) by[{m.trigger_name, m.minute}] = m;
    auto first = static_cast<int64_t>(minute_start / 1000.0);
    const MinuteStats &a = by.at({"a", first});
    EXPECT_EQ(a.delivered, 2);
    EXPECT_EQ(a.failed, 2);
    EXPECT_EQ(a.latency.at(latency_bucket(1.0)), 2);
    EXPECT_EQ(a.last_error, "timeout");
    EXPECT_EQ(a.last_error_at, static_cast<int64_t>((written + 3.0) * 1000.0));
    EXPECT_EQ(by.at({"b", first}).latency.at(latency_bucket(100.0)), 1);
    EXPECT_EQ(by.at({"a", first + 60}).delivered, 1);
    EXPECT_EQ(by.at({"a", first + 60}).failed, 0);
    EXPECT_TRUE(by.at({"a", first + 60}).last_error.empty());
}
