// http_client.cpp: libcurl multi-socket implementation of HttpClient (see http_client.hpp).
//
// Shape (curl's hiperfifo example, with epoll instead of libevent):
//   - CURLMOPT_SOCKETFUNCTION mirrors the sockets curl cares about into epoll_fd_;
//   - CURLMOPT_TIMERFUNCTION records when curl next wants to be called without socket activity;
//   - perform() asks epoll (without waiting) which sockets are ready and passes each to
//     curl_multi_socket_action, fires the timer when due, then reaps finished transfers.
// Easy handles are kept on an idle list and reused, so the per-request work is just a few
// setopt calls, and keep-alive connections in the multi handle's cache are reused.
#include "core/http_client.hpp"

#include "core/url_redaction.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace eventhooks::core {

namespace {

// Connections curl has open now (sockets made by on_open_socket, closed by on_close_socket):
// process-wide, because a cached connection outlives its request's Transfer, and is closed
// when the multi handle goes, after the client's members.
std::atomic<int64_t> open_connections{0};

using Clock = std::chrono::steady_clock;

// Connecting is given at most this long even when the whole request may take longer, so that an
// unreachable host fails fast instead of eating the whole budget.
constexpr long kMaxConnectTimeoutMs = 10000;
constexpr int kMaxEventsPerWait = 256;
// Past max_response_bytes, up to this much more body is read and thrown away, so that a response
// a little over the cap (or any body, with a cap of 0) leaves its connection reusable. Beyond
// it the client stops reading (see on_body).
constexpr size_t kDiscardBeforeClose = 65536;
// ... and for at most this long: a body that trickles in past the cap is not waited for (the
// answer is known; the slot is worth more than the connection).
constexpr auto kDiscardForAtMost = std::chrono::milliseconds(500);

// curl_global_init is not thread-safe and must run once per process; a function-local static
// gives us a thread-safe "once" without locks of our own.
CURLcode global_init_once() {
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    return rc;
}

CURLM *as_multi(void *m) { return static_cast<CURLM *>(m); }

bool starts_with_nocase(const char *s, size_t n, const char *prefix) {
    size_t len = std::strlen(prefix);
    if (n < len) return false;
    for (size_t i = 0; i < len; ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

bool contains_nocase(const std::string &hay, const char *needle) {
    auto it = std::search(hay.begin(), hay.end(), needle, needle + std::strlen(needle),
                          [](char a, char b) {
                              return std::tolower(static_cast<unsigned char>(a)) ==
                                     std::tolower(static_cast<unsigned char>(b));
                          });
    return it != hay.end();
}

std::string format_address(const struct sockaddr *sa) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (sa->sa_family == AF_INET) {
        auto *in = reinterpret_cast<const struct sockaddr_in *>(sa);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return buf;
    } else if (sa->sa_family == AF_INET6) {
        auto *in6 = reinterpret_cast<const struct sockaddr_in6 *>(sa);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) return buf;
    }
    return "address family " + std::to_string(sa->sa_family);
}

// "5", "0.5", "1.25": seconds as a person would write them.
std::string format_seconds(long ms) {
    if (ms % 1000 == 0) return std::to_string(ms / 1000);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
    std::string s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

std::string host_of(const std::string &url) {
    std::string host = url;
    CURLU *u = curl_url();
    if (!u) return host;
    char *h = nullptr;
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h) {
        host = h;
    }
    curl_free(h);
    curl_url_cleanup(u);
    return host;
}

}  // namespace

struct HttpClient::Transfer {
    CURL *easy = nullptr;
    uint64_t generation = 0;
    std::shared_ptr<const HttpClientOptions> options;  // those in force at submit()
    size_t active_index = 0;                           // position in HttpClient::active_

    // Request data curl points into (POSTFIELDS is not copied), so it must live here.
    std::string url;
    std::string body;
    long timeout_ms = 0;
    long connect_timeout_ms = 0;
    // The header list is rebuilt only when a request's headers differ from the previous
    // request's on this handle: the common case (same webhook headers) allocates nothing.
    std::vector<std::string> header_lines;
    curl_slist *header_list = nullptr;
    bool header_list_valid = false;

