// HttpClient's destination checks (SPEC §6) against a real loopback server: a denied address is
// never connected to, names resolve before the check, the allowed list restricts, a reload
// that denies an address is not bypassed by a keep-alive connection already in curl's cache,
// and a redirect is not followed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/destination_policy.hpp"
#include "core/http_client.hpp"
#include "http_test_support.hpp"
#include "loopback_server.hpp"

namespace {

using eventhooks::core::DestinationPolicy;
using eventhooks::core::HttpClient;
using eventhooks::core::HttpClientOptions;
using eventhooks::core::HttpRequest;
using eventhooks::core::HttpResponse;
using eventhooks::testing::LoopbackServer;
using eventhooks::testing::post;
using eventhooks::testing::RecordedRequest;
using eventhooks::testing::Reply;
using Clock = std::chrono::steady_clock;

HttpResponse send_one(HttpClient &client, HttpRequest request) {
    client.submit(std::move(request));
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
        client.wait(50);
        auto done = client.take_completed();
        if (!done.empty()) return done.front();
    }
    ADD_FAILURE() << "no response within 5 s";
    return HttpResponse{};
}

HttpClientOptions with_policy(const char *allowed, const char *denied) {
    HttpClientOptions o = eventhooks::testing::test_options();
    o.destinations = std::make_shared<const DestinationPolicy>(allowed, denied);
    return o;
}

std::string localhost_url(const LoopbackServer &server) {
    return "http://localhost:" + std::to_string(server.port()) + "/";
}

}  // namespace

TEST(HttpDestinations, DeniedAddressIsNeverConnected) {
    LoopbackServer server;
    HttpClient client(with_policy("", "169.254.0.0/16, 127.0.0.0/8"));
    HttpResponse r = send_one(client, post(server.url(), 5));
    EXPECT_EQ(r.tag, 5u);
    EXPECT_FALSE(r.got_response);
    EXPECT_EQ(r.error,
              "destination denied: 127.0.0.1 matches \"127.0.0.0/8\" in "
              "eventhooks.denied_destinations");
    EXPECT_EQ(server.accepted(), 0);
}

TEST(HttpDestinations, NameIsCheckedOnItsResolvedAddress) {
    LoopbackServer server;
    HttpClient client(with_policy("", "127.0.0.0/8, ::1"));
    HttpResponse r = send_one(client, post(localhost_url(server)));
    EXPECT_FALSE(r.got_response);
    // localhost may resolve to ::1 as well; either refusal names the host.
    EXPECT_EQ(r.error.rfind("destination denied: ", 0), 0u) << r.error;
    EXPECT_NE(r.error.find("(host \"localhost\")"), std::string::npos) << r.error;
    EXPECT_EQ(server.accepted(), 0);
}

TEST(HttpDestinations, AllowedListByAddressAndByName) {
    LoopbackServer server;
    HttpClient by_address(with_policy("127.0.0.1", ""));
    EXPECT_EQ(send_one(by_address, post(server.url())).status, 200);
    HttpClient by_name(with_policy("localhost", ""));
    EXPECT_EQ(send_one(by_name, post(localhost_url(server))).status, 200);
    HttpResponse other = send_one(by_name, post(server.url()));
    EXPECT_EQ(other.error,
              "destination denied: 127.0.0.1 is not in eventhooks.allowed_destinations");
    // Denied wins over allowed.
    HttpClient both(with_policy("localhost", "127.0.0.0/8, ::1"));
    EXPECT_EQ(send_one(both, post(localhost_url(server))).error.rfind("destination denied: ", 0),
              0u);
    EXPECT_EQ(server.request_count(), 2u);
}

// The check at socket opening alone would let this through: the connection is already open.
TEST(HttpDestinations, ReloadIsNotBypassedByACachedConnection) {
    LoopbackServer server;
    HttpClient client(eventhooks::testing::test_options());  // no lists at first
    EXPECT_EQ(send_one(client, post(server.url(), 1)).status, 200);
    EXPECT_EQ(server.accepted(), 1);  // a keep-alive connection now waits in curl's cache

    client.set_options(with_policy("", "127.0.0.0/8"));
    HttpResponse r = send_one(client, post(server.url(), 2));
    EXPECT_EQ(r.error,
              "destination denied: 127.0.0.1 matches \"127.0.0.0/8\" in "
              "eventhooks.denied_destinations");
    EXPECT_EQ(server.request_count(), 1u);  // nothing was sent on the cached connection

    // Allowed again: requests flow (on a new connection: the refused one was closed).
    client.set_options(with_policy("", ""));
    EXPECT_EQ(send_one(client, post(server.url(), 3)).status, 200);
    EXPECT_EQ(server.request_count(), 2u);
    EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpDestinations, RedirectIsAnswerNotFollowed) {
    LoopbackServer server([](const RecordedRequest &) {
        Reply reply;
        reply.status = 302;
        reply.headers.push_back("Location: http://169.254.169.254/latest/meta-data/");
        return reply;
    });
    HttpClient client(with_policy("", "169.254.0.0/16"));
    HttpResponse r = send_one(client, post(server.url()));
    EXPECT_TRUE(r.got_response);
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(server.request_count(), 1u);
}
