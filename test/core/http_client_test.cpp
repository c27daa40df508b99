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
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <stdexcept>
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
        if (req.target == "/medium") r.body = big.substr(0, 20000);
        if (req.target == "/exact") r.body = big.substr(0, 1000);
        return r;
    });
    HttpClientOptions o = opts();
    o.max_response_bytes = 1000;
    HttpClient client(o);

    // A little over the cap: the rest is read and dropped, the connection stays in use.
    HttpResponse m = run_one(client, post(server.url("/medium")));
    EXPECT_TRUE(m.got_response) << m.error;
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.body, big.substr(0, 1000));
    EXPECT_TRUE(m.body_truncated);

    HttpResponse b = run_one(client, post(server.url("/exact")));
    EXPECT_EQ(b.body, big.substr(0, 1000));
    EXPECT_FALSE(b.body_truncated);

    HttpResponse c = run_one(client, post(server.url("/small")));
    EXPECT_EQ(c.body, "ok");
    EXPECT_FALSE(c.body_truncated);
    EXPECT_EQ(server.accepted(), 1);

    // Far over it (more than 64 kB past the cap): the client stops reading and closes that
    // connection, so the next request opens a new one.
    HttpResponse a = run_one(client, post(server.url("/big")));
    EXPECT_TRUE(a.got_response) << a.error;
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, big.substr(0, 1000));
    EXPECT_TRUE(a.body_truncated);
    EXPECT_TRUE(a.error.empty());
    EXPECT_EQ(run_one(client, post(server.url("/small"))).status, 200);
    EXPECT_EQ(server.accepted(), 2);
    auto reqs = server.requests();
    ASSERT_EQ(reqs.size(), 5u);
    EXPECT_EQ(reqs[3].connection, 1);
    EXPECT_EQ(reqs[4].connection, 2);
}

// http_response_max_bytes = 0 keeps no body; small answers still leave keep-alive working.
TEST(HttpClient, ZeroCapKeepsConnectionsReusable) {
    LoopbackServer server;
    HttpClientOptions o = opts();
    o.max_response_bytes = 0;
    HttpClient client(o);
    for (int i = 0; i < 5; ++i) {
        HttpResponse r = run_one(client, post(server.url()));
        EXPECT_EQ(r.status, 200) << r.error;
        EXPECT_EQ(r.body, "");
        EXPECT_TRUE(r.body_truncated);
    }
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

// ---------------------------------------------------------------------------------------------
// Hostile and broken receivers (issue 17). LoopbackServer only sends well-formed replies; these
// need bytes no sane server sends, so RawServer hands the accepted socket to a script.
// ---------------------------------------------------------------------------------------------

// Accepts connections on 127.0.0.1 one at a time, reads one request (head and Content-Length
// body), then runs `script` on the socket and closes it. Every send is bounded: it gives up
// when the client goes away or the server is being destroyed, so no script can hang a test.
class RawServer {
  public:
    using Script = std::function<void(RawServer &, int fd)>;

    explicit RawServer(Script script) : script_(std::move(script)) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), len) != 0 ||
            listen(listen_fd_, 16) != 0) {
            throw std::runtime_error("RawServer: bind/listen failed");
        }
        getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~RawServer() {
        stop_ = true;
        thread_.join();
        close(listen_fd_);
    }
    RawServer(const RawServer &) = delete;
    RawServer &operator=(const RawServer &) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    size_t bytes_sent() const { return sent_.load(); }
    int accepted() const { return accepted_.load(); }

    // Sends all of `data`; false once the client is gone or the server stops.
    bool send_all(int fd, const std::string &data) {
        size_t off = 0;
        while (off < data.size()) {
            if (stop_) return false;
            pollfd p{fd, POLLOUT, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) return false;
            off += static_cast<size_t>(n);
            sent_ += static_cast<size_t>(n);
        }
        return true;
    }
    // Waits `ms`; false early if the server stops or the client hangs up.
    bool pause(int fd, int ms) {
        auto end = Clock::now() + milliseconds(ms);
        while (!stop_ && Clock::now() < end) {
            pollfd p{fd, POLLRDHUP, 0};
            if (poll(&p, 1, 5) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return false;
        }
        return !stop_;
    }

  private:
    void serve() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            ++accepted_;
            if (read_request(fd)) script_(*this, fd);
            close(fd);
        }
    }
    bool read_request(int fd) {
        std::string buf;
        char chunk[4096];
        auto deadline = Clock::now() + milliseconds(3000);
        while (!stop_ && Clock::now() < deadline) {
            size_t head_end = buf.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                size_t cl = 0;
                auto pos = buf.find("Content-Length: ");
                if (pos != std::string::npos && pos < head_end)
                    cl = std::stoul(buf.substr(pos + 16));
                if (buf.size() >= head_end + 4 + cl) return true;
            }
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buf.append(chunk, static_cast<size_t>(n));
        }
        return false;
    }

    Script script_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> sent_{0};
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