    HttpResponse response;
    size_t discarded = 0;  // body bytes past max_response_bytes, read and thrown away
    Clock::time_point truncated_at;  // when the body first went past max_response_bytes
    // The URL's host, for destination checks; recomputed only when the URL changes.
    std::string host;
    std::string host_url;
    std::string denied;  // why the destination check refused this attempt (empty: it did not)
    Clock::time_point started;
    char errbuf[CURL_ERROR_SIZE] = {0};

    Transfer() = default;
    Transfer(const Transfer &) = delete;
    Transfer &operator=(const Transfer &) = delete;
    // Callers remove the handle from the multi handle first.
    ~Transfer() {
        if (easy) curl_easy_cleanup(easy);
        curl_slist_free_all(header_list);
    }
};

// libcurl's C callbacks. Each is noexcept: an exception must never unwind through curl's C
// frames (and, further out, through Postgres).
struct CurlCallbacks {
    static int on_socket(CURL *, curl_socket_t s, int what, void *userp, void *socketp) noexcept {
        auto *self = static_cast<HttpClient *>(userp);
        if (what == CURL_POLL_REMOVE) {
            // Fails harmlessly if curl already closed the socket (the kernel dropped it then).
            epoll_ctl(self->epoll_fd_, EPOLL_CTL_DEL, s, nullptr);
            return 0;
        }
        struct epoll_event ev;
        std::memset(&ev, 0, sizeof ev);
        ev.data.fd = s;
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev.events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev.events |= EPOLLOUT;
        // socketp is non-null once we've added this socket (curl keeps it until REMOVE); it saves
        // a failed syscall on every change. The errno fallbacks cover fd numbers recycled behind
        // our back.
        int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        int rc = epoll_ctl(self->epoll_fd_, op, s, &ev);
        if (rc != 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
            rc = epoll_ctl(self->epoll_fd_, EPOLL_CTL_ADD, s, &ev);
        } else if (rc != 0 && op == EPOLL_CTL_ADD && errno == EEXIST) {
            rc = epoll_ctl(self->epoll_fd_, EPOLL_CTL_MOD, s, &ev);
        }
        if (rc == 0 && !socketp) curl_multi_assign(as_multi(self->multi_), s, self);
        return rc == 0 ? 0 : -1;
    }

    static int on_timer(CURLM *, long timeout_ms, void *userp) noexcept {
        auto *self = static_cast<HttpClient *>(userp);
        if (timeout_ms < 0) {
            self->timer_set_ = false;
        } else {
            self->timer_set_ = true;
            self->timer_deadline_ = Clock::now() + std::chrono::milliseconds(timeout_ms);
        }
        return 0;
    }

