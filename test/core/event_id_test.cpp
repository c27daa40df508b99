// Unit tests of src/core/event_id: UUIDv7 layout (version, variant, timestamp), strict
// monotonicity within a process, uniqueness across threads, distinct random streams after
// fork(), and the text form.
#include "core/event_id.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ec = eventhooks::core;

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t timestamp_ms(const ec::Uuid &u) {
    int64_t ms = 0;
    for (int i = 0; i < 6; ++i) ms = (ms << 8) | u[i];
    return ms;
}

// The 62 random bits (variant bits removed).
uint64_t random_bits(const ec::Uuid &u) {
    uint64_t r = u[8] & 0x3F;
    for (int i = 9; i < 16; ++i) r = (r << 8) | u[i];
    return r;
}

}  // namespace

TEST(EventId, ToString) {
    ec::Uuid u{0x01, 0x8f, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f,
               0x90, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07};
    EXPECT_EQ(ec::uuid_to_string(u), "018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607");
    EXPECT_EQ(ec::uuid_to_string(ec::Uuid{}), "00000000-0000-0000-0000-000000000000");
}

TEST(EventId, VersionVariantAndTimestamp) {
    for (int i = 0; i < 1000; ++i) {
        int64_t before = now_ms();
        ec::Uuid u = ec::new_event_uuid_v7();
        int64_t after = now_ms();
        EXPECT_EQ(u[6] >> 4, 7) << "version";
        EXPECT_EQ(u[8] >> 6, 2) << "variant";
        std::string s = ec::uuid_to_string(u);
        ASSERT_EQ(s.size(), 36u);
        EXPECT_EQ(s[14], '7');
        EXPECT_TRUE(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b') << s;
        // At ~1000 ids the sub-millisecond counter cannot run more than 1 ms ahead of the clock.
        EXPECT_GE(timestamp_ms(u), before - 2);
        EXPECT_LE(timestamp_ms(u), after + 2);
    }
}

TEST(EventId, StrictlyIncreasingAndUniqueWithinProcess) {
    constexpr int kCount = 100000;
    std::vector<ec::Uuid> ids(kCount);
    const int64_t first = timestamp_ms(ec::new_event_uuid_v7());  // may already be ahead
    const int64_t start = now_ms();
    for (auto &id : ids) id = ec::new_event_uuid_v7();
    const int64_t end = now_ms();

    // Each id is at least one sub-millisecond step (1/4096 ms) after the previous one, so a burst
    // faster than 4096 ids/ms runs ahead of the clock, by at most kCount / 4096 ms here.
    EXPECT_GE(timestamp_ms(ids.back()), start - 2);
    EXPECT_LE(timestamp_ms(ids.back()), std::max(first, end) + kCount / 4096 + 2);

    std::vector<std::string> text;
    text.reserve(kCount);
    for (const auto &id : ids) text.push_back(ec::uuid_to_string(id));
    for (int i = 1; i < kCount; ++i) {
        ASSERT_LT(text[i - 1], text[i]) << "at " << i;
    }
    EXPECT_EQ(std::set<std::string>(text.begin(), text.end()).size(), static_cast<size_t>(kCount));
}

TEST(EventId, RandomBitsVary) {
    std::set<uint64_t> seen;
    for (int i = 0; i < 1000; ++i) seen.insert(random_bits(ec::new_event_uuid_v7()));
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(EventId, UniqueAndIncreasingAcrossThreads) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20000;
    std::vector<std::vector<std::string>> ids(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&ids, t] {
            for (int i = 0; i < kPerThread; ++i) {
                ids[t].push_back(ec::uuid_to_string(ec::new_event_uuid_v7()));
            }
        });
    }
    for (auto &th : threads) th.join();
    std::set<std::string> all;
    for (const auto &v : ids) {
        for (size_t i = 1; i < v.size(); ++i) ASSERT_LT(v[i - 1], v[i]);
        all.insert(v.begin(), v.end());
    }
    EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(EventId, ForkedChildrenGetDifferentRandomStreams) {
    ec::new_event_uuid_v7();  // seed the parent, as a postmaster that made an id would be
    constexpr int kChildren = 3;
    std::vector<uint64_t> child_bits;
    for (int c = 0; c < kChildren; ++c) {
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            uint64_t bits = random_bits(ec::new_event_uuid_v7());
            ssize_t n = write(fds[1], &bits, sizeof bits);
            _exit(n == static_cast<ssize_t>(sizeof bits) ? 0 : 1);
        }
        close(fds[1]);
        uint64_t bits = 0;
        ASSERT_EQ(read(fds[0], &bits, sizeof bits), static_cast<ssize_t>(sizeof bits));
        close(fds[0]);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        child_bits.push_back(bits);
    }
    // Without a reseed, every child would continue the parent's stream and produce the same bits
    // as the parent's next id.
    uint64_t parent_next = random_bits(ec::new_event_uuid_v7());
    std::set<uint64_t> all(child_bits.begin(), child_bits.end());
    all.insert(parent_next);
    EXPECT_EQ(all.size(), static_cast<size_t>(kChildren + 1));
}
