// http_dns_test.cpp: a webhook whose name resolution hangs must not hold up other requests on
// the same client (issue 16): libcurl must resolve off the worker's HTTP thread, and the
// resolution is bounded by the request's connect timeout.
//
// A hanging DNS server cannot be reached honestly from here: without c-ares libcurl cannot be
// pointed at a resolver per request, and /etc/resolv.conf names a non-loopback server. So this
// test binary interposes getaddrinfo (the executable's definition wins over libc's for
// libcurl's calls): one reserved name, "hangs.dns-test.invalid", blocks until the test lets
// it go; every other name goes to the real getaddrinfo. Everything else is real: libcurl's
// resolver thread, its timeouts, HTTP to a loopback server.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <netdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "core/http_client.hpp"
#include "http_test_support.hpp"
#include "loopback_server.hpp"

namespace {

constexpr char kHangingName[] = "hangs.dns-test.invalid";

std::mutex hang_mutex;
std::condition_variable hang_released;
bool hang_release = false;
std::atomic<int> hanging_calls{0};
std::atomic<int> hanging_returned{0};

void release_hanging_resolutions() {
    std::lock_guard<std::mutex> lock(hang_mutex);
    hang_release = true;
    hang_released.notify_all();
}

}  // namespace

extern "C" int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                           struct addrinfo **res) {
    using Real = int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
    if (node != nullptr && std::strcmp(node, kHangingName) == 0) {
        hanging_calls++;
        std::unique_lock<std::mutex> lock(hang_mutex);
        // Bounded: a broken test must not leave a thread blocked for ever.
        hang_released.wait_for(lock, std::chrono::seconds(30), [] { return hang_release; });
        hanging_returned++;
        return EAI_AGAIN;
    }
    return real(node, service, hints, res);
}

namespace {

using eventhooks::core::HttpClient;
using eventhooks::core::HttpResponse;
using eventhooks::testing::LoopbackServer;
using eventhooks::testing::post;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(HttpDns, LibcurlResolvesAsynchronously) {
    // Debian 12's libcurl4 (7.88, OpenSSL) uses the threaded resolver; HttpClient refuses to
    // start on one without.
    EXPECT_TRUE(eventhooks::core::curl_resolves_asynchronously());
}

TEST(HttpDns, HangingResolutionBlocksNoOtherRequestAndTimesOut) {
    LoopbackServer server;
    HttpClient client(eventhooks::testing::test_options());
    auto hanging = post("http://" + std::string(kHangingName) + ":9/hook", 1);
    hanging.timeout_ms = 1500;  // connect timeout = min(request timeout, 10 s)
    client.submit(hanging);

    // Healthy requests submitted while the resolution hangs complete at once.
    auto start = Clock::now();
    for (uint64_t tag = 2; tag <= 6; tag++) client.submit(post(server.url("/ok"), tag));
    std::vector<HttpResponse> healthy;
    HttpResponse hung;
    bool hung_done = false;
    double longest_wait_ms = 0;
    auto deadline = start + milliseconds(8000);
    while ((healthy.size() < 5 || !hung_done) && Clock::now() < deadline) {
        auto before = Clock::now();
        client.wait(50);
        longest_wait_ms = std::max(
            longest_wait_ms, std::chrono::duration<double, std::milli>(Clock::now() - before).count());
        for (auto &r : client.take_completed()) {
            if (r.tag == 1) {
                hung = r, hung_done = true;
            } else {
                healthy.push_back(r);
                if (healthy.size() == 5) {
                    EXPECT_EQ(hanging_returned.load(), 0) << "resolution should still hang";
                }
            }
        }
    }
    double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    EXPECT_GE(hanging_calls.load(), 1) << "the hanging name was never resolved";
    ASSERT_EQ(healthy.size(), 5u);
    for (auto &r : healthy) EXPECT_EQ(r.status, 200) << r.error;
    for (auto &r : healthy) EXPECT_LT(r.elapsed_ms, 1000.0) << "a healthy request waited";
    EXPECT_LT(longest_wait_ms, 500.0) << "a call into the client blocked";

    // The hanging request ends at its connect timeout, while getaddrinfo still hangs.
    ASSERT_TRUE(hung_done) << "the request whose name never resolves did not end";
    EXPECT_FALSE(hung.got_response);
    EXPECT_NE(hung.error.find("timed out"), std::string::npos) << hung.error;
    EXPECT_GE(hung.elapsed_ms, 1400.0);
    EXPECT_LT(hung.elapsed_ms, 4000.0);
    EXPECT_LT(total_ms, 4500.0);
    EXPECT_EQ(hanging_returned.load(), 0);
    release_hanging_resolutions();
}

}  // namespace