    static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) noexcept {
        auto *t = static_cast<HttpClient::Transfer *>(userp);
        size_t n = size * nmemb;
        std::string &body = t->response.body;
        size_t cap = t->options->max_response_bytes;
        size_t room = body.size() < cap ? cap - body.size() : 0;
        size_t keep = std::min(n, room);
        try {
            body.append(data, keep);
        } catch (...) {
            return 0;  // out of memory: let curl fail the transfer (CURLE_WRITE_ERROR)
        }
        if (keep == n) return n;
        // Past the cap: the status, the headers and max_response_bytes of body are all that is
        // kept, and the answer is known (finish() counts it as received, truncated). A little
        // more is read and dropped so that the connection stays reusable if the body ends soon;
        // beyond that the client stops reading instead of draining a 100 MB or endless body,
        // or waiting while one trickles in. The short count makes curl end the transfer
        // (CURLE_WRITE_ERROR) and close the connection.
        if (!t->response.body_truncated) t->truncated_at = Clock::now();
        t->response.body_truncated = true;
        t->discarded += n - keep;
        return t->discarded <= kDiscardBeforeClose ? n : 0;
    }

    // Called by curl at least once a second while a transfer runs: ends one whose body went
    // past the cap more than kDiscardForAtMost ago (CURLE_ABORTED_BY_CALLBACK; finish() counts
    // the answer as received, truncated).
    static int on_progress(void *userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
        auto *t = static_cast<HttpClient::Transfer *>(userp);
        return t->response.body_truncated && Clock::now() - t->truncated_at > kDiscardForAtMost;
    }

    static size_t on_header(char *data, size_t size, size_t nmemb, void *userp) noexcept {
        auto *t = static_cast<HttpClient::Transfer *>(userp);
        size_t n = size * nmemb;
        // A status line starts a new response (after a 1xx, say): only the final one counts.
        if (starts_with_nocase(data, n, "http/")) {
            t->response.retry_after.reset();
        } else if (starts_with_nocase(data, n, "retry-after:")) {
            const char *b = data + std::strlen("retry-after:");
            const char *e = data + n;
            while (b < e && (*b == ' ' || *b == '\t')) ++b;
            while (e > b && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) --e;
            try {
                t->response.retry_after.emplace(b, e);
            } catch (...) {
                return 0;
            }
        }
        return n;
    }

    // Runs for each resolved address, before any packet goes to it: a denied address (say
    // 169.254.169.254, or what a rebinding DNS answer points to) is never connected to.
    static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                        struct curl_sockaddr *address) noexcept {
        auto *t = static_cast<HttpClient::Transfer *>(clientp);
        if (purpose == CURLSOCKTYPE_IPCXN && t->options->destinations) {
            try {
                auto why =
                    t->options->destinations->refusal(t->host, &address->addr, address->addrlen);
                if (why) {
                    // A name may resolve to several addresses (localhost: ::1 and 127.0.0.1),
                    // each refused on its own: say why for each.
                    if (!t->denied.empty()) t->denied += "; ";
                    t->denied += *why;
                    return CURL_SOCKET_BAD;
                }
            } catch (...) {
                t->denied = format_address(&address->addr) + " (the check failed)";
                return CURL_SOCKET_BAD;  // a failing check must not open the door
            }
        }
        // CLOEXEC: a Postgres process may fork/exec (archive_command etc.); don't leak sockets.
        curl_socket_t fd =
            socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
        if (fd != CURL_SOCKET_BAD) open_connections.fetch_add(1, std::memory_order_relaxed);
        return fd;
    }

    // Every socket on_open_socket made comes back here when curl closes it.
    static int on_close_socket(void *, curl_socket_t fd) noexcept {
        open_connections.fetch_sub(1, std::memory_order_relaxed);
        return close(fd);
    }

    // Runs before each request is sent, on a new connection or one reused from the multi
    // handle's cache. on_open_socket alone would miss a cached connection made before a reload
    // that now denies its address; refused here, curl closes that connection too.
    static int on_prereq(void *clientp, char *primary_ip, char *, int, int) noexcept {
        auto *t = static_cast<HttpClient::Transfer *>(clientp);
        try {
            auto why = t->options->destinations->refusal(t->host, std::string_view(primary_ip));
            if (!why) return CURL_PREREQFUNC_OK;
            t->denied = std::move(*why);
        } catch (...) {
            t->denied = std::string(primary_ip) + " (the check failed)";
        }
        return CURL_PREREQFUNC_ABORT;
    }
};

int64_t open_connection_count() { return open_connections.load(std::memory_order_relaxed); }

bool curl_resolves_asynchronously() {
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info != nullptr && (info->features & CURL_VERSION_ASYNCHDNS) != 0;
}

HttpClient::HttpClient(HttpClientOptions options)
    : options_(std::make_shared<const HttpClientOptions>(std::move(options))) {
    if (global_init_once() != CURLE_OK) throw std::runtime_error("curl_global_init failed");
    // A synchronous resolver runs getaddrinfo inside curl_multi_socket_action: one webhook
    // whose DNS answers slowly would hold up every other request. Refuse rather than stall.
    if (!curl_resolves_asynchronously())
        throw std::runtime_error(
            "libcurl was built without an asynchronous resolver (CURL_VERSION_ASYNCHDNS); "
            "install a libcurl built with the threaded resolver or c-ares");
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
    }
    CURLM *m = curl_multi_init();
    if (!m) {
        close(epoll_fd_);
        throw std::runtime_error("curl_multi_init failed");
    }
    multi_ = m;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, &CurlCallbacks::on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, &CurlCallbacks::on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, this);
    // HTTP/1.1 only, one request per connection at a time: no pipelining, no multiplexing
    // (which would also make new requests wait to see whether a connection can multiplex).
    curl_multi_setopt(m, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    apply_multi_options();
    active_.reserve(128);
    idle_.reserve(128);
}

