// eventhooks.retention (SPEC §7): the delivery worker deletes delivered events and their logs
// older than the setting, about once an hour, in small batches that yield to deliveries.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

extern "C" {
#include "postgres.h"
#include "utils/timestamp.h"
}

#include "pg/delivery/shared_state.hpp"

namespace eventhooks::pg {

class RetentionPass {
  public:
    explicit RetentionPass(DeliverySlot *slot) : slot_(slot) {}

    // Starts a pass when one is due, or runs the next batch of the pass under way: at most one
    // batch (its own short transaction) per call. `busy`: the worker has events to claim, so
    // batches are spaced out (kBusySpacing) instead of run back to back.
    void step(bool busy);

    // How long the worker may sleep before the next batch of the pass under way (a large
    // value when there is none).
    long wait_ms(bool busy) const;

  private:
    using Clock = std::chrono::steady_clock;
    bool due(Clock::time_point now) const;
    void begin_pass(Clock::time_point now);
    void run_batch(Clock::time_point now);
    void end_pass(Clock::time_point now);
    void fail(const char *what, const std::string &message, Clock::time_point now);

    DeliverySlot *slot_;
    Clock::time_point started_ = Clock::now();
    Clock::time_point last_pass_{};   // when the last pass ended (passes_ > 0)
    Clock::time_point last_batch_{};  // for the spacing of batches while busy
    int64_t passes_ = 0;
    bool active_ = false;
    int source_ = 0;          // index into the sources of a pass (retention.cpp)
    std::string after_;       // last id read in this source ("" : from the start)
    TimestampTz cutoff_ = 0;  // now() - retention at the start of the pass
    int64_t removed_ = 0;     // events removed in this pass
};

}  // namespace eventhooks::pg
