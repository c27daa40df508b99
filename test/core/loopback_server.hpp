// loopback_server.hpp: a small real HTTP/1.1 server on 127.0.0.1 for unit tests of the HTTP
// client. Real sockets rather than mocks, so that keep-alive, connection reuse, timeouts and
// broken connections behave as they do in production.
//
// One thread accepts; one thread serves each connection (simple, and plenty for a few hundred
// connections). Requests are parsed (request line, headers, Content-Length body), recorded,
// and answered by a handler that picks status, headers, body, a delay, or a hang-up.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace eventhooks::testing {

struct RecordedRequest {
    std::string method;
    std::string target;
    std::string version;
    std::vector<std::pair<std::string, std::string>> headers;  // in arrival order, as sent
    std::string body;
    int connection = 0;  // 1-based number of the connection it arrived on

    static std::string lower(std::string s) {
        for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }
    // Value of the first header with this name (case-insensitive).
    std::optional<std::string> header(const std::string &name) const {
        for (const auto &h : headers) {
            if (lower(h.first) == lower(name)) return h.second;
        }
        return std::nullopt;
    }
    size_t header_count(const std::string &name) const {
        return static_cast<size_t>(std::count_if(headers.begin(), headers.end(), [&](auto &h) {
            return lower(h.first) == lower(name);
        }));
    }
};

struct Reply {
    int status = 200;
    std::string body = "ok";
    std::vector<std::string> headers;   // extra "Name: value" lines
    int delay_ms = 0;                   // wait before answering
    bool close_without_answer = false;  // hang up instead of answering
    bool close_after = false;           // answer, then close (Connection: close)
    std::string preamble;               // raw bytes sent first, e.g. an interim 1xx response
};

class LoopbackServer {
  public:
    using Handler = std::function<Reply(const RecordedRequest &)>;

