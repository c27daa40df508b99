// http_client.hpp: non-blocking HTTP POST client for the delivery worker.
//
// Built on libcurl's multi "socket" interface (the hiperfifo pattern): curl tells us which
// sockets it wants watched and when its next timer is due; we keep those sockets in our own
// epoll fd so that the Postgres worker can wait on that single fd (next to its latch) in its
// WaitEventSet. The client never blocks, starts no threads of its own and never touches
// Postgres: it is plain C++17 so it can be unit-tested without a server.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/destination_policy.hpp"

namespace eventhooks::core {

struct HttpRequest {
    uint64_t tag = 0;                  // caller's id, echoed in the response
    std::string url;                   // http:// or https:// only
    std::vector<std::string> headers;  // complete "Name: value" lines
    std::string body;                  // POST body (binary safe)
    long timeout_ms = 60000;           // whole-request timeout; <= 0 means none
};

struct HttpResponse {
    uint64_t tag = 0;
    // True when a complete HTTP response (any status) was received. A response that started
    // (status line seen) but broke off before its end counts as a transport error: the
    // receiver's answer is unknown, and at-least-once delivery prefers a retry. A body longer
    // than max_response_bytes is the exception: the answer is known once the cap is reached, so
    // the response counts as received, with body_truncated, however the rest ends. The client
    // reads at most 64 kB of that rest (keeping a connection reusable when the body ends soon),
    // then stops reading and closes the connection instead of draining a huge or endless body.
    bool got_response = false;
    long status = 0;                         // HTTP status, 0 when !got_response
    std::string body;                        // capped at max_response_bytes
    bool body_truncated = false;             // the rest was not read (not an error)
    std::optional<std::string> retry_after;  // raw Retry-After value of the final response
    std::string error;                       // when !got_response: transport error in plain words
    double elapsed_ms = 0;                   // from submit() to completion
};

struct HttpClientOptions {
    size_t max_response_bytes = 65536;
    std::string ca_file;               // empty = system CA store
    std::string user_agent;            // sent as User-Agent (unless a request header sets one)
    long max_total_connections = 100;  // size of curl's connection cache (CURLMOPT_MAXCONNECTS)
    // Destination check (SPEC §6): if set, each address curl is about to connect to is checked
    // (with the URL's host) before a socket is opened for it, and the peer of the connection a
    // request is sent on is checked again just before sending, so that a keep-alive connection
    // cached before a reload that denies its address is not reused. A refusal fails the
    // attempt with "destination denied: <why>". Immutable: shared with the client's thread.
    std::shared_ptr<const DestinationPolicy> destinations;
};

// Whether this libcurl resolves names off the calling thread (CURL_VERSION_ASYNCHDNS: the
// threaded resolver or c-ares). Without it one slow DNS answer would stop every request.
bool curl_resolves_asynchronously();

// Connections libcurl has open in this process now (in use or kept alive in a client's cache),
// counted by the clients' open/close socket callbacks. Safe from any thread.
int64_t open_connection_count();

class HttpClient {
  public:
    // Throws std::runtime_error if curl or epoll cannot be set up, or if libcurl's resolver is
    // synchronous (see curl_resolves_asynchronously). Name resolution counts against a
    // request's connect timeout (at most 10 s, and never more than the request's timeout).
    explicit HttpClient(HttpClientOptions options);
    ~HttpClient();  // aborts everything in flight, frees all; never throws
    HttpClient(const HttpClient &) = delete;
    HttpClient &operator=(const HttpClient &) = delete;

    // Starts a request now; never blocks. Setup failures (e.g. out of curl handles) do not
    // throw: they come back from take_completed() as a response with an error.
    void submit(HttpRequest request);
    size_t in_flight() const;

    // An epoll fd that becomes readable whenever a curl socket has the activity curl asked for.
    // Add it to the caller's wait set; then call perform().
    int wait_fd() const;
    // Milliseconds until perform() must be called even without fd activity; -1: no timer.
    long timeout_ms() const;
    // Non-blocking: handles ready sockets and a due timer, and collects finished transfers.
    void perform();
    // Responses finished since the last call, in completion order.
    std::vector<HttpResponse> take_completed();
    // For tests and tools: waits on wait_fd() for up to min(max_ms, timeout_ms()), then
    // perform(). Returns true if completed responses are waiting in take_completed().
    bool wait(long max_ms);

    // Applies to requests submitted afterwards (SIGHUP reload); in-flight ones keep theirs.
    void set_options(HttpClientOptions options);

  private:
    struct Transfer;  // per-request state, reused across requests (defined in the .cpp)

    void start_transfer(std::unique_ptr<Transfer> t);
    void collect_done();
    void ensure_timer();
    void finish(Transfer *t, int curl_code);
    void fail_submit(uint64_t tag, std::string error);
    void release(std::unique_ptr<Transfer> t);
    void apply_multi_options();

    friend struct CurlCallbacks;  // curl's C callbacks (in the .cpp) reach the members below

    // When set_options last ran (see CURLOPT_CA_CACHE_TIMEOUT in submit()).
    std::chrono::steady_clock::time_point options_set_at_ = std::chrono::steady_clock::now();
    std::shared_ptr<const HttpClientOptions> options_;
    uint64_t generation_ = 0;  // bumped by set_options; stale idle handles are not reused
    void *multi_ = nullptr;    // CURLM*, kept opaque so this header needs no curl.h
    int epoll_fd_ = -1;
    bool timer_set_ = false;
    std::chrono::steady_clock::time_point timer_deadline_;
    std::vector<std::unique_ptr<Transfer>> active_;  // in flight; Transfer knows its index
    std::vector<std::unique_ptr<Transfer>> idle_;    // finished, easy handle ready for reuse
    std::vector<HttpResponse> completed_;
};

}  // namespace eventhooks::core
