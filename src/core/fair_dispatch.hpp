// fair_dispatch.hpp: which waiting request goes out next, so that one webhook's backlog or
// slowness never delays another webhook's events (GUIDE §4 "Fairness").
//
// Each webhook (keyed by its event trigger) is a queue of claimed events. Requests leave the
// queues round-robin, one per webhook in turn, while request slots are free, under one rule:
// - Most slots are shared by everyone (work-conserving: a webhook alone may use them all).
// - The last `reserve()` free slots only take requests of webhooks that have fewer than
//   `light_limit()` requests in flight. A webhook that is busy (a backlog, or slow answers)
//   thus holds at most slots - reserve slots, from its first request, and a webhook that sends
//   little always finds a slot at once, whatever another webhook's backlog is.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace eventhooks::core {

class SlotShares {
  public:
    explicit SlotShares(int slots) { set_slots(slots); }
    void set_slots(int slots);  // SIGHUP may change it; requests in flight are kept

    int slots() const { return slots_; }
    // Slots kept for webhooks with little in flight: a tenth, at least one (if slots > 1).
    int reserve() const { return reserve_; }
    // A webhook with fewer requests than this in flight may use the reserve.
    int light_limit() const { return light_limit_; }

    bool may_start(const std::string &webhook) const;
    void started(const std::string &webhook);
    void finished(const std::string &webhook);
    int in_flight() const { return in_flight_; }
    int in_flight(const std::string &webhook) const;
    // Webhooks with requests in flight that may start no more now.
    std::vector<std::string> webhooks_without_room() const;

  private:
    int slots_ = 1;
    int reserve_ = 0;
    int light_limit_ = 1;
    int in_flight_ = 0;
    std::unordered_map<std::string, int> per_webhook_;
};

// Queues of waiting items per webhook, taken round-robin across webhooks.
template <typename Item>
class FairQueues {
  public:
    void push(const std::string &webhook, Item item) {
        auto &queue = queues_[webhook];
        if (queue.empty()) order_.push_back(webhook);
        queue.push_back(std::move(item));
        size_++;
    }

    // Takes items, one webhook at a time in turn, while admit(webhook) allows; calls
    // start(webhook, item) for each. A webhook refused once is passed over until next time.
    template <typename Admit, typename Start>
    void drain(Admit admit, Start start) {
        std::deque<std::string> refused;
        while (!order_.empty()) {
            std::string webhook = std::move(order_.front());
            order_.pop_front();
            if (!admit(webhook)) {
                refused.push_back(std::move(webhook));
                continue;
            }
            auto it = queues_.find(webhook);
            Item item = std::move(it->second.front());
            it->second.pop_front();
            size_--;
            if (it->second.empty()) {
                queues_.erase(it);
            } else {
                order_.push_back(webhook);
            }
            start(webhook, std::move(item));
        }
        order_ = std::move(refused);
    }

    size_t size() const { return size_; }
    bool waiting(const std::string &webhook) const { return queues_.count(webhook) > 0; }
    // Webhooks with items waiting.
    std::vector<std::string> webhooks() const { return {order_.begin(), order_.end()}; }
    template <typename Visit>
    void for_each(Visit visit) const {
        for (const auto &[webhook, queue] : queues_)
            for (const auto &item : queue) visit(item);
    }
    // Removes everything (returned, in no particular order).
    std::vector<Item> take_all() {
        std::vector<Item> items;
        for (auto &[webhook, queue] : queues_)
            for (auto &item : queue) items.push_back(std::move(item));
        queues_.clear();
        order_.clear();
        size_ = 0;
        return items;
    }

  private:
    std::unordered_map<std::string, std::deque<Item>> queues_;
    std::deque<std::string> order_;  // webhooks with items, in turn order
    size_t size_ = 0;
};

}  // namespace eventhooks::core
