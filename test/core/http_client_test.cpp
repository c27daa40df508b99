// http_client_test.cpp: tests of core::HttpClient against a real HTTP/1.1 server on loopback
// (loopback_server.hpp). No mocks: what is checked is what goes over the wire. Only 127.0.0.1
// is ever contacted, and every wait is bounded so a broken client fails instead of hanging.
#include "core/http_client.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_test_support.hpp"
#include "loopback_server.hpp"

namespace {

using eventhooks::core::HttpClient;
using eventhooks::core::HttpClientOptions;
using eventhooks::core::HttpRequest;
using eventhooks::core::HttpResponse;
using eventhooks::testing::LoopbackServer;
using eventhooks::testing::open_fds;
using eventhooks::testing::post;
using eventhooks::testing::RecordedRequest;
using eventhooks::testing::Reply;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Drives the client the way the worker does (wait on the fd, perform) until `n` responses
// arrived or `limit` passed.
std::vector<HttpResponse> run(HttpClient &c, size_t n, milliseconds limit = milliseconds(5000)) {
    std::vector<HttpResponse> out;
    auto deadline = Clock::now() + limit;
    while (out.size() < n && Clock::now() < deadline) {
        c.wait(50);
        for (auto &r : c.take_completed()) out.push_back(std::move(r));
    }
    return out;
}

HttpResponse run_one(HttpClient &c, HttpRequest req, milliseconds limit = milliseconds(5000)) {
    c.submit(std::move(req));
    auto out = run(c, 1, limit);
    if (out.size() != 1) {
        ADD_FAILURE() << "expected 1 response, got " << out.size();
        return HttpResponse{};
    }
    return out[0];
}

HttpClientOptions opts() { return eventhooks::testing::test_options(); }

TEST(HttpClient, PostBodyAndHeadersArriveExactly) {
    LoopbackServer server;
    HttpClient client(opts());
    std::string body("{\"a\":\"h\xc3\xa9llo\"}\n\0tail", 21);  // UTF-8 and a NUL byte
    HttpRequest req = post(server.url("/hook?x=1"), 42, body);
    req.headers = {"Content-Type: application/json", "X-Custom: a b  c", "webhook-id: 7d1f0e2a"};
    HttpResponse r = run_one(client, req);

    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.tag, 42u);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
    EXPECT_FALSE(r.body_truncated);
    EXPECT_TRUE(r.error.empty());
    EXPECT_FALSE(r.retry_after.has_value());
    EXPECT_GT(r.elapsed_ms, 0.0);

    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    const RecordedRequest &got = reqs[0];
    EXPECT_EQ(got.method, "POST");
    EXPECT_EQ(got.target, "/hook?x=1");
    EXPECT_EQ(got.version, "HTTP/1.1");
    EXPECT_EQ(got.body, body);
    EXPECT_EQ(got.header("Content-Length"), std::to_string(body.size()));
    EXPECT_EQ(got.header("Content-Type"), "application/json");
    EXPECT_EQ(got.header_count("Content-Type"), 1u);
    EXPECT_EQ(got.header("X-Custom"), "a b  c");
    EXPECT_EQ(got.header("webhook-id"), "7d1f0e2a");
    EXPECT_EQ(got.header("User-Agent"), "pg_eventhooks-test/1.0");
    EXPECT_EQ(got.header_count("Expect"), 0u);
    EXPECT_EQ(got.header("Host"), "127.0.0.1:" + std::to_string(server.port()));
}

// curl sends "Expect: 100-continue" on its own for bodies over 1 MB; it must not, as it costs a
// round trip (and a 1 s stall with servers that don't answer 100).
TEST(HttpClient, LargeBodyHasNoExpectHeader) {
    LoopbackServer server;
    HttpClient client(opts());
    std::string body(2 * 1024 * 1024, 'x');
    for (size_t i = 0; i < body.size(); i += 1000) body[i] = static_cast<char>('a' + i % 26);
    HttpResponse r = run_one(client, post(server.url(), 1, body));
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_LT(r.elapsed_ms, 900.0);
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].header_count("Expect"), 0u);
    EXPECT_TRUE(reqs[0].body == body);
}

TEST(HttpClient, EmptyBody) {
    LoopbackServer server;
    HttpClient client(opts());
    HttpResponse r = run_one(client, post(server.url(), 1, ""));
    EXPECT_EQ(r.status, 200) << r.error;
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].method, "POST");
    EXPECT_EQ(reqs[0].header("Content-Length"), "0");
    EXPECT_EQ(reqs[0].body, "");
}

