// Parsing and validation of the user-facing trigger configuration arguments (the jsonb / text
// arguments of eventhooks.create_event_trigger, create_cron_trigger, create_scheduled_event):
// OperationSpec, RetryConf, headers, signing, webhook URL and trigger name. Every function throws
// ConfigError with a message that names the argument (e.g. "retry_conf.num_retries: ...").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config_error.hpp"

namespace eventhooks::core {

// "*" (all = true) or an explicit list of column names.
struct ColumnSelection {
    bool all = true;
    std::vector<std::string> columns;
};

// {"columns": "*" | [...], "payload": "*" | [...]}; '{}' means all / all.
struct OperationSpec {
    ColumnSelection columns;  // columns listened to (UPDATE fires only if one of them changed)
    ColumnSelection payload;  // columns sent in data.old / data.new
};

// argument_name is the SQL argument, e.g. "on_insert"; json is the jsonb text.
OperationSpec parse_operation_spec(const std::string &argument_name, const std::string &json);

struct RetryConf {
    int num_retries = 0;
    int interval_sec = 10;
    int timeout_sec = 60;
    std::string backoff = "fixed";  // "fixed" | "exponential"
    int max_interval_sec = 3600;
    int tolerance_sec = 21600;  // cron triggers and scheduled events only
};

// Keys: num_retries, interval_sec, timeout_sec, backoff, max_interval_sec, and tolerance_sec when
// allow_tolerance (cron triggers / scheduled events). Missing keys keep their defaults.
RetryConf parse_retry_conf(const std::string &json, bool allow_tolerance = false);

struct HeaderConf {
    std::string name;
    std::string value;           // literal value (when value_from_env is empty)
    std::string value_from_env;  // name of the environment variable read at send time
    bool from_env() const { return !value_from_env.empty(); }
};

// [{"name": "X", "value": "v"} | {"name": "X", "value_from_env": "ENV"}, ...]
std::vector<HeaderConf> parse_headers(const std::string &json);

// RFC 9110 token (tchar+): non-empty, letters, digits and !#$%&'*+-.^_`|~
bool is_valid_header_name(std::string_view name);

// [A-Za-z_][A-Za-z0-9_]*
bool is_valid_env_name(std::string_view name);

// Throws `<argument_name>: "<name>" is not a valid environment variable name` (or
// `<argument_name>: must not be empty`). For webhook_from_env and similar text arguments.
void validate_env_name_argument(const std::string &argument_name, const std::string &name);

// An absolute http or https URL with a host, as parsed by libcurl. Errors:
//   webhook: must not be empty
//   webhook: "ftp://x" is not an http or https URL
//   webhook: "http//x" is not a valid URL: <libcurl's reason>
void validate_webhook_url(const std::string &argument_name, const std::string &url);

// The reason validate_webhook_url would reject url, without the URL itself: "" when url is
// acceptable, else "must not be empty", "is not an http or https URL" or
// "is not a valid URL: <reason>".
std::string webhook_url_problem(const std::string &url);

// Hasura trigger name rule: 1..42 characters of [A-Za-z0-9_-].
void validate_trigger_name(const std::string &name);

struct SigningConf {
    std::string scheme;           // "standard-webhooks" | "hmac-sha256"
    std::string secret_from_env;  // environment variable holding the secret(s)
    std::string header;           // hmac-sha256 only (default "X-Hub-Signature-256"); else empty
};

// SPEC §6. "" or "null" → nullopt (unsigned).
std::optional<SigningConf> parse_signing(const std::string &json);

// A configured header may not carry the signing scheme's header name (hmac-sha256's
// signing.header): the signature would replace it at send time. Throws
// `headers[i].name: "X" is the signing header (signing.header) and cannot be configured`.
void check_headers_against_signing(const std::vector<HeaderConf> &headers,
                                   const std::optional<SigningConf> &signing);

}  // namespace eventhooks::core