HttpClient::~HttpClient() {
    try {
        CURLM *m = as_multi(multi_);
        // Removing a handle may call on_socket (REMOVE); everything it touches is still alive.
        for (auto &t : active_) curl_multi_remove_handle(m, t->easy);
        active_.clear();
        idle_.clear();
        // Closes cached connections (again possibly through on_socket), so before epoll goes.
        curl_multi_cleanup(m);
        multi_ = nullptr;
    } catch (...) {
    }
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

void HttpClient::apply_multi_options() {
    long maxconn = std::max(1L, options_->max_total_connections);
    curl_multi_setopt(as_multi(multi_), CURLMOPT_MAXCONNECTS, maxconn);
}

void HttpClient::set_options(HttpClientOptions options) {
    options_ = std::make_shared<const HttpClientOptions>(std::move(options));
    ++generation_;
    options_set_at_ = Clock::now();
    // Idle handles carry the old per-handle settings (CA file, user agent, hook): drop them.
    // Their connections stay in the multi handle's cache; curl will not reuse a TLS
    // connection made under a different CA setting, and on_prereq checks a reused connection's
    // address against the new destination lists.
    idle_.clear();
    apply_multi_options();
}

size_t HttpClient::in_flight() const { return active_.size(); }

int HttpClient::wait_fd() const { return epoll_fd_; }

long HttpClient::timeout_ms() const {
    if (!timer_set_) return -1;
    auto left = timer_deadline_ - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    // Round up so that a caller sleeping this long finds the timer due, not 1 ms early.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return static_cast<long>(ms);
}

void HttpClient::fail_submit(uint64_t tag, std::string error) {
    HttpResponse r;
    r.tag = tag;
    r.error = std::move(error);
    completed_.push_back(std::move(r));
}

void HttpClient::submit(HttpRequest request) {
    std::unique_ptr<Transfer> t;
    if (!idle_.empty()) {
        t = std::move(idle_.back());
        idle_.pop_back();
    } else {
        t = std::make_unique<Transfer>();
        t->easy = curl_easy_init();
        if (!t->easy) return fail_submit(request.tag, "could not create a curl handle");
        t->generation = generation_;
        t->options = options_;
        CURL *e = t->easy;
        const HttpClientOptions &o = *options_;
        // Settings fixed for the handle's life (a new generation gets new handles).
        curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
        // We live in a Postgres process: signals belong to Postgres, curl must not use them.
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        // A redirect is the receiver's answer, recorded as a status, not something to chase
        // (chasing would also bypass destination checks done on the configured URL).
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        // Environment proxies would make the destination check see the proxy instead of the
        // destination, and a Postgres server's environment is rarely meant for this.
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());
        if (!o.user_agent.empty()) curl_easy_setopt(e, CURLOPT_USERAGENT, o.user_agent.c_str());
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        // A request whose name resolution outlives its connect timeout: without QUICK_EXIT,
        // libcurl's threaded resolver joins the getaddrinfo thread when the transfer ends,
        // inside curl_multi_socket_action, and every other request waits for the slow DNS
        // answer (seconds to tens of seconds). With it the thread is detached and ends on
        // its own when getaddrinfo returns.
        curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlCallbacks::on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, &CurlCallbacks::on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, t.get());
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlCallbacks::on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
        // Sockets are opened and closed by us, also to count them (open_connection_count).
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlCallbacks::on_open_socket);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlCallbacks::on_close_socket);
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, nullptr);
        if (o.destinations) {
            curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, &CurlCallbacks::on_prereq);
            curl_easy_setopt(e, CURLOPT_PREREQDATA, t.get());
        }
        curl_easy_setopt(e, CURLOPT_POST, 1L);
    }

    // Per-request settings. Moves, not copies: the strings' buffers come from the caller.
    t->url = std::move(request.url);
    t->body = std::move(request.body);
    t->timeout_ms = request.timeout_ms > 0 ? request.timeout_ms : 0;
    t->connect_timeout_ms =
        t->timeout_ms > 0 ? std::min(t->timeout_ms, kMaxConnectTimeoutMs) : kMaxConnectTimeoutMs;
    if (!t->header_list_valid || t->header_lines != request.headers) {
        curl_slist_free_all(t->header_list);
        t->header_list = nullptr;
        t->header_list_valid = false;
        t->header_lines = std::move(request.headers);
        curl_slist *list = nullptr;
        bool ok = true;
        for (const auto &h : t->header_lines) {
            curl_slist *next = curl_slist_append(list, h.c_str());
            if (!next) {
                ok = false;
                break;
            }
            list = next;
        }
        // An empty "Expect:" stops curl from sending "Expect: 100-continue" for large bodies,
        // which costs a round trip (or a 1 s stall with servers that ignore it).
        curl_slist *next = ok ? curl_slist_append(list, "Expect:") : nullptr;
        if (!next) {
            curl_slist_free_all(list);
            uint64_t tag = request.tag;
            release(std::move(t));
            return fail_submit(tag, "out of memory building request headers");
        }
        t->header_list = next;
        t->header_list_valid = true;
    }
    t->response = HttpResponse{};
    t->response.tag = request.tag;
    t->discarded = 0;
    t->denied.clear();
    if (t->options->destinations && t->host_url != t->url) {
        t->host = host_of(t->url);
        t->host_url = t->url;
    }
    t->errbuf[0] = '\0';

    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
    // Size first: setting POSTFIELDSIZE after POSTFIELDS could drop the fields pointer.
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075700
    // curl (7.87+) keeps the CA store it built in the multi handle for CA_CACHE_TIMEOUT (24 h)
    // and tells stores apart only by the CA file's path: a bundle replaced in place (a rotated
    // private CA, update-ca-certificates) would go unseen after a reload. A timeout of "seconds
    // since the options were set" makes a store built before the reload count as expired (in
    // the first second it is 0: not cached at all).
    auto since_reload =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - options_set_at_);
    curl_easy_setopt(
        e, CURLOPT_CA_CACHE_TIMEOUT,
        static_cast<long>(std::min<std::chrono::seconds::rep>(since_reload.count(), 86400)));