constexpr size_t kHundredMB = size_t{100} * 1024 * 1024;

// Announces a 100 MB body and sends it in 64 KiB pieces, `gap_ms` apart, for as long as the
// client reads.
RawServer::Script huge_body(int gap_ms, const std::string &status_and_headers) {
    return [=](RawServer &s, int fd) {
        std::string piece(65536, 'z');
        if (!s.send_all(fd, status_and_headers + "Content-Length: " + std::to_string(kHundredMB) +
                                "\r\n\r\n"))
            return;
        for (size_t sent = 0; sent < kHundredMB; sent += piece.size()) {
            if (!s.send_all(fd, piece)) return;
            if (gap_ms > 0 && !s.pause(fd, gap_ms)) return;
        }
    };
}

// A 100 MB answer trickling in: once max_response_bytes are kept and the status is known, the
// client stops reading and the response counts as received (truncated). It must not wait for
// the rest, nor for the timeout, which would turn a known answer into a transport error.
TEST(HttpClientHostile, SlowHugeBodyEndsAtTheCapNotAtTheTimeout) {
    RawServer server(huge_body(50, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n"));
    HttpClientOptions o = opts();
    o.max_response_bytes = 100000;
    HttpClient client(o);
    HttpRequest req = post(server.url(), 1);
    req.timeout_ms = 4000;
    HttpResponse r = run_one(client, req, milliseconds(6000));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, std::string(100000, 'z'));
    EXPECT_TRUE(r.body_truncated);
    EXPECT_TRUE(r.error.empty()) << r.error;
    ASSERT_TRUE(r.retry_after.has_value());
    EXPECT_EQ(*r.retry_after, "7");
    // Two 64 KiB pieces reach the cap: ~50 ms, far from the 4 s timeout.
    EXPECT_LT(r.elapsed_ms, 1500.0);
    EXPECT_EQ(client.in_flight(), 0u);
}

// Past the cap, a body that trickles in (one byte every 200 ms after a first piece just over
// the cap) is not waited for either: the few bytes the client would still read and drop to keep
// the connection reusable get a short time, not the request's timeout.
TEST(HttpClientHostile, BodyTricklingPastTheCapIsNotWaitedFor) {
    RawServer server([](RawServer &s, int fd) {
        if (!s.send_all(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 200000\r\n\r\n" +
                                std::string(1100, 'z')))
            return;
        for (int i = 0; i < 100; i++)
            if (!s.send_all(fd, "z") || !s.pause(fd, 200)) return;
    });
    HttpClientOptions o = opts();
    o.max_response_bytes = 1000;
    HttpClient client(o);
    HttpRequest req = post(server.url(), 1);
    req.timeout_ms = 8000;
    HttpResponse r = run_one(client, req, milliseconds(10000));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, std::string(1000, 'z'));
    EXPECT_TRUE(r.body_truncated);
    EXPECT_LT(r.elapsed_ms, 4000.0);
    EXPECT_EQ(client.in_flight(), 0u);
}

// The same as fast as loopback goes: the client stops reading at the cap instead of draining
// 100 MB, and closes that connection (it is not reusable with the rest unread).
TEST(HttpClientHostile, FastHugeBodyIsNotReadToTheEnd) {
    RawServer server(huge_body(0, "HTTP/1.1 200 OK\r\n"));
    HttpClientOptions o = opts();
    o.max_response_bytes = 65536;
    HttpClient client(o);
    HttpResponse r = run_one(client, post(server.url(), 1), milliseconds(6000));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.size(), 65536u);
    EXPECT_TRUE(r.body_truncated);
    // What the server got out before the client hung up: socket buffers, a few MB at most.
    auto deadline = Clock::now() + milliseconds(3000);
    size_t before = server.bytes_sent();
    for (;;) {  // the server notices the hang-up on its next send
        std::this_thread::sleep_for(milliseconds(50));
        size_t now = server.bytes_sent();
        if (now == before || Clock::now() > deadline) break;
        before = now;
    }
    EXPECT_LT(server.bytes_sent(), kHundredMB / 4) << "the client read on after the cap";
    // The next request opens a new connection: the aborted one was not put back for reuse.
    HttpResponse again = run_one(client, post(server.url(), 2), milliseconds(6000));
    EXPECT_EQ(again.status, 200) << again.error;
    EXPECT_EQ(server.accepted(), 2);
}