TEST(HttpClient, StatusesReportedAndRedirectNotFollowed) {
    LoopbackServer server([](const RecordedRequest &req) {
        Reply r;
        if (req.target == "/s/302") {
            r.status = 302;
            r.headers = {"Location: /elsewhere"};
        } else if (req.target.rfind("/s/", 0) == 0) {
            r.status = std::stoi(req.target.substr(3));
        }
        r.body = "status " + std::to_string(r.status);
        return r;
    });
    HttpClient client(opts());
    const std::vector<int> statuses = {200, 302, 404, 503};
    for (int s : statuses) client.submit(post(server.url("/s/" + std::to_string(s)), s));
    auto out = run(client, statuses.size());
    ASSERT_EQ(out.size(), statuses.size());
    for (const auto &r : out) {
        EXPECT_TRUE(r.got_response) << r.error;
        EXPECT_EQ(r.status, static_cast<long>(r.tag));
        EXPECT_EQ(r.body, "status " + std::to_string(r.tag));
        EXPECT_TRUE(r.error.empty());
    }
    // Give a (wrong) redirect-following client time to show itself.
    run(client, 1, milliseconds(100));
    auto reqs = server.requests();
    EXPECT_EQ(reqs.size(), statuses.size());
    for (const auto &q : reqs) EXPECT_NE(q.target, "/elsewhere");
}

TEST(HttpClient, RetryAfterCaptured) {
    LoopbackServer server([](const RecordedRequest &req) {
        Reply r;
        if (req.target == "/retry") {
            r.status = 503;
            r.headers = {"Retry-After: 120"};
        } else if (req.target == "/lower") {
            r.status = 429;
            r.headers = {"X-Other: 1", "retry-after:   7  "};
        } else if (req.target == "/interim") {
            // An informational response carrying Retry-After, then the real one without it:
            // only the final response's headers count.
            r.preamble = "HTTP/1.1 103 Early Hints\r\nRetry-After: 5\r\n\r\n";
            r.status = 503;
        }
        return r;
    });
    HttpClient client(opts());
    HttpResponse a = run_one(client, post(server.url("/retry")));
    EXPECT_EQ(a.status, 503) << a.error;
    ASSERT_TRUE(a.retry_after.has_value());
    EXPECT_EQ(*a.retry_after, "120");

    HttpResponse b = run_one(client, post(server.url("/lower")));
    EXPECT_EQ(b.status, 429) << b.error;
    ASSERT_TRUE(b.retry_after.has_value());
    EXPECT_EQ(*b.retry_after, "7");

    HttpResponse c = run_one(client, post(server.url("/plain")));
    EXPECT_EQ(c.status, 200) << c.error;
    EXPECT_FALSE(c.retry_after.has_value());

    HttpResponse d = run_one(client, post(server.url("/interim")));
    EXPECT_EQ(d.status, 503) << d.error;
    EXPECT_FALSE(d.retry_after.has_value());
}

TEST(HttpClient, ResponseBodyCapped) {
    std::string big(100000, 'b');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
    LoopbackServer server([&](const RecordedRequest &req) {
        Reply r;
        if (req.target == "/big") r.body = big;
        if (req.target == "/exact") r.body = big.substr(0, 1000);
        return r;
    });
    HttpClientOptions o = opts();
    o.max_response_bytes = 1000;
    HttpClient client(o);

    HttpResponse a = run_one(client, post(server.url("/big")));
    EXPECT_TRUE(a.got_response) << a.error;
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, big.substr(0, 1000));
    EXPECT_TRUE(a.body_truncated);
    EXPECT_TRUE(a.error.empty());

    HttpResponse b = run_one(client, post(server.url("/exact")));
    EXPECT_EQ(b.body, big.substr(0, 1000));
    EXPECT_FALSE(b.body_truncated);

    HttpResponse c = run_one(client, post(server.url("/small")));
    EXPECT_EQ(c.body, "ok");
    EXPECT_FALSE(c.body_truncated);

    // The discarded rest was still read off the wire: the connection stayed usable.
    EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClient, TimeoutErrorText) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.delay_ms = 3000;
        return r;
    });
    HttpClient client(opts());
    HttpRequest req = post(server.url(), 9);
    req.timeout_ms = 500;
    HttpResponse r = run_one(client, req);
    EXPECT_EQ(r.tag, 9u);
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error, "timed out after 0.5 s");
    EXPECT_GE(r.elapsed_ms, 450.0);
    EXPECT_LT(r.elapsed_ms, 1500.0);
    EXPECT_EQ(client.in_flight(), 0u);
}