#endif
    start_transfer(std::move(t));
}

void HttpClient::start_transfer(std::unique_ptr<Transfer> t) {
    // Room for this transfer's response now, so that finish() cannot fail to queue it.
    size_t need = completed_.size() + active_.size() + 1;
    if (completed_.capacity() < need) completed_.reserve(std::max(need, 2 * completed_.capacity()));
    Transfer *raw = t.get();
    raw->started = Clock::now();
    raw->active_index = active_.size();
    active_.push_back(std::move(t));
    CURLMcode mc = curl_multi_add_handle(as_multi(multi_), raw->easy);
    if (mc != CURLM_OK) {
        uint64_t tag = raw->response.tag;
        std::unique_ptr<Transfer> back = std::move(active_.back());
        active_.pop_back();
        release(std::move(back));
        return fail_submit(tag, std::string("could not start request: ") + curl_multi_strerror(mc));
    }
    // Adding only arms a 0 ms timer; fire it now so the connect starts at once instead of on
    // the caller's next perform(). This runs only timers that are due, not every transfer.
    timer_set_ = false;
    int running = 0;
    curl_multi_socket_action(as_multi(multi_), CURL_SOCKET_TIMEOUT, 0, &running);
    ensure_timer();
    collect_done();
}

void HttpClient::ensure_timer() {
    // curl calls on_timer only when its next expiry differs from the one it last reported, so
    // after we clear ours it may stay silent. Ask directly rather than be left without a timer
    // while transfers run (they would then depend on socket activity to ever time out).
    if (timer_set_ || active_.empty()) return;
    long t = -1;
    if (curl_multi_timeout(as_multi(multi_), &t) == CURLM_OK && t >= 0) {
        timer_set_ = true;
        timer_deadline_ = Clock::now() + std::chrono::milliseconds(t);
    }
}