// Chunked bodies have no announced length: the cap ends them just the same.
TEST(HttpClientHostile, EndlessChunkedBodyEndsAtTheCap) {
    RawServer server([](RawServer &s, int fd) {
        if (!s.send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
        std::string chunk = "400\r\n" + std::string(1024, 'c') + "\r\n";
        for (int i = 0; i < 200000; ++i) {
            if (!s.send_all(fd, chunk) || !s.pause(fd, 1)) return;
        }
    });
    HttpClientOptions o = opts();
    o.max_response_bytes = 5000;
    HttpClient client(o);
    HttpRequest req = post(server.url(), 1);
    req.timeout_ms = 4000;
    HttpResponse r = run_one(client, req, milliseconds(6000));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::string(5000, 'c'));
    EXPECT_TRUE(r.body_truncated);
    EXPECT_LT(r.elapsed_ms, 1500.0);
}

// Once the cap is reached the answer is known: a server that then closes mid-body (or a
// timeout while the rest is dropped) does not turn it into a transport error.
TEST(HttpClientHostile, CloseAfterTheCapIsStillTheAnswer) {
    RawServer server([](RawServer &s, int fd) {
        s.send_all(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000\r\n\r\n" +
                           std::string(3000, 'e'));
    });
    HttpClientOptions o = opts();
    o.max_response_bytes = 1000;
    HttpClient client(o);
    HttpResponse r = run_one(client, post(server.url(), 1));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, std::string(1000, 'e'));
    EXPECT_TRUE(r.body_truncated);

    RawServer stalls([](RawServer &s, int fd) {
        if (s.send_all(
                fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(3000, 'e')))
            s.pause(fd, 3000);
    });
    HttpRequest req = post(stalls.url(), 2);
    req.timeout_ms = 500;
    HttpResponse t = run_one(client, req);
    EXPECT_TRUE(t.got_response) << t.error;
    EXPECT_EQ(t.status, 200);
    EXPECT_TRUE(t.body_truncated);
}

// A body that breaks off before the cap is still a transport error (the answer is unknown).
TEST(HttpClientHostile, CloseMidBodyBelowTheCapIsATransportError) {
    RawServer server([](RawServer &s, int fd) {
        s.send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
    });
    HttpClient client(opts());
    HttpResponse r = run_one(client, post(server.url(), 1));
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error,
              "connection closed by server before the response was complete (response "
              "incomplete after HTTP status 200)");
}

TEST(HttpClientHostile, GarbageStatusLineIsAnInvalidResponse) {
    for (std::string garbage :
         {std::string("HELLO THERE\r\n\r\n"), std::string("HTTP/1.1 abc OK\r\n\r\n"),
          std::string("\x01\x02\xff\xfe\0garbage", 12)}) {
        RawServer server([&](RawServer &s, int fd) { s.send_all(fd, garbage); });
        HttpClient client(opts());
        HttpResponse r = run_one(client, post(server.url(), 1));
        EXPECT_FALSE(r.got_response);
        EXPECT_EQ(r.status, 0);
        EXPECT_EQ(r.error.rfind("invalid HTTP response", 0), 0u) << r.error;
        EXPECT_EQ(r.error.find('\0'), std::string::npos);
    }
}

