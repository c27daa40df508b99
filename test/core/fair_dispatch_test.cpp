// Unit tests of the request-slot shares and the round-robin queues (fair_dispatch.hpp).
#include "core/fair_dispatch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace eventhooks::core {
namespace {

// Starts requests from `queues` as the worker does; returns how many each webhook started.
std::map<std::string, int> start_all(FairQueues<int> &queues, SlotShares &shares) {
    std::map<std::string, int> started;
    queues.drain([&](const std::string &w) { return shares.may_start(w); },
                 [&](const std::string &w, int) {
                     shares.started(w);
                     started[w]++;
                 });
    return started;
}

TEST(SlotShares, ReserveIsATenthAndLightWebhooksMayUseIt) {
    SlotShares shares(100);
    EXPECT_EQ(shares.reserve(), 10);
    EXPECT_EQ(shares.light_limit(), 5);
    for (int i = 0; i < 90; i++) {
        ASSERT_TRUE(shares.may_start("slow"));
        shares.started("slow");
    }
    // A busy webhook stops at slots - reserve, from its first request on.
    EXPECT_FALSE(shares.may_start("slow"));
    // Another webhook still finds slots at once, up to the light limit.
    for (int i = 0; i < 5; i++) {
        ASSERT_TRUE(shares.may_start("fast"));
        shares.started("fast");
    }
    EXPECT_FALSE(shares.may_start("fast"));
    EXPECT_TRUE(shares.may_start("third"));
    auto full = shares.webhooks_without_room();
    std::sort(full.begin(), full.end());
    EXPECT_EQ(full, (std::vector<std::string>{"fast", "slow"}));
    shares.finished("slow");
    EXPECT_FALSE(shares.may_start("slow")) << "a freed slot inside the reserve is not the busy one's";
    EXPECT_EQ(shares.in_flight(), 94);
    EXPECT_EQ(shares.in_flight("slow"), 89);
}

TEST(SlotShares, OneSlotIsEveryonesAndSmallPoolsKeepOne) {
    SlotShares one(1);
    EXPECT_EQ(one.reserve(), 0);
    EXPECT_TRUE(one.may_start("a"));
    one.started("a");
    EXPECT_FALSE(one.may_start("b"));

    SlotShares four(4);
    EXPECT_EQ(four.reserve(), 1);
    for (int i = 0; i < 3; i++) four.started("busy");
    EXPECT_FALSE(four.may_start("busy"));
    EXPECT_TRUE(four.may_start("other"));
    four.started("other");
    EXPECT_FALSE(four.may_start("other"));
}

TEST(SlotShares, ShrinkingSlotsKeepsCountsAndRefuses) {
    SlotShares shares(100);
    for (int i = 0; i < 50; i++) shares.started("a");
    shares.set_slots(20);
    EXPECT_FALSE(shares.may_start("a"));
    EXPECT_FALSE(shares.may_start("b"));
    for (int i = 0; i < 50; i++) shares.finished("a");
    EXPECT_EQ(shares.in_flight(), 0);
    EXPECT_TRUE(shares.may_start("a"));
    shares.finished("never-started");  // ignored, counts stay sane
    EXPECT_EQ(shares.in_flight(), 0);
}

TEST(FairQueues, TakesRoundRobinAcrossWebhooks) {
    FairQueues<int> queues;
    for (int i = 0; i < 5; i++) queues.push("a", i);
    queues.push("b", 100);
    queues.push("c", 200);
    std::vector<std::string> order;
    queues.drain([](const std::string &) { return true; },
                 [&](const std::string &w, int) { order.push_back(w); });
    EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "a", "a", "a", "a"}));
    EXPECT_EQ(queues.size(), 0u);
}

TEST(FairQueues, ABacklogDoesNotDelayAnotherWebhook) {
    SlotShares shares(100);
    FairQueues<int> queues;
    for (int i = 0; i < 500; i++) queues.push("slow", i);
    auto first = start_all(queues, shares);
    EXPECT_EQ(first["slow"], 90);
    EXPECT_EQ(queues.size(), 410u);
    EXPECT_EQ(queues.webhooks(), std::vector<std::string>{"slow"});
    queues.push("healthy", 1);
    auto second = start_all(queues, shares);
    EXPECT_EQ(second["healthy"], 1);
    EXPECT_EQ(second.count("slow"), 0u);
    EXPECT_FALSE(queues.waiting("healthy"));
    EXPECT_TRUE(queues.waiting("slow"));
}

TEST(FairQueues, WorkConservingWhenAlone) {
    // Slots nobody else wants are used: a lone webhook reaches slots - reserve, and two busy
    // webhooks share the same part evenly.
    SlotShares shares(40);
    FairQueues<int> queues;
    for (int i = 0; i < 100; i++) queues.push("a", i);
    for (int i = 0; i < 100; i++) queues.push("b", i);
    auto started = start_all(queues, shares);
    EXPECT_EQ(started["a"], 18);
    EXPECT_EQ(started["b"], 18);
    EXPECT_EQ(shares.in_flight(), 36);
}

TEST(FairQueues, TakeAllEmpties) {
    FairQueues<int> queues;
    queues.push("a", 1);
    queues.push("b", 2);
    int sum = 0;
    queues.for_each([&](int v) { sum += v; });
    EXPECT_EQ(sum, 3);
    EXPECT_EQ(queues.take_all().size(), 2u);
    EXPECT_EQ(queues.size(), 0u);
    EXPECT_TRUE(queues.webhooks().empty());
}

}  // namespace
}  // namespace eventhooks::core
