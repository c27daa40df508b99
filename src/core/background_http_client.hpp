// background_http_client.hpp: HttpClient driven by a thread of its own.
//
// The delivery worker alternates between SQL (record results, claim the next batch) and
// HTTP. With HttpClient in its own loop, requests make no progress while the worker runs SQL,
// and the SQL waits while it drives curl: a drain costs the sum of both. This class runs the
// HttpClient in one background thread, so sending and bookkeeping overlap on two cores.
//
// The thread touches nothing but the HttpClient (libcurl, sockets, epoll, C++ containers):
// no Postgres API, no palloc, no signals (it blocks them all, so they reach the main thread).
// The caller submits and takes responses as with HttpClient, but drives nothing: wait_fd() is an
// eventfd that becomes readable when responses are ready to take.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/http_client.hpp"

namespace eventhooks::core {

class BackgroundHttpClient {
  public:
    // Throws std::runtime_error if curl, epoll, the eventfds or the thread cannot be set up.
    explicit BackgroundHttpClient(HttpClientOptions options);
    ~BackgroundHttpClient();  // stops the thread, aborts everything in flight; never throws
    BackgroundHttpClient(const BackgroundHttpClient &) = delete;
    BackgroundHttpClient &operator=(const BackgroundHttpClient &) = delete;

    // Hands the request to the thread; never blocks on the network.
    void submit(HttpRequest request);
    // Submitted and not yet returned by take_completed().
    size_t in_flight() const { return in_flight_; }

    // Readable while responses wait in take_completed().
    int wait_fd() const { return completion_fd_; }
    // Responses finished since the last call, in completion order. Throws std::runtime_error
    // if the thread stopped on an error (it then sends nothing more).
    std::vector<HttpResponse> take_completed();
    // For tests and tools: waits up to max_ms (< 0: no limit) for responses; true if some
    // are waiting.
    bool wait(long max_ms);

    // Applies to requests submitted afterwards (SIGHUP reload); in-flight ones keep theirs.
    void set_options(HttpClientOptions options);

    // Holds the thread between two steps of its loop, so that the caller can run code that is
    // not thread-safe in libc (Postgres's config reload calls setlocale() and setenv(), which
    // the thread's getenv() and curl's locale-dependent calls must not race). Requests in
    // flight wait meanwhile; keep the pause short.
    void pause();
    void resume();

    // Stops the thread (idempotent; the destructor calls it). For exit paths that never run
    // the destructor: a Postgres process leaving through proc_exit() must not exit() while
    // the thread is inside libcurl or OpenSSL, whose atexit handlers free what it uses.
    void stop() noexcept;

  private:
    void run() noexcept;  // the thread
    void wake_thread();

    std::unique_ptr<HttpClient> client_;  // used by the thread only, once it started
    int completion_fd_ = -1;              // eventfd: thread -> caller, responses ready
    int wake_fd_ = -1;                    // eventfd: caller -> thread, work queued
    size_t in_flight_ = 0;                // caller's side only

    std::mutex mutex_;  // guards the members below
    std::condition_variable changed_;  // paused_, parked_ or stopping_ changed
    std::vector<HttpRequest> submitted_;
    std::optional<HttpClientOptions> new_options_;
    std::vector<HttpResponse> completed_;
    bool stopping_ = false;
    bool paused_ = false;  // the caller asked the thread to hold
    bool parked_ = false;  // the thread holds (or has exited)
    char thread_error_[256] = {};  // set when the thread stopped on an error (no allocation)

    std::thread thread_;  // last: started once everything above exists
};

}  // namespace eventhooks::core