// Headers that never end, sent fast: curl's limit on the header section ends them.
TEST(HttpClientHostile, EndlessFastHeadersHitCurlsLimit) {
    RawServer server([](RawServer &s, int fd) {
        if (!s.send_all(fd, "HTTP/1.1 200 OK\r\n")) return;
        for (int i = 0; i < 1000000; ++i) {
            if (!s.send_all(
                    fd, "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'h') + "\r\n"))
                return;
        }
    });
    HttpClient client(opts());
    HttpRequest req = post(server.url(), 1);
    req.timeout_ms = 4000;
    HttpResponse r = run_one(client, req, milliseconds(6000));
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_LT(r.elapsed_ms, 3000.0) << r.error;
    EXPECT_LT(server.bytes_sent(), size_t{16} * 1024 * 1024);
    EXPECT_EQ(r.error.rfind("invalid HTTP response: ", 0), 0u) << r.error;
    EXPECT_NE(r.error.find("headers"), std::string::npos) << r.error;
}

// One header line (or the status line) that never ends: curl's limit on a line ends it.
TEST(HttpClientHostile, EndlessHeaderLineHitsCurlsLimit) {
    for (std::string start :
         {std::string("HTTP/1.1 200 OK\r\nX-Long: "), std::string("HTTP/1.1 200 ")}) {
        RawServer server([&](RawServer &s, int fd) {
            if (!s.send_all(fd, start)) return;
            std::string piece(4096, 'h');
            for (int i = 0; i < 100000; ++i)
                if (!s.send_all(fd, piece)) return;
        });
        HttpClient client(opts());
        HttpRequest req = post(server.url(), 1);
        req.timeout_ms = 4000;
        HttpResponse r = run_one(client, req, milliseconds(6000));
        EXPECT_FALSE(r.got_response);
        EXPECT_LT(r.elapsed_ms, 3000.0) << r.error;
        EXPECT_LT(server.bytes_sent(), size_t{16} * 1024 * 1024);
        EXPECT_EQ(r.error.rfind("invalid HTTP response: ", 0), 0u) << r.error;
    }
}

// Headers that never end, sent slowly: the request's timeout ends them.
TEST(HttpClientHostile, EndlessSlowHeadersEndAtTheTimeout) {
    RawServer server([](RawServer &s, int fd) {
        if (!s.send_all(fd, "HTTP/1.1 200 OK\r\n")) return;
        for (int i = 0; i < 100000; ++i) {
            if (!s.send_all(fd, "X-Slow: " + std::to_string(i) + "\r\n") || !s.pause(fd, 50))
                return;
        }
    });
    HttpClient client(opts());
    HttpRequest req = post(server.url(), 1);
    req.timeout_ms = 800;
    HttpResponse r = run_one(client, req, milliseconds(4000));
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error.rfind("timed out after 0.8 s", 0), 0u) << r.error;
    EXPECT_GE(r.elapsed_ms, 750.0);
    EXPECT_LT(r.elapsed_ms, 2000.0);
}

// Bytes that are not UTF-8 in Retry-After and a body with NULs and bytes that are not UTF-8:
// kept as sent (the caller's parser rejects such a Retry-After; the log writer cleans up).
TEST(HttpClientHostile, NulAndInvalidUtf8KeptAsBytes) {
    std::string body("a\0b\xff\xfe\xc3(", 7);
    RawServer server([&](RawServer &s, int fd) {
        s.send_all(fd,
                   "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\xff\xc3 2\r\n"
                   "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
    });
    HttpClient client(opts());
    HttpResponse r = run_one(client, post(server.url(), 1));
    EXPECT_TRUE(r.got_response) << r.error;
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, body);
    ASSERT_TRUE(r.retry_after.has_value());
    EXPECT_EQ(*r.retry_after, "1\xff\xc3 2");
}

// A NUL byte in a header line: curl refuses the response, which is then an invalid one.
TEST(HttpClientHostile, NulInAHeaderIsAnInvalidResponse) {
    RawServer server([](RawServer &s, int fd) {
        s.send_all(fd, std::string("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\0 2\r\n"
                                   "Content-Length: 0\r\n\r\n",
                                   74));
    });
    HttpClient client(opts());
    HttpResponse r = run_one(client, post(server.url(), 1));
    EXPECT_FALSE(r.got_response);
    EXPECT_FALSE(r.retry_after.has_value());
    EXPECT_EQ(r.error.rfind("invalid HTTP response", 0), 0u) << r.error;
    EXPECT_EQ(r.error.find('\0'), std::string::npos);
}

}  // namespace

namespace {
// Connections counted by the open/close socket callbacks (worker_status.connections_open): one
// kept alive after a request, none once the client (its connection cache) is gone.
TEST(HttpClient, CountsTheConnectionsItHasOpen) {
    LoopbackServer server;
    int64_t before = eventhooks::core::open_connection_count();
    {
        HttpClient client(opts());
        HttpResponse r = run_one(client, post(server.url("/"), 1, "{}"));
        EXPECT_TRUE(r.got_response) << r.error;
        EXPECT_EQ(eventhooks::core::open_connection_count(), before + 1);  // kept alive
        r = run_one(client, post(server.url("/"), 2, "{}"));
        EXPECT_EQ(eventhooks::core::open_connection_count(), before + 1);  // reused
    }
    EXPECT_EQ(eventhooks::core::open_connection_count(), before);
}
}  // namespace
