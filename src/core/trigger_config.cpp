// Parsing and validation of the trigger configuration arguments (OperationSpec, RetryConf,
// headers, signing, webhook URL, trigger name). Error messages are part of the user interface:
// they become Postgres ERRORs compared verbatim by regression tests, so keep them stable.
#include "core/trigger_config.hpp"

#include <curl/curl.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

namespace eventhooks::core {

namespace {

using nlohmann::json;

constexpr int kMaxNumRetries = 10000;
constexpr int kMaxIntervalSec = 86400 * 30;
constexpr int kMinTimeoutSec = 1;
constexpr int kMaxTimeoutSec = 86400;
constexpr int kMaxToleranceSec = std::numeric_limits<int>::max();
constexpr std::size_t kMaxTriggerNameLength = 42;
constexpr std::size_t kMaxShownValueLength = 64;

// Parses JSON text; nullopt when it is not valid JSON.
std::optional<json> try_parse(const std::string &text) {
    json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded()) return std::nullopt;
    return v;
}

std::string dump(const json &v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

// A JSON value as shown after "got": its compact JSON text, shortened if very long (cut at a
// UTF-8 character boundary).
std::string show(const json &v) {
    std::string s = dump(v);
    if (s.size() <= kMaxShownValueLength) return s;
    std::size_t cut = kMaxShownValueLength - 3;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut) + "...";
}

// A string as shown in messages: double-quoted with JSON escapes (so control characters are
// visible).
std::string quote(const std::string &s) { return dump(json(s)); }

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char &c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

[[noreturn]] void fail(const std::string &message) { throw ConfigError(message); }

// Throws `<where>: unknown key "k" (allowed: a, b)` for the first key (in the object's order)
// not in `allowed`.
void reject_unknown_keys(const std::string &where, const json &object,
                         const std::vector<std::string> &allowed) {
    for (const auto &item : object.items()) {
        bool known = false;
        for (const auto &a : allowed) known = known || item.key() == a;
        if (known) continue;
        std::string list;
        for (const auto &a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(where + ": unknown key " + quote(item.key()) + " (allowed: " + list + ")");
    }
}

ColumnSelection parse_column_selection(const std::string &where, const json &v, bool allow_empty) {
    ColumnSelection sel;
    if (v.is_string() && v.get_ref<const std::string &>() == "*") return sel;
    if (!v.is_array()) fail(where + ": must be \"*\" or an array of column names");
    if (v.empty() && !allow_empty) fail(where + ": must not be empty");
    sel.all = false;
    std::size_t position = 0;
    for (const auto &element : v) {
        ++position;
        if (!element.is_string() || element.get_ref<const std::string &>().empty()) {
            fail(where + ": element " + std::to_string(position) +
                 " must be a column name (a non-empty string)");
        }
        const auto &name = element.get_ref<const std::string &>();
        for (const auto &seen : sel.columns) {
            if (seen == name) fail(where + ": column " + quote(name) + " is listed twice");
        }
        sel.columns.push_back(name);
    }
    return sel;
}

// Integer value of a JSON integer (saturated at INT64_MAX); nullopt for any other JSON value,
// including fractional numbers and numbers written with a fraction such as 3.0.
std::optional<int64_t> as_integer(const json &v) {
    if (v.is_number_unsigned()) {
        auto u = v.get<uint64_t>();
        constexpr auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
        return static_cast<int64_t>(u > max ? max : u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    return std::nullopt;
}

// A non-negative integer key of retry_conf, at most `max`.
int non_negative_int(const std::string &where, const json &v, int max) {
    auto n = as_integer(v);
    if (!n || *n < 0) fail(where + ": must be a non-negative integer, got " + show(v));
    if (*n > max) fail(where + ": must be at most " + std::to_string(max) + ", got " + show(v));
    return static_cast<int>(*n);
}

// Characters never allowed anywhere in a URL: whitespace and control characters.
bool has_space_or_control(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7F) return true;
    }
    return false;
}

bool has_line_break(std::string_view s) {
    return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

// Control characters other than horizontal tab (not allowed in an HTTP field value).
bool has_control_char(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7F) return true;
    }
    return false;
}

// Headers that pg_eventhooks (or libcurl) sets itself.
bool is_reserved_header(std::string_view name) {
    static const char *const reserved[] = {
        "content-length",    "host",       "transfer-encoding",
        "connection",        "webhook-id", "webhook-timestamp",
        "webhook-signature",
    };
    std::string lower = to_lower(name);
    for (const char *r : reserved) {
        if (lower == r) return true;
    }
    return false;
}

// Checks a header name given at `where` (e.g. "headers[0].name"): valid token, not reserved.
void check_header_name(const std::string &where, const std::string &name) {
    if (!is_valid_header_name(name)) {
        fail(where + ": " + quote(name) + " is not a valid HTTP header name");
    }
    if (is_reserved_header(name)) {
        fail(where + ": " + quote(name) + " is set by pg_eventhooks and cannot be configured");
    }
}

struct CurlUrlDeleter {
    void operator()(CURLU *h) const { curl_url_cleanup(h); }
};
struct CurlStringDeleter {
    void operator()(char *s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString get_url_part(CURLU *h, CURLUPart part) {
    char *s = nullptr;
    if (curl_url_get(h, part, &s, 0) != CURLUE_OK) {
        curl_free(s);
        return nullptr;
    }
    return CurlString(s);
}

}  // namespace

OperationSpec parse_operation_spec(const std::string &argument_name, const std::string &text) {
    auto v = try_parse(text);
    if (!v || !v->is_object()) {
        fail(argument_name + R"(: must be a JSON object like {"columns": "*", "payload": "*"})");
    }
    reject_unknown_keys(argument_name, *v, {"columns", "payload"});
    OperationSpec spec;
    if (auto it = v->find("columns"); it != v->end()) {
        spec.columns = parse_column_selection(argument_name + ".columns", *it, false);
    }
    if (auto it = v->find("payload"); it != v->end()) {
        spec.payload = parse_column_selection(argument_name + ".payload", *it, true);
    }
    return spec;
}

RetryConf parse_retry_conf(const std::string &text, bool allow_tolerance) {
    auto v = try_parse(text);
    if (!v || !v->is_object()) fail("retry_conf: must be a JSON object");
    std::vector<std::string> allowed = {"num_retries", "interval_sec", "timeout_sec", "backoff",
                                        "max_interval_sec"};
    if (allow_tolerance) allowed.push_back("tolerance_sec");
    reject_unknown_keys("retry_conf", *v, allowed);

    RetryConf conf;
    if (auto it = v->find("num_retries"); it != v->end()) {
        conf.num_retries = non_negative_int("retry_conf.num_retries", *it, kMaxNumRetries);
    }
    if (auto it = v->find("interval_sec"); it != v->end()) {
        conf.interval_sec = non_negative_int("retry_conf.interval_sec", *it, kMaxIntervalSec);
    }
    if (auto it = v->find("timeout_sec"); it != v->end()) {
        auto n = as_integer(*it);
        const std::string range = "between " + std::to_string(kMinTimeoutSec) + " and " +
                                  std::to_string(kMaxTimeoutSec) + ", got " + show(*it);
        if (!n) fail("retry_conf.timeout_sec: must be an integer " + range);
        if (*n < kMinTimeoutSec || *n > kMaxTimeoutSec)
            fail("retry_conf.timeout_sec: must be " + range);
        conf.timeout_sec = static_cast<int>(*n);
    }
    if (auto it = v->find("backoff"); it != v->end()) {
        if (!it->is_string() || (*it != "fixed" && *it != "exponential")) {
            fail(R"(retry_conf.backoff: must be "fixed" or "exponential", got )" + show(*it));
        }
        conf.backoff = it->get<std::string>();
    }
    if (auto it = v->find("max_interval_sec"); it != v->end()) {
        auto n = as_integer(*it);
        if (!n || *n < 1) {
            fail("retry_conf.max_interval_sec: must be a positive integer, got " + show(*it));
        }
        if (*n > kMaxIntervalSec) {
            fail("retry_conf.max_interval_sec: must be at most " + std::to_string(kMaxIntervalSec) +
                 ", got " + show(*it));
        }
        conf.max_interval_sec = static_cast<int>(*n);
    }
    if (auto it = v->find("tolerance_sec"); it != v->end()) {
        conf.tolerance_sec = non_negative_int("retry_conf.tolerance_sec", *it, kMaxToleranceSec);
    }
    return conf;
}

std::vector<HeaderConf> parse_headers(const std::string &text) {
    auto v = try_parse(text);
    if (!v || !v->is_array()) {
        fail(R"(headers: must be a JSON array of {"name": ..., "value": ...})"
             R"( or {"name": ..., "value_from_env": ...})");
    }
    std::vector<HeaderConf> headers;
    std::size_t index = 0;
    for (const auto &element : *v) {
        const std::string where = "headers[" + std::to_string(index++) + "]";
        if (!element.is_object()) fail(where + ": must be an object");
        reject_unknown_keys(where, element, {"name", "value", "value_from_env"});

        HeaderConf h;
        auto name = element.find("name");
        if (name == element.end()) fail(where + R"(: "name" is required)");
        if (!name->is_string()) fail(where + ".name: must be a string");
        h.name = name->get<std::string>();
        check_header_name(where + ".name", h.name);
        for (const auto &seen : headers) {
            if (to_lower(seen.name) == to_lower(h.name)) {
                fail(where + ".name: " + quote(h.name) + " is listed twice");
            }
        }

        auto value = element.find("value");
        auto from_env = element.find("value_from_env");
        if ((value == element.end()) == (from_env == element.end())) {
            fail(where + R"(: exactly one of "value" and "value_from_env" is required)");
        }
        if (value != element.end()) {
            if (!value->is_string()) fail(where + ".value: must be a string");
            h.value = value->get<std::string>();
            if (has_line_break(h.value)) fail(where + ".value: must not contain line breaks");
            if (has_control_char(h.value)) {
                fail(where + ".value: must not contain control characters");
            }
        } else {
            if (!from_env->is_string()) fail(where + ".value_from_env: must be a string");
            h.value_from_env = from_env->get<std::string>();
            if (!is_valid_env_name(h.value_from_env)) {
                fail(where + ".value_from_env: " + quote(h.value_from_env) +
                     " is not a valid environment variable name");
            }
        }
        headers.push_back(std::move(h));
    }
    return headers;
}

bool is_valid_header_name(std::string_view name) {
    if (name.empty()) return false;
    static constexpr std::string_view kTcharSymbols = "!#$%&'*+-.^_`|~";
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  kTcharSymbols.find(c) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

bool is_valid_env_name(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

void validate_env_name_argument(const std::string &argument_name, const std::string &name) {
    if (name.empty()) fail(argument_name + ": must not be empty");
    if (!is_valid_env_name(name)) {
        fail(argument_name + ": " + quote(name) + " is not a valid environment variable name");
    }
}

std::string webhook_url_problem(const std::string &url) {
    if (url.empty()) return "must not be empty";
    const std::string invalid = "is not a valid URL: ";
    std::string not_http = "is not an http or https URL";
    if (has_space_or_control(url)) return invalid + "contains whitespace or control characters";

    std::unique_ptr<CURLU, CurlUrlDeleter> h(curl_url());
    if (!h) throw std::bad_alloc();
    CURLUcode rc = curl_url_set(h.get(), CURLUPART_URL, url.c_str(), 0);
    if (rc == CURLUE_UNSUPPORTED_SCHEME) return not_http;
    if (rc == CURLUE_OUT_OF_MEMORY) throw std::bad_alloc();
    if (rc != CURLUE_OK) return invalid + curl_url_strerror(rc);

    CurlString scheme = get_url_part(h.get(), CURLUPART_SCHEME);
    std::string s = scheme ? to_lower(scheme.get()) : std::string();
    if (s != "http" && s != "https") return not_http;
    CurlString host = get_url_part(h.get(), CURLUPART_HOST);
    if (!host || host.get()[0] == '\0') return invalid + curl_url_strerror(CURLUE_NO_HOST);
    return "";
}

void validate_webhook_url(const std::string &argument_name, const std::string &url) {
    std::string problem = webhook_url_problem(url);
    if (problem.empty()) return;
    if (url.empty()) fail(argument_name + ": " + problem);
    fail(argument_name + ": " + quote(url) + " " + problem);
}

void validate_trigger_name(const std::string &name) {
    if (name.empty()) fail("name: must not be empty");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok) fail("name: " + quote(name) + R"( may only contain letters, digits, "_" and "-")");
    }
    if (name.size() > kMaxTriggerNameLength) {
        fail("name: " + quote(name) + " is longer than " + std::to_string(kMaxTriggerNameLength) +
             " characters");
    }
}

std::optional<SigningConf> parse_signing(const std::string &text) {
    std::size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) return std::nullopt;
    auto v = try_parse(text);
    if (v && v->is_null()) return std::nullopt;
    if (!v || !v->is_object()) {
        fail(R"(signing: must be a JSON object like {"scheme": "standard-webhooks",)"
             R"( "secret_from_env": "MY_SECRET"})");
    }
    reject_unknown_keys("signing", *v, {"scheme", "secret_from_env", "header"});

