// Unit tests for BackgroundHttpClient: HttpClient driven from its own thread, against the real
// loopback HTTP server (real sockets, real libcurl).
#include <dirent.h>
#include <poll.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/background_http_client.hpp"
#include "http_test_support.hpp"
#include "loopback_server.hpp"

namespace {

using eventhooks::core::BackgroundHttpClient;
using eventhooks::core::HttpResponse;
using eventhooks::testing::LoopbackServer;
using eventhooks::testing::open_fds;
using eventhooks::testing::post;
using eventhooks::testing::test_options;
using eventhooks::testing::RecordedRequest;
using eventhooks::testing::Reply;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Waits on wait_fd() the way the worker does, until `n` responses arrived or `limit` passed.
std::vector<HttpResponse> collect(BackgroundHttpClient &c, size_t n,
                                  milliseconds limit = milliseconds(10000)) {
    std::vector<HttpResponse> out;
    auto deadline = Clock::now() + limit;
    while (out.size() < n && Clock::now() < deadline) {
        struct pollfd fd = {c.wait_fd(), POLLIN, 0};
        (void)poll(&fd, 1, 50);
        for (auto &r : c.take_completed()) out.push_back(std::move(r));
    }
    return out;
}

bool readable(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

// Threads of this process that block SIGTERM (from /proc/self/task/*/status, SigBlk).
int threads_blocking_sigterm() {
    int count = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == nullptr) return -1;
    while (struct dirent *task = readdir(tasks)) {
        if (task->d_name[0] == '.') continue;
        std::ifstream status(std::string("/proc/self/task/") + task->d_name + "/status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("SigBlk:", 0) != 0) continue;
            unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
            if (mask & (1ULL << (SIGTERM - 1))) count++;
        }
    }
    closedir(tasks);
    return count;
}

TEST(BackgroundHttpClient, ManyRequestsEachAnsweredOnceWithItsTag) {
    LoopbackServer server;
    BackgroundHttpClient client(test_options());
    constexpr uint64_t kCount = 300;
    for (uint64_t i = 0; i < kCount; ++i)
        client.submit(post(server.url(), i, "{\"n\":" + std::to_string(i) + "}"));
    EXPECT_EQ(client.in_flight(), kCount);
    auto out = collect(client, kCount);
    ASSERT_EQ(out.size(), kCount);
    std::set<uint64_t> tags;
    for (const auto &r : out) {
        EXPECT_EQ(r.status, 200) << r.error;
        tags.insert(r.tag);
    }
    EXPECT_EQ(tags.size(), kCount);
    EXPECT_EQ(*tags.rbegin(), kCount - 1);
    EXPECT_EQ(client.in_flight(), 0u);
    EXPECT_EQ(server.request_count(), kCount);
    std::set<std::string> bodies;
    for (const auto &request : server.requests()) bodies.insert(request.body);
    EXPECT_EQ(bodies.size(), kCount);
    EXPECT_EQ(bodies.count("{\"n\":7}"), 1u);
}

TEST(BackgroundHttpClient, WaitFdReadableOnlyWhileResponsesWait) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.delay_ms = 100;
        return r;
    });
    BackgroundHttpClient client(test_options());
    EXPECT_FALSE(readable(client.wait_fd()));
    client.submit(post(server.url(), 42));
    EXPECT_FALSE(readable(client.wait_fd()));  // the server holds its answer for 100 ms
    EXPECT_TRUE(client.wait(5000));
    EXPECT_TRUE(readable(client.wait_fd()));
    auto out = client.take_completed();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].tag, 42u);
    EXPECT_EQ(out[0].status, 200);
    EXPECT_FALSE(readable(client.wait_fd()));
    EXPECT_TRUE(client.take_completed().empty());
}

TEST(BackgroundHttpClient, TransportErrorsComeBackAsResponses) {
    BackgroundHttpClient client(test_options());
    client.submit(post("http://127.0.0.1:" + std::to_string(LoopbackServer::closed_port()) + "/",
                       1));
    client.submit(post("ftp://127.0.0.1/x", 2));
    auto out = collect(client, 2);
    ASSERT_EQ(out.size(), 2u);
    for (const auto &r : out) {
        EXPECT_FALSE(r.got_response);
        EXPECT_FALSE(r.error.empty());
    }
}

TEST(BackgroundHttpClient, SetOptionsAppliesToLaterRequests) {
    LoopbackServer server;
    BackgroundHttpClient client(test_options("first/1"));
    client.submit(post(server.url(), 1));
    ASSERT_EQ(collect(client, 1).size(), 1u);
    client.set_options(test_options("second/2"));
    client.submit(post(server.url(), 2));
    ASSERT_EQ(collect(client, 1).size(), 1u);
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].header("User-Agent").value_or(""), "first/1");
    EXPECT_EQ(requests[1].header("User-Agent").value_or(""), "second/2");
}

TEST(BackgroundHttpClient, DestroyedWithRequestsInFlightStopsAtOnceAndLeaksNoFd) {
    size_t fds_before = open_fds();
    {
        LoopbackServer server([](const RecordedRequest &) {
            Reply r;
            r.delay_ms = 1500;
            return r;
        });
        Clock::time_point destroying;
        {
            BackgroundHttpClient client(test_options());
            for (uint64_t i = 0; i < 5; ++i) client.submit(post(server.url(), i));
            std::this_thread::sleep_for(milliseconds(100));
            EXPECT_EQ(client.in_flight(), 5u);
            destroying = Clock::now();
        }
        EXPECT_LT(Clock::now() - destroying, milliseconds(1000));
    }
    EXPECT_EQ(open_fds(), fds_before);  // the server's sockets are closed with it, too
}

TEST(BackgroundHttpClient, PauseHoldsTheThreadUntilResume) {
    LoopbackServer server;
    BackgroundHttpClient client(test_options());
    client.pause();
    client.submit(post(server.url(), 1));
    EXPECT_FALSE(client.wait(300));  // held: nothing is sent
    EXPECT_EQ(server.request_count(), 0u);
    client.resume();
    EXPECT_TRUE(client.wait(5000));
    auto out = client.take_completed();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].status, 200) << out[0].error;
}

TEST(BackgroundHttpClient, StopEndsTheThreadEvenWhilePausedAndTwice) {
    LoopbackServer server;
    BackgroundHttpClient client(test_options());
    client.pause();
    client.stop();
    client.stop();
    client.pause();  // returns: a stopped thread counts as held
    client.submit(post(server.url(), 1));
    EXPECT_FALSE(client.wait(200));
    EXPECT_EQ(server.request_count(), 0u);
}

// Postgres handles its signals in the main thread: the client's thread must block them all.
TEST(BackgroundHttpClient, ItsThreadBlocksSignals) {
    int before = threads_blocking_sigterm();
    ASSERT_GE(before, 0);
    {
        BackgroundHttpClient client(test_options());
        EXPECT_EQ(threads_blocking_sigterm(), before + 1);
        sigset_t current;
        pthread_sigmask(SIG_SETMASK, nullptr, &current);
        EXPECT_FALSE(sigismember(&current, SIGTERM));  // the caller's mask is restored
    }
    EXPECT_EQ(threads_blocking_sigterm(), before);
}

}  // namespace
