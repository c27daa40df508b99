// Building the webhook request of an event: JSON body (payload spliced in verbatim, hot path),
// headers to send plus a masked copy for the invocation log, and the webhook URL.
#include "core/request_builder.hpp"

#include <cstring>

namespace eventhooks::core {

namespace {

using nlohmann::json;

// A JSON string literal; invalid UTF-8 is replaced rather than throwing.
void append_json_string(std::string &out, const std::string &s) {
    out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string quote(const std::string &s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char &c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string header_line(const std::string &name, const std::string &value) {
    // curl drops a header given as "Name:" with nothing after the colon; "Name;" sends it empty.
    if (value.empty()) return name + ";";
    return name + ": " + value;
}

constexpr const char *kMasked = "***";

}  // namespace

std::string build_event_body(const EventForDelivery &e) {
    std::string out;
    out.reserve(e.payload_json.size() + e.trigger_name.size() + e.schema_name.size() +
                e.table_name.size() + 200);
    out += "{\"event\":";
    out += e.payload_json;
    out += ",\"created_at\":";
    append_json_string(out, e.created_at);
    out += ",\"id\":";
    append_json_string(out, e.id);
    out += ",\"delivery_info\":{\"max_retries\":";
    out += std::to_string(e.max_retries);
    out += ",\"current_retry\":";
    out += std::to_string(e.current_retry);
    out += "},\"trigger\":{\"name\":";
    append_json_string(out, e.trigger_name);
    out += "},\"table\":{\"schema\":";
    append_json_string(out, e.schema_name);
    out += ",\"name\":";
    append_json_string(out, e.table_name);
    out += "}}";
    return out;
}

bool is_sensitive_header_name(std::string_view name) {
    const std::string lower = to_lower(name);
    if (lower == "authorization" || lower == "proxy-authorization" || lower == "cookie") {
        return true;
    }
    for (const char *word :
         {"secret", "token", "key", "signature", "password", "auth", "credential"}) {
        if (lower.find(word) != std::string::npos) return true;
    }
    return false;
}

BuiltHeaders build_request_headers(const std::vector<HeaderConf> &configured,
                                   const std::string &event_id, const GetenvFn &getenv_fn) {
    BuiltHeaders out;
    out.logged = json::object();
    auto add = [&out](const std::string &name, const std::string &value, bool mask) {
        out.lines.push_back(header_line(name, value));
        out.logged[name] = mask ? json(kMasked) : json(value);
    };

    bool content_type_configured = false;
    for (const auto &h : configured) {
        content_type_configured = content_type_configured || to_lower(h.name) == "content-type";
    }
    if (!content_type_configured) add("Content-Type", "application/json", false);
    add("webhook-id", event_id, false);

    for (const auto &h : configured) {
        if (!h.from_env()) {
            add(h.name, h.value, is_sensitive_header_name(h.name));
            continue;
        }
        const char *value = getenv_fn ? getenv_fn(h.value_from_env.c_str()) : nullptr;
        std::string problem;
        if (value == nullptr) {
            problem = "is not set";
        } else if (std::strpbrk(value, "\r\n") != nullptr) {
            problem = "contains a line break";
        }
        if (!problem.empty()) {
            if (out.error.empty()) {
                out.error = "header " + quote(h.name) + ": environment variable " +
                            quote(h.value_from_env) + " " + problem;
            }
            out.logged[h.name] = kMasked;
            continue;
        }
        // NOLINTNEXTLINE(clang-analyzer-cplusplus.StringChecker): a null value set problem
        add(h.name, value, true);
    }
    return out;
}

std::string resolve_webhook_url(const std::string &webhook, const std::string &webhook_from_env,
                                const GetenvFn &getenv_fn, std::string &error) {
    error.clear();
    if (webhook_from_env.empty()) {
        if (webhook.empty()) error = "webhook: must not be empty";
        return webhook;
    }
    const std::string variable = "environment variable " + quote(webhook_from_env);
    const char *value = getenv_fn ? getenv_fn(webhook_from_env.c_str()) : nullptr;
    if (value == nullptr) {
        error = "webhook_from_env: " + variable + " is not set";
        return "";
    }
    std::string url(value);
    std::string problem = webhook_url_problem(url);
    if (!problem.empty()) {
        error = "webhook_from_env: " + variable + " " + problem;
        return "";
    }
    return url;
}

}  // namespace eventhooks::core