TEST(HttpClient, ConnectionRefused) {
    HttpClient client(opts());
    uint16_t port = LoopbackServer::closed_port();
    HttpResponse r = run_one(client, post("http://127.0.0.1:" + std::to_string(port) + "/", 3));
    EXPECT_EQ(r.tag, 3u);
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error.rfind("connection refused", 0), 0u) << r.error;
}

TEST(HttpClient, ServerClosesWithoutAnswer) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.close_without_answer = true;
        return r;
    });
    HttpClient client(opts());
    HttpResponse r = run_one(client, post(server.url()));
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error.rfind("connection closed by server", 0), 0u) << r.error;
}

TEST(HttpClient, OnlyHttpAndHttpsAllowed) {
    HttpClient client(opts());
    HttpResponse a = run_one(client, post("ftp://127.0.0.1:1/x"));
    EXPECT_FALSE(a.got_response);
    EXPECT_NE(a.error.find("unsupported protocol"), std::string::npos) << a.error;
    HttpResponse b = run_one(client, post("file:///etc/hostname"));
    EXPECT_FALSE(b.got_response);
    EXPECT_NE(b.error.find("unsupported protocol"), std::string::npos) << b.error;
}

// https:// goes through the protocol filter and into TLS; a peer that answers the handshake
// with plain text gives a TLS error, not a hang or an HTTP status.
TEST(HttpClient, HttpsToPlainTextPeerIsTlsError) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 4), 0);
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    std::thread peer([fd] {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 3000) <= 0) return;
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) return;
        const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        (void)!send(c, reply, sizeof reply - 1, MSG_NOSIGNAL);
        close(c);
    });
    HttpClient client(opts());
    HttpResponse r =
        run_one(client, post("https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/", 4));
    peer.join();
    close(fd);
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error.rfind("TLS handshake failed", 0), 0u) << r.error;
}

TEST(HttpClient, FiftyAtOnceAllCompleteAndSecondWaveReusesConnections) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.delay_ms = 50;  // keeps all 50 in flight together
        return r;
    });
    HttpClient client(opts());
    for (int wave = 0; wave < 2; ++wave) {
        for (uint64_t i = 0; i < 50; ++i) client.submit(post(server.url(), wave * 100 + i));
        EXPECT_EQ(client.in_flight(), 50u);
        auto out = run(client, 50);
        ASSERT_EQ(out.size(), 50u);
        std::set<uint64_t> tags;
        for (const auto &r : out) {
            EXPECT_EQ(r.status, 200) << r.error;
            tags.insert(r.tag);
        }
        EXPECT_EQ(tags.size(), 50u);
        EXPECT_EQ(*tags.begin(), wave * 100u);
        EXPECT_EQ(*tags.rbegin(), wave * 100u + 49);
        EXPECT_EQ(client.in_flight(), 0u);
    }
    EXPECT_EQ(server.request_count(), 100u);
    // Wave 1 needed up to 50 connections; wave 2 found them all idle in the cache.
    EXPECT_LE(server.accepted(), 50);
    EXPECT_GE(server.accepted(), 2);
    std::set<int> wave2_connections;
    auto reqs = server.requests();
    int max_wave1_conn = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
        if (i < 50) max_wave1_conn = std::max(max_wave1_conn, reqs[i].connection);
    }
    for (size_t i = 50; i < reqs.size(); ++i) EXPECT_LE(reqs[i].connection, max_wave1_conn);
}

TEST(HttpClient, SequentialWavesReuseConnections) {
    LoopbackServer server;
    HttpClient client(opts());
    for (int wave = 0; wave < 5; ++wave) {
        for (uint64_t i = 0; i < 10; ++i) client.submit(post(server.url(), i));
        auto out = run(client, 10);
        ASSERT_EQ(out.size(), 10u);
        for (const auto &r : out) EXPECT_EQ(r.status, 200) << r.error;
    }
    EXPECT_EQ(server.request_count(), 50u);
    EXPECT_LE(server.accepted(), 10);

    LoopbackServer one_by_one;
    for (int i = 0; i < 20; ++i) {
        HttpResponse r = run_one(client, post(one_by_one.url()));
        EXPECT_EQ(r.status, 200) << r.error;
    }
    EXPECT_EQ(one_by_one.accepted(), 1);
}

