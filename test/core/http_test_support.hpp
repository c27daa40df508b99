// http_test_support.hpp: small helpers shared by the HTTP client tests (HttpClient and
// BackgroundHttpClient): a POST request to the loopback server, the client options the tests
// use, and the count of this process's open file descriptors (a leaked socket, epoll fd or
// eventfd shows there).
#pragma once

#include <dirent.h>

#include <cstdint>
#include <string>
#include <utility>

#include "core/http_client.hpp"

namespace eventhooks::testing {

inline core::HttpRequest post(const std::string &url, uint64_t tag = 0, std::string body = "{}") {
    core::HttpRequest r;
    r.tag = tag;
    r.url = url;
    r.body = std::move(body);
    r.timeout_ms = 5000;
    return r;
}

inline core::HttpClientOptions test_options(const std::string &user_agent =
                                                "pg_eventhooks-test/1.0") {
    core::HttpClientOptions o;
    o.user_agent = user_agent;
    return o;
}

inline size_t open_fds() {
    size_t n = 0;
    if (DIR *d = opendir("/proc/self/fd")) {
        while (readdir(d)) ++n;
        closedir(d);
    }
    return n;
}

}  // namespace eventhooks::testing