    SigningConf conf;
    auto scheme = v->find("scheme");
    if (scheme == v->end()) fail(R"(signing: "scheme" is required)");
    if (!scheme->is_string() || (*scheme != "standard-webhooks" && *scheme != "hmac-sha256")) {
        fail(R"(signing.scheme: must be "standard-webhooks" or "hmac-sha256", got )" +
             show(*scheme));
    }
    conf.scheme = scheme->get<std::string>();

    auto secret = v->find("secret_from_env");
    if (secret == v->end()) fail(R"(signing: "secret_from_env" is required)");
    if (!secret->is_string()) fail("signing.secret_from_env: must be a string");
    conf.secret_from_env = secret->get<std::string>();
    if (!is_valid_env_name(conf.secret_from_env)) {
        fail("signing.secret_from_env: " + quote(conf.secret_from_env) +
             " is not a valid environment variable name");
    }

    auto header = v->find("header");
    if (conf.scheme == "hmac-sha256") {
        conf.header = "X-Hub-Signature-256";
        if (header != v->end()) {
            if (!header->is_string()) fail("signing.header: must be a string");
            conf.header = header->get<std::string>();
            check_header_name("signing.header", conf.header);
        }
    } else if (header != v->end()) {
        fail(R"(signing.header: only allowed with scheme "hmac-sha256")");
    }
    return conf;
}

void check_headers_against_signing(const std::vector<HeaderConf> &headers,
                                   const std::optional<SigningConf> &signing) {
    if (!signing || signing->header.empty()) return;
    for (size_t i = 0; i < headers.size(); i++) {
        if (to_lower(headers[i].name) == to_lower(signing->header))
            fail("headers[" + std::to_string(i) + "].name: " + quote(headers[i].name) +
                 " is the signing header (signing.header) and cannot be configured");
    }
}

}  // namespace eventhooks::core