TEST(HttpClient, InFlightCountsAndTimer) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.delay_ms = 100;
        return r;
    });
    HttpClient client(opts());
    EXPECT_GE(client.wait_fd(), 0);
    EXPECT_EQ(client.in_flight(), 0u);
    EXPECT_EQ(client.timeout_ms(), -1);
    EXPECT_FALSE(client.wait(10));  // nothing to do: returns at once, nothing completed

    for (uint64_t i = 0; i < 3; ++i) client.submit(post(server.url(), i));
    EXPECT_EQ(client.in_flight(), 3u);
    // curl always keeps a timer while transfers run (their timeouts at least).
    EXPECT_GE(client.timeout_ms(), 0);
    EXPECT_LE(client.timeout_ms(), 5000);
    client.perform();
    EXPECT_EQ(client.in_flight(), 3u);
    EXPECT_TRUE(client.take_completed().empty());

    auto out = run(client, 3);
    EXPECT_EQ(out.size(), 3u);
    EXPECT_EQ(client.in_flight(), 0u);
    EXPECT_TRUE(client.take_completed().empty());
}

TEST(HttpClient, SetOptionsAppliesToLaterRequests) {
    LoopbackServer server;
    HttpClient client(opts());
    EXPECT_EQ(run_one(client, post(server.url())).status, 200);
    HttpClientOptions o = opts();
    o.user_agent = "reloaded/2";
    o.max_response_bytes = 1;
    client.set_options(o);
    HttpResponse r = run_one(client, post(server.url()));
    EXPECT_EQ(r.body, "o");
    EXPECT_TRUE(r.body_truncated);
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].header("User-Agent"), "pg_eventhooks-test/1.0");
    EXPECT_EQ(reqs[1].header("User-Agent"), "reloaded/2");
    // New handles, same connection cache: still one connection.
    EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClient, DestructorWithRequestsInFlight) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply r;
        r.delay_ms = 5000;
        return r;
    });
    size_t fds_before = open_fds();
    auto start = Clock::now();
    {
        HttpClient client(opts());
        for (uint64_t i = 0; i < 20; ++i) client.submit(post(server.url(), i));
        // Let the requests reach the server, so real connections are open at destruction.
        auto deadline = Clock::now() + milliseconds(3000);
        while (server.request_count() < 20 && Clock::now() < deadline) client.wait(20);
        EXPECT_EQ(server.request_count(), 20u);
        EXPECT_EQ(client.in_flight(), 20u);
        EXPECT_TRUE(client.take_completed().empty());
    }
    EXPECT_LT(Clock::now() - start, milliseconds(4000));
    // The client closed its sockets: the server sees them go.
    auto deadline = Clock::now() + milliseconds(3000);
    while (server.open_connections() > 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_EQ(server.open_connections(), 0);
    EXPECT_EQ(server.accepted(), 20);
    EXPECT_EQ(open_fds(), fds_before);
}

// Not a benchmark, but a guard against accidental O(n) work per event or a lost wake-up:
// many small requests with 100 in flight must go through quickly and on <= 100 connections.
TEST(HttpClient, ManyRequestsWithHundredInFlight) {
    LoopbackServer server(nullptr, /*record=*/false);
    HttpClient client(opts());
    const size_t total = 20000;
    const size_t window = 100;
    size_t submitted = 0, done = 0, ok = 0;
    auto start = Clock::now();
    auto deadline = start + milliseconds(10000);
    while (done < total && Clock::now() < deadline) {
        while (submitted < total && client.in_flight() < window) {
            client.submit(post(server.url(), submitted++));
        }
        client.wait(50);
        for (auto &r : client.take_completed()) {
            ++done;
            if (r.status == 200) ++ok;
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("[ info     ] %zu requests in %.2f s = %.0f req/s, %d connections\n", done, secs,
                static_cast<double>(done) / secs, server.accepted());
    EXPECT_EQ(done, total);
    EXPECT_EQ(ok, total);
    EXPECT_LE(server.accepted(), static_cast<int>(window));
}

}  // namespace