void HttpClient::release(std::unique_ptr<Transfer> t) {
    // Handles from before a set_options() are dropped instead of reused: they carry old settings.
    if (t->generation != generation_) return;
    // Keep the request's big buffers from lingering: the body can be large.
    if (t->body.capacity() > 65536) std::string().swap(t->body);
    idle_.push_back(std::move(t));
}

void HttpClient::perform() {
    CURLM *m = as_multi(multi_);
    int running = 0;
    struct epoll_event events[kMaxEventsPerWait];
    // A few rounds at most: level-triggered sockets curl left unread would come back forever.
    for (int round = 0; round < 4; ++round) {
        int n = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
            int flags = 0;
            if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
            if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
            // A socket closed by an earlier action in this batch is unknown to curl by now;
            // curl ignores such stray actions.
            curl_multi_socket_action(m, events[i].data.fd, flags, &running);
        }
        if (n < kMaxEventsPerWait) break;
    }
    if (timer_set_ && Clock::now() >= timer_deadline_) {
        // Cleared first: curl reports a new deadline through on_timer if it has one.
        timer_set_ = false;
        curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    ensure_timer();
    collect_done();
}

void HttpClient::collect_done() {
    CURLM *m = as_multi(multi_);
    int left = 0;
    while (CURLMsg *msg = curl_multi_info_read(m, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Transfer *t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        if (!t) continue;
        finish(t, static_cast<int>(msg->data.result));
    }
}

void HttpClient::finish(Transfer *t, int code_int) {
    auto code = static_cast<CURLcode>(code_int);
    HttpResponse &r = t->response;
    r.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t->started).count();
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    std::string detail = t->errbuf;
    // Once the body reached the cap (body_truncated) the answer is known: whatever ended the
    // transfer after that (on_body stopping it, the server closing, the timeout while the rest
    // was being dropped) concerns only the discarded rest.
    if ((code == CURLE_OK || r.body_truncated) && status > 0) {
        r.got_response = true;
        r.status = status;
    } else {
        r.got_response = false;
        r.status = 0;
        r.retry_after.reset();
        auto with_detail = [&](std::string words) {
            if (!detail.empty()) words += ": " + detail;
            return words;
        };
        // Whether the request went out: curl reuses some error codes for broken answers.
        auto request_sent = [&] {
            long bytes = 0;
            curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &bytes);
            return bytes > 0;
        };
        if (!t->denied.empty()) {
            r.error = "destination denied: " + t->denied;
        } else {
            switch (code) {
                case CURLE_OK:
                    r.error = "no HTTP response received";
                    break;
                case CURLE_COULDNT_CONNECT:
                    r.error = "connection refused";
                    if (!detail.empty() && !contains_nocase(detail, "refused") &&
                        !contains_nocase(detail, "couldn't connect to server")) {
                        r.error += " (" + detail + ")";
                    }
                    break;
                case CURLE_OPERATION_TIMEDOUT: {
                    curl_off_t connect_us = 0;
                    curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
                    if (connect_us == 0 && t->connect_timeout_ms < t->timeout_ms &&
                        r.elapsed_ms < static_cast<double>(t->timeout_ms)) {
                        r.error = "timed out after " + format_seconds(t->connect_timeout_ms) +
                                  " s while connecting";
                    } else if (t->timeout_ms > 0) {
                        r.error = "timed out after " + format_seconds(t->timeout_ms) + " s";
                    } else {
                        r.error = with_detail("timed out");
                    }
                    break;
                }
                case CURLE_PEER_FAILED_VERIFICATION:
                    r.error = with_detail("TLS certificate verify failed");
                    break;
                case CURLE_SSL_CACERT_BADFILE:
                    r.error = with_detail("TLS certificate verify failed: could not load CA file");
                    break;
                case CURLE_SSL_CONNECT_ERROR:
                    r.error = with_detail("TLS handshake failed");
                    break;
                case CURLE_COULDNT_RESOLVE_HOST:
                    r.error = "could not resolve host \"" + host_of(t->url) + "\"";
                    break;
                case CURLE_GOT_NOTHING:
                    r.error = "connection closed by server";
                    break;
                case CURLE_RECV_ERROR:
                    // curl also ends a header section that never ends (over its size limit)
                    // with a receive error; that is the server's answer being broken, not a
                    // closed connection. No error code tells it apart, only the message.
                    if (contains_nocase(detail, "too large") ||
                        contains_nocase(detail, "too long")) {
                        r.error = with_detail("invalid HTTP response");
                        break;
                    }
                    r.error = "connection closed by server";
                    if (!detail.empty()) r.error += " (" + detail + ")";
                    break;
                case CURLE_SEND_ERROR:
                    r.error = with_detail("connection lost while sending");
                    break;
                case CURLE_PARTIAL_FILE:
                    r.error = "connection closed by server before the response was complete";
                    break;
                case CURLE_OUT_OF_MEMORY: {
                    // This libcurl (7.88) also ends a response header line that never ends
                    // (over its 100 kB line limit) with "out of memory"; once the request went
                    // out, that is by far the likelier cause.
                    r.error =
                        request_sent()
                            ? "invalid HTTP response: a header line too long (or out of memory)"
                            : with_detail("out of memory");
                    break;
                }
                case CURLE_WEIRD_SERVER_REPLY:
                    r.error = with_detail("invalid HTTP response");
                    break;
                case CURLE_URL_MALFORMAT:
                    r.error = with_detail("invalid URL \"" + t->url + "\"");
                    break;
                case CURLE_UNSUPPORTED_PROTOCOL: {
                    // curl reports a reply without a valid status line as HTTP/0.9, which it
                    // refuses with this code too; a request that went out had a good scheme.
                    if (request_sent()) {
                        r.error = "invalid HTTP response: no HTTP status line";
                        break;
                    }
                    r.error =
                        "unsupported protocol in URL \"" + t->url + "\" (only http and https)";
                    break;
                }
                default: {
                    std::string words = curl_easy_strerror(code);
                    if (!detail.empty() && detail != words) words += ": " + detail;
                    r.error = std::move(words);
                    break;
                }
            }
        }
        if (status > 0 && code != CURLE_OK) {
            r.error += " (response incomplete after HTTP status " + std::to_string(status) + ")";
        }
        // The error goes to the server log, the invocation log and worker_status: never with
        // the URL's credentials (curl's own messages may quote the URL or its userinfo).
        r.error = redact_credentials(r.error, t->url);
    }
    completed_.push_back(std::move(r));

    curl_multi_remove_handle(as_multi(multi_), t->easy);
    // Swap-remove from active_: O(1), the moved transfer learns its new index.
    size_t i = t->active_index;
    std::unique_ptr<Transfer> owned = std::move(active_[i]);
    if (i + 1 != active_.size()) {
        active_[i] = std::move(active_.back());
        active_[i]->active_index = i;
    }
    active_.pop_back();
    release(std::move(owned));
}

std::vector<HttpResponse> HttpClient::take_completed() {
    if (completed_.empty()) return {};  // the common idle poll: allocate nothing
    std::vector<HttpResponse> out;
    out.swap(completed_);
    // Give the queue its capacity back so steady state doesn't regrow it from zero each time.
    completed_.reserve(out.capacity());
    return out;
}

bool HttpClient::wait(long max_ms) {
    if (completed_.empty() && !active_.empty()) {
        long t = timeout_ms();
        long wait_ms = max_ms < 0 ? t : (t < 0 ? max_ms : std::min(max_ms, t));
        struct pollfd p;
        p.fd = epoll_fd_;
        p.events = POLLIN;
        p.revents = 0;
        int rc = poll(&p, 1, static_cast<int>(std::min<long>(wait_ms, 1L << 30)));
        (void)rc;  // EINTR or timeout: perform() below is harmless either way
    }
    perform();
    return !completed_.empty();
}

}  // namespace eventhooks::core
