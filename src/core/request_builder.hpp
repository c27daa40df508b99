// Building the webhook request of an event (SPEC §4): the JSON body, the headers to send (with a
// masked copy for the invocation log) and the webhook URL, resolving *_from_env values at send
// time.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trigger_config.hpp"

namespace eventhooks::core {

struct EventForDelivery {
    std::string id;
    std::string trigger_name;
    std::string schema_name;
    std::string table_name;
    std::string payload_json;  // {"op", "data", "session_variables"} as stored; valid JSON
    std::string created_at;    // ISO-8601
    int max_retries = 0;
    int current_retry = 0;
};

// {"event":<payload_json verbatim>,"created_at":"...","id":"...",
//  "delivery_info":{"max_retries":N,"current_retry":K},"trigger":{"name":"..."},
//  "table":{"schema":"...","name":"..."}}
// payload_json is spliced in without re-parsing; invalid UTF-8 in the strings is replaced by
// U+FFFD.
std::string build_event_body(const EventForDelivery &e);

// Only nlohmann::json's destructor can throw in BuiltHeaders's implicit members (bad_alloc from
// its non-recursive destroy), which would be std::terminate in any destructor:
// NOLINTNEXTLINE(bugprone-exception-escape)
struct BuiltHeaders {
    std::vector<std::string> lines;  // "Name: value" to send, ready for CURLOPT_HTTPHEADER (an
                                     // empty value is written "Name;", curl's form for it)
    nlohmann::json logged;           // {"Name": "value" | "***"} for the invocation log
    std::string error;               // non-empty: cannot send (e.g. environment variable unset)
};

// Returns the value of an environment variable, nullptr when unset (e.g. ::getenv).
using GetenvFn = std::function<const char *(const char *)>;

// Content-Type: application/json (unless a configured Content-Type replaces it), webhook-id:
// <event id>, then the configured headers, value_from_env read through getenv_fn. In `logged`,
// values read from the environment and values of sensitive-looking headers are "***". On error
// (variable unset or holding a line break) `error` names the first problem; the other fields are
// still filled in as far as possible.
BuiltHeaders build_request_headers(const std::vector<HeaderConf> &configured,
                                   const std::string &event_id, const GetenvFn &getenv_fn);

// True for header names whose values are never logged: Authorization, Proxy-Authorization,
// Cookie, and names containing "secret", "token", "key", "signature", "password", "auth" or
// "credential" (case-insensitive).
bool is_sensitive_header_name(std::string_view name);

// webhook_from_env non-empty: the URL in that environment variable, validated; otherwise
// webhook. On failure returns "" and sets error, e.g.
//   webhook_from_env: environment variable "X" is not set
// (messages about an invalid URL from the environment never repeat the URL, which may hold
// credentials).
std::string resolve_webhook_url(const std::string &webhook, const std::string &webhook_from_env,
                                const GetenvFn &getenv_fn, std::string &error);

}  // namespace eventhooks::core
