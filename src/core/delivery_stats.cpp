// Delivery figures per trigger and minute (see delivery_stats.hpp).
#include "core/delivery_stats.hpp"

#include <cmath>

namespace eventhooks::core {

namespace {
constexpr double kFirstUpperMs = 0.1;
constexpr double kBucketsPerDoubling = 4.0;

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

int latency_bucket(double latency_ms) {
    if (!(latency_ms > kFirstUpperMs)) return 0;  // also NaN and negative (clock steps)
    double b = std::ceil(kBucketsPerDoubling * std::log2(latency_ms / kFirstUpperMs) - 1e-9);
    if (b >= kLatencyBuckets - 1) return kLatencyBuckets - 1;
    return static_cast<int>(b);
}

double latency_bucket_upper_ms(int bucket) {
    return kFirstUpperMs * std::exp2(bucket / kBucketsPerDoubling);
}

std::optional<double> histogram_percentile_ms(const LatencyHistogram &histogram, double fraction) {
    int64_t total = 0;
    for (const auto &[bucket, count] : histogram) total += count;
    if (total <= 0) return std::nullopt;
    int64_t seen = 0;
    for (const auto &[bucket, count] : histogram) {
        seen += count;
        if (static_cast<double>(seen) >= fraction * static_cast<double>(total))
            return latency_bucket_upper_ms(bucket);
    }
    return latency_bucket_upper_ms(histogram.rbegin()->first);
}

std::optional<double> event_id_unix_ms(const std::string &uuid_text) {
    // xxxxxxxx-xxxx-7xxx-...: 48 bits of milliseconds, the version, 12 bits of fraction.
    if (uuid_text.size() != 36 || uuid_text[8] != '-' || uuid_text[13] != '-' ||
        uuid_text[14] != '7')
        return std::nullopt;
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8) continue;
        int d = hex_digit(uuid_text[i]);
        if (d < 0) return std::nullopt;
        ms = ms * 16 + static_cast<uint64_t>(d);
    }
    int fraction = 0;
    for (int i = 15; i < 18; i++) {
        int d = hex_digit(uuid_text[i]);
        if (d < 0) return std::nullopt;
        fraction = fraction * 16 + d;
    }
    return static_cast<double>(ms) + fraction / 4096.0;
}

MinuteStats &DeliveryStats::at(const std::string &trigger_name, double now_unix_ms) {
    auto minute = static_cast<int64_t>(std::floor(now_unix_ms / 60000.0)) * 60;
    std::vector<MinuteStats> &list = minutes_[trigger_name];
    // Results come in time order: the minute is the last one, or a new one.
    if (list.empty() || list.back().minute != minute) {
        for (auto &stats : list)
            if (stats.minute == minute) return stats;  // the clock stepped back
        list.emplace_back();
        list.back().trigger_name = trigger_name;
        list.back().minute = minute;
    }
    return list.back();
}

void DeliveryStats::delivered(const std::string &trigger_name, const std::string &event_id,
                              double now_unix_ms) {
    MinuteStats &stats = at(trigger_name, now_unix_ms);
    stats.delivered++;
    if (auto written = event_id_unix_ms(event_id))
        stats.latency[latency_bucket(now_unix_ms - *written)]++;
}

void DeliveryStats::failed(const std::string &trigger_name, const std::string &error,
                           double now_unix_ms) {
    MinuteStats &stats = at(trigger_name, now_unix_ms);
    stats.failed++;
    stats.last_error = error;
    stats.last_error_at = static_cast<int64_t>(now_unix_ms * 1000.0);
}

std::vector<MinuteStats> DeliveryStats::take() {
    std::vector<MinuteStats> all;
    for (auto &[name, list] : minutes_)
        for (auto &stats : list) all.push_back(std::move(stats));
    minutes_.clear();
    return all;
}

}  // namespace eventhooks::core
