// background_http_client.cpp: see background_http_client.hpp.
#include "core/background_http_client.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace eventhooks::core {

namespace {

void signal_eventfd(int fd) {
    uint64_t one = 1;
    // Only fails (EAGAIN) when the counter is about to overflow: it is readable then anyway.
    ssize_t written = write(fd, &one, sizeof(one));
    (void)written;
}

void reset_eventfd(int fd) {
    uint64_t count;
    ssize_t got = read(fd, &count, sizeof(count));  // EAGAIN when it was not signalled
    (void)got;
}

int make_eventfd() {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) throw std::runtime_error(std::string("eventfd failed: ") + std::strerror(errno));
    return fd;
}

}  // namespace

BackgroundHttpClient::BackgroundHttpClient(HttpClientOptions options) {
    // cppcheck-suppress useInitializationList ; acquired in order with cleanup below
    client_ = std::make_unique<HttpClient>(std::move(options));
    completion_fd_ = make_eventfd();
    try {
        wake_fd_ = make_eventfd();
        // The thread inherits the signal mask in force when it is created: with every signal
        // blocked there, the process's signals (SIGTERM, SIGHUP, latch wake-ups) are handled
        // by the main thread only, as Postgres expects.
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);
        try {
            thread_ = std::thread(&BackgroundHttpClient::run, this);
        } catch (...) {
            pthread_sigmask(SIG_SETMASK, &previous, nullptr);
            throw;
        }
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    } catch (...) {
        close(completion_fd_);
        if (wake_fd_ >= 0) close(wake_fd_);
        throw;
    }
}

BackgroundHttpClient::~BackgroundHttpClient() {
    stop();
    client_.reset();  // aborts whatever is still in flight
    close(completion_fd_);
    close(wake_fd_);
}

void BackgroundHttpClient::stop() noexcept {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    wake_thread();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void BackgroundHttpClient::pause() {
    std::unique_lock<std::mutex> lock(mutex_);
    paused_ = true;
    wake_thread();  // out of epoll_wait, to the top of its loop, where it parks
    changed_.wait(lock, [this] { return parked_; });
}

void BackgroundHttpClient::resume() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = false;
    }
    changed_.notify_all();
}

void BackgroundHttpClient::wake_thread() { signal_eventfd(wake_fd_); }

void BackgroundHttpClient::submit(HttpRequest request) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        submitted_.push_back(std::move(request));
    }
    in_flight_++;
    wake_thread();
}

std::vector<HttpResponse> BackgroundHttpClient::take_completed() {
    // Reset first: responses the thread adds after the swap below signal the fd again.
    reset_eventfd(completion_fd_);
    std::vector<HttpResponse> taken;
    std::string error;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        taken.swap(completed_);
        error = thread_error_;
    }
    // Responses that made it out are returned first: they are attempts to record.
    if (taken.empty() && !error.empty())
        throw std::runtime_error("HTTP client thread stopped: " + error);
    in_flight_ -= taken.size();
    return taken;
}

bool BackgroundHttpClient::wait(long max_ms) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!completed_.empty()) return true;
    }
    struct pollfd fd = {completion_fd_, POLLIN, 0};
    (void)poll(&fd, 1, static_cast<int>(max_ms < 0 ? -1 : max_ms));
    std::lock_guard<std::mutex> lock(mutex_);
    return !completed_.empty();
}

void BackgroundHttpClient::set_options(HttpClientOptions options) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        new_options_ = std::move(options);
    }
    wake_thread();
}

void BackgroundHttpClient::run() noexcept {
    int epoll_fd = -1;
    try {
        epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd < 0)
            throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
        for (int fd : {wake_fd_, client_->wait_fd()}) {
            struct epoll_event watch = {};
            watch.events = EPOLLIN;
            watch.data.fd = fd;
            if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &watch) != 0)
                throw std::runtime_error(std::string("epoll_ctl failed: ") + std::strerror(errno));
        }
        std::vector<HttpRequest> requests;
        std::optional<HttpClientOptions> options;
        std::vector<HttpResponse> done;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(mutex_);
                if (paused_ && !stopping_) {
                    parked_ = true;
                    changed_.notify_all();
                    changed_.wait(lock, [this] { return !paused_ || stopping_; });
                    parked_ = false;
                }
                if (stopping_) break;
                requests.swap(submitted_);
                options.swap(new_options_);
            }
            if (options) client_->set_options(std::move(*options));
            options.reset();
            for (auto &request : requests) client_->submit(std::move(request));
            requests.clear();
            client_->perform();
            done = client_->take_completed();
            if (!done.empty()) {
                {
                    std::lock_guard<std::mutex> lock(mutex_);
                    for (auto &response : done) completed_.push_back(std::move(response));
                }
                done.clear();
                signal_eventfd(completion_fd_);
            }
            // Sleep until a socket or curl's timer needs us, or the caller queued work (a
            // submit after the swap above has already signalled wake_fd_: no lost wake-up).
            struct epoll_event ready[2];
            int n = epoll_wait(epoll_fd, ready, 2, static_cast<int>(client_->timeout_ms()));
            if (n < 0 && errno != EINTR)
                throw std::runtime_error(std::string("epoll_wait failed: ") + std::strerror(errno));
            reset_eventfd(wake_fd_);
        }
    } catch (const std::exception &e) {
        std::lock_guard<std::mutex> lock(mutex_);
        snprintf(thread_error_, sizeof(thread_error_), "%s", e.what());
    } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        snprintf(thread_error_, sizeof(thread_error_), "unknown error");
    }
    if (epoll_fd >= 0) close(epoll_fd);
    {
        // An exited thread counts as parked: pause() must not wait for it.
        std::lock_guard<std::mutex> lock(mutex_);
        parked_ = true;
    }
    changed_.notify_all();
    signal_eventfd(completion_fd_);  // lets the caller see thread_error_ (or wake on stop)
}

}  // namespace eventhooks::core
