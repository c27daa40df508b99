// Admission of requests to the request slots (see fair_dispatch.hpp).
#include "core/fair_dispatch.hpp"

#include <algorithm>

namespace eventhooks::core {

void SlotShares::set_slots(int slots) {
    slots_ = std::max(1, slots);
    // With one slot there is nothing to keep back: the only slot is everyone's.
    reserve_ = slots_ > 1 ? std::max(1, slots_ / 10) : 0;
    // Enough for a webhook that sends now and then (or several at once) to find its slots in
    // the reserve; a webhook busy enough to need more gets them from the shared part.
    light_limit_ = std::max(1, reserve_ / 2);
}

bool SlotShares::may_start(const std::string &webhook) const {
    int free = slots_ - in_flight_;
    if (free <= 0) return false;
    if (free > reserve_) return true;
    return in_flight(webhook) < light_limit_;
}

void SlotShares::started(const std::string &webhook) {
    per_webhook_[webhook]++;
    in_flight_++;
}

void SlotShares::finished(const std::string &webhook) {
    auto it = per_webhook_.find(webhook);
    if (it == per_webhook_.end()) return;
    in_flight_--;
    if (--it->second == 0) per_webhook_.erase(it);
}

int SlotShares::in_flight(const std::string &webhook) const {
    auto it = per_webhook_.find(webhook);
    return it == per_webhook_.end() ? 0 : it->second;
}

std::vector<std::string> SlotShares::webhooks_without_room() const {
    std::vector<std::string> full;
    for (const auto &[webhook, count] : per_webhook_)
        if (!may_start(webhook)) full.push_back(webhook);
    return full;
}

}  // namespace eventhooks::core
