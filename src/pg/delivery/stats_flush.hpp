// The delivery worker's per trigger, per minute figures (core/delivery_stats.hpp), written to
// eventhooks.trigger_delivery_stats about once a second, in a short transaction of their own
// (never in a round's: a failure here must not cost a round its records, nor a round's
// failure the figures), and when the worker stops. trigger_stats reads them (SPEC §7).
#pragma once

#include <chrono>
#include <string>

#include "core/delivery_stats.hpp"

namespace eventhooks::pg {

class DeliveryStatsWriter {
  public:
    // Per attempt: a hash lookup and a few adds.
    void delivered(const std::string &trigger_name, const std::string &event_id);
    void failed(const std::string &trigger_name, const std::string &error);

    // Writes what was gathered if a second passed since the last write (`force`: now), and
    // deletes rows older than a day now and then. Outside any transaction. Never throws a
    // Postgres error: a failure is warned about (at most once a minute) and its figures
    // dropped. With 0.2.0's schema (no table before ALTER EXTENSION UPDATE) it drops them quietly.
    void flush_if_due(bool force = false);

  private:
    core::DeliveryStats stats_;
    std::chrono::steady_clock::time_point next_flush_{};
    std::chrono::steady_clock::time_point next_cleanup_{};
    std::chrono::steady_clock::time_point next_warning_{};
};

}  // namespace eventhooks::pg
