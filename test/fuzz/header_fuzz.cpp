// parse_headers (the headers argument: JSON array of {name, value | value_from_env}),
// is_valid_header_name, and build_request_headers on what the parser accepted.
// Invariants: ConfigError is the only exception; an accepted header has a valid, unreserved,
// unique name and a value without control characters; the parsed list survives a round trip
// through JSON; the request lines built from it are single lines (no header injection).
#include <nlohmann/json.hpp>

#include "core/request_builder.hpp"
#include "core/trigger_config.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

namespace {

std::string lower(std::string s) {
    for (char &c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return s;
}

bool same(const std::vector<core::HeaderConf> &a, const std::vector<core::HeaderConf> &b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].value != b[i].value ||
            a[i].value_from_env != b[i].value_from_env)
            return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    (void)core::is_sensitive_header_name(text);

    std::vector<core::HeaderConf> headers;
    try {
        headers = core::parse_headers(text);
    } catch (const core::ConfigError &) {
        return 0;
    }
    nlohmann::json again = nlohmann::json::array();
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const auto &h = headers[i];
        FUZZ_CHECK(core::is_valid_header_name(h.name), h.name);
        for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(lower(headers[j].name) != lower(h.name), h.name);
        if (h.from_env()) {
            FUZZ_CHECK(core::is_valid_env_name(h.value_from_env), h.value_from_env);
            again.push_back({{"name", h.name}, {"value_from_env", h.value_from_env}});
        } else {
            for (char c : h.value) {
                auto u = static_cast<unsigned char>(c);
                FUZZ_CHECK((u >= 0x20 || u == '\t') && u != 0x7F, "control character in value");
            }
            again.push_back({{"name", h.name}, {"value", h.value}});
        }
    }
    // Our own output must always be accepted again, unchanged (invalid UTF-8 is replaced when
    // dumping, so only compare when the dump is exact).
    std::string dumped = again.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (nlohmann::json::parse(dumped) == again) {
        FUZZ_CHECK(same(core::parse_headers(dumped), headers), "round trip changed the headers");
    }

    // Environment values may hold anything; a line break there must become an error, never a
    // second header line.
    auto getenv_fn = [](const char *name) -> const char * {
        return name[0] == 'A' ? "x\r\nInjected: yes" : name[0] == 'B' ? nullptr : "env value";
    };
    auto built = core::build_request_headers(headers, "16fd2706-8baf-433b-82eb-8c7fada847da", getenv_fn);
    for (const auto &line : built.lines) {
        FUZZ_CHECK(line.find('\r') == std::string::npos && line.find('\n') == std::string::npos,
                   "line break in a request header line");
    }
    return 0;
}