    explicit LoopbackServer(Handler handler = nullptr, bool record = true)
        : handler_(std::make_shared<Handler>(std::move(handler))), record_(record) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) throw std::runtime_error("socket failed");
        int one = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        if (bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            listen(listen_fd_, 512) != 0) {
            close(listen_fd_);
            throw std::runtime_error("bind/listen failed");
        }
        socklen_t len = sizeof addr;
        getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~LoopbackServer() {
        stop_ = true;
        acceptor_.join();
        std::vector<std::thread> threads;
        {
            std::lock_guard<std::mutex> lock(mu_);
            threads.swap(conn_threads_);
        }
        for (auto &t : threads) t.join();
        close(listen_fd_);
    }

    LoopbackServer(const LoopbackServer &) = delete;
    LoopbackServer &operator=(const LoopbackServer &) = delete;

    uint16_t port() const { return port_; }
    std::string url(const std::string &path = "/") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    int accepted() const { return accepted_.load(); }
    int open_connections() const { return open_.load(); }
    size_t request_count() const { return served_.load(); }
    std::vector<RecordedRequest> requests() const {
        std::lock_guard<std::mutex> lock(mu_);
        return requests_;
    }
    void set_handler(Handler h) {
        std::lock_guard<std::mutex> lock(mu_);
        handler_ = std::make_shared<Handler>(std::move(h));
    }

    // A port on 127.0.0.1 that nothing listens on: bind to port 0, note the port, close.
    static uint16_t closed_port() {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
        close(fd);
        return ntohs(addr.sin_port);
    }

  private:
    static const char *reason(int status) {
        switch (status) {
            case 200:
                return "OK";
            case 201:
                return "Created";
            case 204:
                return "No Content";
            case 302:
                return "Found";
            case 400:
                return "Bad Request";
            case 404:
                return "Not Found";
            case 429:
                return "Too Many Requests";
            case 500:
                return "Internal Server Error";
            case 503:
                return "Service Unavailable";
            default:
                return "Status";
        }
    }

    // Waits `ms` before answering, in small steps so that the destructor never waits for a long
    // delay to end. Returns false early if the client hangs up meanwhile (so open_connections()
    // shows clients closing their sockets even while a reply is pending).
    bool delay(int fd, int ms) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!stop_ && std::chrono::steady_clock::now() < end) {
            pollfd p{fd, POLLRDHUP, 0};
            if (poll(&p, 1, 5) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return false;
        }
        return !stop_;
    }

    void accept_loop() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            int id = ++accepted_;
            ++open_;
            std::lock_guard<std::mutex> lock(mu_);
            conn_threads_.emplace_back([this, fd, id] {
                serve(fd, id);
                close(fd);
                --open_;
            });
        }
    }

    bool send_all(int fd, const std::string &data) {
        size_t off = 0;
        while (off < data.size()) {
            ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            off += static_cast<size_t>(n);
        }
        return true;
    }

    // Reads until `buf` holds one complete request; false on EOF, error or shutdown.
    bool read_request(int fd, std::string &buf, RecordedRequest &req) {
        char chunk[65536];
        size_t header_end = std::string::npos;
        size_t content_length = 0;
        for (;;) {
            if (header_end == std::string::npos) {
                header_end = buf.find("\r\n\r\n");
                if (header_end != std::string::npos) {
                    parse_head(buf.substr(0, header_end), req);
                    auto cl = req.header("Content-Length");
                    content_length = cl ? std::stoul(*cl) : 0;
                }
            }
            if (header_end != std::string::npos && buf.size() >= header_end + 4 + content_length) {
                req.body = buf.substr(header_end + 4, content_length);
                buf.erase(0, header_end + 4 + content_length);
                return true;
            }
            pollfd p{fd, POLLIN, 0};
            int rc = poll(&p, 1, 20);
            if (stop_) return false;
            if (rc <= 0) continue;
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            buf.append(chunk, static_cast<size_t>(n));
        }
    }

    static void parse_head(const std::string &head, RecordedRequest &req) {
        size_t pos = 0;
        bool first = true;
        while (pos <= head.size()) {
            size_t eol = head.find("\r\n", pos);
            if (eol == std::string::npos) eol = head.size();
            std::string line = head.substr(pos, eol - pos);
            pos = eol + 2;
            if (first) {
                first = false;
                size_t a = line.find(' ');
                size_t b = line.find(' ', a + 1);
                req.method = line.substr(0, a);
                req.target = line.substr(a + 1, b - a - 1);
                req.version = line.substr(b + 1);
                continue;
            }
            size_t colon = line.find(':');
            if (colon == std::string::npos) continue;
            size_t v = colon + 1;
            while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
            req.headers.emplace_back(line.substr(0, colon), line.substr(v));
        }
    }

    void serve(int fd, int conn_id) {
        std::string buf;
        while (!stop_) {
            RecordedRequest req;
            req.connection = conn_id;
            if (!read_request(fd, buf, req)) return;
            std::shared_ptr<Handler> handler;
            {
                std::lock_guard<std::mutex> lock(mu_);
                handler = handler_;
                if (record_) requests_.push_back(req);
            }
            Reply reply = *handler ? (*handler)(req) : Reply{};
            ++served_;
            if (reply.delay_ms > 0 && !delay(fd, reply.delay_ms)) return;
            if (stop_ || reply.close_without_answer) return;
            std::string out = reply.preamble;
            out += "HTTP/1.1 " + std::to_string(reply.status) + " " + reason(reply.status) + "\r\n";
            out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
            for (const auto &h : reply.headers) out += h + "\r\n";
            if (reply.close_after) out += "Connection: close\r\n";
            out += "\r\n";
            out += reply.body;
            if (!send_all(fd, out) || reply.close_after) return;
        }
    }

    std::shared_ptr<Handler> handler_;
    const bool record_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::atomic<int> open_{0};
    std::atomic<size_t> served_{0};
    mutable std::mutex mu_;
    std::vector<RecordedRequest> requests_;
    std::vector<std::thread> conn_threads_;
    std::thread acceptor_;
};

}  // namespace eventhooks::testing
