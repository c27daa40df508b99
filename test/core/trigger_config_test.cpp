// Unit tests of src/core/trigger_config: accepted forms of every configuration argument and the
// exact text of every error message (they are user-facing and compared by regression tests).
#include "core/trigger_config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ec = eventhooks::core;

namespace {

// The message of the ConfigError thrown by f, or "<no error>".
template <typename F>
std::string error_of(F &&f) {
    try {
        f();
    } catch (const ec::ConfigError &e) {
        return e.what();
    }
    return "<no error>";
}

std::string op_error(const std::string &json) {
    return error_of([&] { ec::parse_operation_spec("on_update", json); });
}
std::string retry_error(const std::string &json, bool allow_tolerance = false) {
    return error_of([&] { ec::parse_retry_conf(json, allow_tolerance); });
}
std::string headers_error(const std::string &json) {
    return error_of([&] { ec::parse_headers(json); });
}
std::string url_error(const std::string &url) {
    return error_of([&] { ec::validate_webhook_url("webhook", url); });
}
std::string name_error(const std::string &name) {
    return error_of([&] { ec::validate_trigger_name(name); });
}
std::string signing_error(const std::string &json) {
    return error_of([&] { ec::parse_signing(json); });
}

}  // namespace

TEST(ConfigError, IsAnInvalidArgument) {
    try {
        ec::parse_retry_conf("[]");
        FAIL() << "no exception";
    } catch (const std::invalid_argument &e) {
        EXPECT_STREQ(e.what(), "retry_conf: must be a JSON object");
    }
}

// ---------------------------------------------------------------- OperationSpec

TEST(OperationSpec, EmptyObjectMeansAllColumns) {
    auto spec = ec::parse_operation_spec("on_insert", "{}");
    EXPECT_TRUE(spec.columns.all);
    EXPECT_TRUE(spec.columns.columns.empty());
    EXPECT_TRUE(spec.payload.all);
}

TEST(OperationSpec, StarAndLists) {
    auto spec = ec::parse_operation_spec("on_update", R"({"columns": ["a", "b"], "payload": "*"})");
    EXPECT_FALSE(spec.columns.all);
    EXPECT_EQ(spec.columns.columns, (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(spec.payload.all);

    spec =
        ec::parse_operation_spec("on_update", R"({"columns": "*", "payload": ["id", "Name x"]})");
    EXPECT_TRUE(spec.columns.all);
    EXPECT_FALSE(spec.payload.all);
    EXPECT_EQ(spec.payload.columns, (std::vector<std::string>{"id", "Name x"}));
}

TEST(OperationSpec, EmptyPayloadListIsAllowed) {
    auto spec = ec::parse_operation_spec("on_delete", R"({"payload": []})");
    EXPECT_FALSE(spec.payload.all);
    EXPECT_TRUE(spec.payload.columns.empty());
    EXPECT_TRUE(spec.columns.all);
}

TEST(OperationSpec, NotAnObject) {
    const std::string msg =
        R"(on_update: must be a JSON object like {"columns": "*", "payload": "*"})";
    EXPECT_EQ(op_error("[]"), msg);
    EXPECT_EQ(op_error("\"*\""), msg);
    EXPECT_EQ(op_error("null"), msg);
    EXPECT_EQ(op_error("{not json"), msg);
    EXPECT_EQ(error_of([] { ec::parse_operation_spec("on_insert", "1"); }),
              R"(on_insert: must be a JSON object like {"columns": "*", "payload": "*"})");
}

TEST(OperationSpec, UnknownKey) {
    EXPECT_EQ(op_error(R"({"colums": "*"})"),
              R"(on_update: unknown key "colums" (allowed: columns, payload))");
}

TEST(OperationSpec, BadValues) {
    EXPECT_EQ(op_error(R"({"columns": "a"})"),
              R"(on_update.columns: must be "*" or an array of column names)");
    EXPECT_EQ(op_error(R"({"payload": {}})"),
              R"(on_update.payload: must be "*" or an array of column names)");
    EXPECT_EQ(op_error(R"({"columns": null})"),
              R"(on_update.columns: must be "*" or an array of column names)");
    EXPECT_EQ(op_error(R"({"columns": []})"), "on_update.columns: must not be empty");
    EXPECT_EQ(op_error(R"({"payload": ["a", 1]})"),
              "on_update.payload: element 2 must be a column name (a non-empty string)");
    EXPECT_EQ(op_error(R"({"columns": [""]})"),
              "on_update.columns: element 1 must be a column name (a non-empty string)");
    EXPECT_EQ(op_error(R"({"columns": ["a", "b", "a"]})"),
              R"(on_update.columns: column "a" is listed twice)");
    EXPECT_EQ(op_error(R"({"payload": ["x", "x"]})"),
              R"(on_update.payload: column "x" is listed twice)");
}

// ---------------------------------------------------------------- RetryConf

TEST(RetryConf, Defaults) {
    auto c = ec::parse_retry_conf("{}");
    EXPECT_EQ(c.num_retries, 0);
    EXPECT_EQ(c.interval_sec, 10);
    EXPECT_EQ(c.timeout_sec, 60);
    EXPECT_EQ(c.backoff, "fixed");
    EXPECT_EQ(c.max_interval_sec, 3600);
    EXPECT_EQ(c.tolerance_sec, 21600);
}

TEST(RetryConf, AllKeys) {
    auto c = ec::parse_retry_conf(
        R"({"num_retries": 5, "interval_sec": 0, "timeout_sec": 86400, "backoff": "exponential",
            "max_interval_sec": 600, "tolerance_sec": 0})",
        true);
    EXPECT_EQ(c.num_retries, 5);
    EXPECT_EQ(c.interval_sec, 0);
    EXPECT_EQ(c.timeout_sec, 86400);
    EXPECT_EQ(c.backoff, "exponential");
    EXPECT_EQ(c.max_interval_sec, 600);
    EXPECT_EQ(c.tolerance_sec, 0);

    c = ec::parse_retry_conf(R"({"num_retries": 10000, "interval_sec": 2592000, "timeout_sec": 1,
                                 "backoff": "fixed"})");
    EXPECT_EQ(c.num_retries, 10000);
    EXPECT_EQ(c.interval_sec, 2592000);
    EXPECT_EQ(c.timeout_sec, 1);
    EXPECT_EQ(c.backoff, "fixed");
}

TEST(RetryConf, NotAnObject) {
    EXPECT_EQ(retry_error("[]"), "retry_conf: must be a JSON object");
    EXPECT_EQ(retry_error("null"), "retry_conf: must be a JSON object");
    EXPECT_EQ(retry_error("3"), "retry_conf: must be a JSON object");
    EXPECT_EQ(retry_error(""), "retry_conf: must be a JSON object");
}

TEST(RetryConf, UnknownKey) {
    EXPECT_EQ(
        retry_error(R"({"foo": 1})"),
        R"(retry_conf: unknown key "foo" (allowed: num_retries, interval_sec, timeout_sec, backoff, max_interval_sec))");
    EXPECT_EQ(
        retry_error(R"({"tolerance_sec": 1})"),
        R"(retry_conf: unknown key "tolerance_sec" (allowed: num_retries, interval_sec, timeout_sec, backoff, max_interval_sec))");
    EXPECT_EQ(
        retry_error(R"({"foo": 1})", true),
        R"(retry_conf: unknown key "foo" (allowed: num_retries, interval_sec, timeout_sec, backoff, max_interval_sec, tolerance_sec))");
}

TEST(RetryConf, NumRetries) {
    EXPECT_EQ(retry_error(R"({"num_retries": -1})"),
              "retry_conf.num_retries: must be a non-negative integer, got -1");
    EXPECT_EQ(retry_error(R"({"num_retries": 1.5})"),
              "retry_conf.num_retries: must be a non-negative integer, got 1.5");
    EXPECT_EQ(retry_error(R"({"num_retries": 3.0})"),
              "retry_conf.num_retries: must be a non-negative integer, got 3.0");
    EXPECT_EQ(retry_error(R"({"num_retries": "3"})"),
              R"(retry_conf.num_retries: must be a non-negative integer, got "3")");
    EXPECT_EQ(retry_error(R"({"num_retries": null})"),
              "retry_conf.num_retries: must be a non-negative integer, got null");
    EXPECT_EQ(retry_error(R"({"num_retries": true})"),
              "retry_conf.num_retries: must be a non-negative integer, got true");
    EXPECT_EQ(retry_error(R"({"num_retries": 10001})"),
              "retry_conf.num_retries: must be at most 10000, got 10001");
    EXPECT_EQ(retry_error(R"({"num_retries": 99999999999999999999})"),
              "retry_conf.num_retries: must be a non-negative integer, got 1e+20");
    EXPECT_EQ(retry_error(R"({"num_retries": 18446744073709551615})"),
              "retry_conf.num_retries: must be at most 10000, got 18446744073709551615");
}

TEST(RetryConf, LongValuesAreShortened) {
    const std::string long_string(100, 'x');
    EXPECT_EQ(retry_error(R"({"num_retries": ")" + long_string + "\"}"),
              "retry_conf.num_retries: must be a non-negative integer, got \"" +
                  std::string(60, 'x') + "...");
}

TEST(RetryConf, IntervalSec) {
    EXPECT_EQ(retry_error(R"({"interval_sec": -5})"),
              "retry_conf.interval_sec: must be a non-negative integer, got -5");
    EXPECT_EQ(retry_error(R"({"interval_sec": 2592001})"),
              "retry_conf.interval_sec: must be at most 2592000, got 2592001");
}

TEST(RetryConf, TimeoutSec) {
    EXPECT_EQ(retry_error(R"({"timeout_sec": 0})"),
              "retry_conf.timeout_sec: must be between 1 and 86400, got 0");
    EXPECT_EQ(retry_error(R"({"timeout_sec": 86401})"),
              "retry_conf.timeout_sec: must be between 1 and 86400, got 86401");
    EXPECT_EQ(retry_error(R"({"timeout_sec": -3})"),
              "retry_conf.timeout_sec: must be between 1 and 86400, got -3");
    EXPECT_EQ(retry_error(R"({"timeout_sec": 2.5})"),
              "retry_conf.timeout_sec: must be an integer between 1 and 86400, got 2.5");
    EXPECT_EQ(retry_error(R"({"timeout_sec": "60"})"),
              R"(retry_conf.timeout_sec: must be an integer between 1 and 86400, got "60")");
}

TEST(RetryConf, Backoff) {
    EXPECT_EQ(retry_error(R"({"backoff": "x"})"),
              R"(retry_conf.backoff: must be "fixed" or "exponential", got "x")");
    EXPECT_EQ(retry_error(R"({"backoff": "Exponential"})"),
              R"(retry_conf.backoff: must be "fixed" or "exponential", got "Exponential")");
    EXPECT_EQ(retry_error(R"({"backoff": 1})"),
              R"(retry_conf.backoff: must be "fixed" or "exponential", got 1)");
}

TEST(RetryConf, MaxIntervalSec) {
    EXPECT_EQ(retry_error(R"({"max_interval_sec": 0})"),
              "retry_conf.max_interval_sec: must be a positive integer, got 0");
    EXPECT_EQ(retry_error(R"({"max_interval_sec": "1"})"),
              R"(retry_conf.max_interval_sec: must be a positive integer, got "1")");
    EXPECT_EQ(retry_error(R"({"max_interval_sec": 2592001})"),
              "retry_conf.max_interval_sec: must be at most 2592000, got 2592001");
}

TEST(RetryConf, ToleranceSec) {
    EXPECT_EQ(ec::parse_retry_conf(R"({"tolerance_sec": 2147483647})", true).tolerance_sec,
              2147483647);
    EXPECT_EQ(retry_error(R"({"tolerance_sec": -1})", true),
              "retry_conf.tolerance_sec: must be a non-negative integer, got -1");
    EXPECT_EQ(retry_error(R"({"tolerance_sec": 2147483648})", true),
              "retry_conf.tolerance_sec: must be at most 2147483647, got 2147483648");
}

TEST(RetryConf, UnknownKeysAreReportedBeforeBadValues) {
    EXPECT_EQ(
        retry_error(R"({"num_retries": -1, "zzz": 1})"),
        R"(retry_conf: unknown key "zzz" (allowed: num_retries, interval_sec, timeout_sec, backoff, max_interval_sec))");
}

// ---------------------------------------------------------------- headers

TEST(Headers, Accepted) {
    EXPECT_TRUE(ec::parse_headers("[]").empty());
    auto h = ec::parse_headers(
        R"([{"name": "X-Api", "value": "v 1"}, {"name": "Authorization", "value_from_env": "AUTH_2"},
            {"name": "X-Empty", "value": ""}, {"name": "Content-Type", "value": "text/plain"}])");
    ASSERT_EQ(h.size(), 4u);
    EXPECT_EQ(h[0].name, "X-Api");
    EXPECT_EQ(h[0].value, "v 1");
    EXPECT_FALSE(h[0].from_env());
    EXPECT_EQ(h[1].name, "Authorization");
    EXPECT_EQ(h[1].value_from_env, "AUTH_2");
    EXPECT_TRUE(h[1].from_env());
    EXPECT_EQ(h[2].value, "");
    EXPECT_FALSE(h[2].from_env());
    EXPECT_EQ(h[3].name, "Content-Type");
}

TEST(Headers, NotAnArray) {
    const std::string msg =
        R"(headers: must be a JSON array of {"name": ..., "value": ...} or {"name": ..., "value_from_env": ...})";
    EXPECT_EQ(headers_error("{}"), msg);
    EXPECT_EQ(headers_error("null"), msg);
    EXPECT_EQ(headers_error("[1,"), msg);
}

TEST(Headers, ElementErrors) {
    EXPECT_EQ(headers_error(R"([{"name": "A", "value": "1"}, "X"])"),
              "headers[1]: must be an object");
    EXPECT_EQ(headers_error(R"([{"value": "1"}])"), R"(headers[0]: "name" is required)");
    EXPECT_EQ(headers_error(R"([{"name": 1, "value": "1"}])"), "headers[0].name: must be a string");
    EXPECT_EQ(headers_error(R"([{"name": "Bad Name", "value": "1"}])"),
              R"(headers[0].name: "Bad Name" is not a valid HTTP header name)");
    EXPECT_EQ(headers_error(R"([{"name": "", "value": "1"}])"),
              R"(headers[0].name: "" is not a valid HTTP header name)");
    EXPECT_EQ(headers_error(R"([{"name": "X:Y", "value": "1"}])"),
              R"(headers[0].name: "X:Y" is not a valid HTTP header name)");
    EXPECT_EQ(headers_error(R"([{"name": "X"}])"),
              R"(headers[0]: exactly one of "value" and "value_from_env" is required)");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": "a", "value_from_env": "B"}])"),
              R"(headers[0]: exactly one of "value" and "value_from_env" is required)");
    EXPECT_EQ(headers_error(R"([{"name": "X", "valu": "a"}])"),
              R"(headers[0]: unknown key "valu" (allowed: name, value, value_from_env))");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": 5}])"),
              "headers[0].value: must be a string");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": "a\r\nEvil: 1"}])"),
              "headers[0].value: must not contain line breaks");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": "a\nb"}])"),
              "headers[0].value: must not contain line breaks");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": "a\u0001b"}])"),
              "headers[0].value: must not contain control characters");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value_from_env": 1}])"),
              "headers[0].value_from_env: must be a string");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value_from_env": "1X"}])"),
              R"(headers[0].value_from_env: "1X" is not a valid environment variable name)");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value_from_env": ""}])"),
              R"(headers[0].value_from_env: "" is not a valid environment variable name)");
    EXPECT_EQ(headers_error(R"([{"name": "X", "value": "1"}, {"name": "x", "value": "2"}])"),
              R"(headers[1].name: "x" is listed twice)");
}

TEST(Headers, TabInValueIsAllowed) {
    EXPECT_EQ(ec::parse_headers(R"([{"name": "X", "value": "a\tb"}])")[0].value, "a\tb");
}

TEST(Headers, ReservedNames) {
    EXPECT_EQ(headers_error(R"([{"name": "Host", "value": "x"}])"),
              R"(headers[0].name: "Host" is set by pg_eventhooks and cannot be configured)");
    EXPECT_EQ(
        headers_error(R"([{"name": "X", "value": "1"}, {"name": "content-LENGTH", "value": "1"}])"),
        R"(headers[1].name: "content-LENGTH" is set by pg_eventhooks and cannot be configured)");
    for (const char *name : {"Transfer-Encoding", "CONNECTION", "webhook-id", "Webhook-Timestamp",
                             "webhook-signature"}) {
        EXPECT_EQ(headers_error(std::string(R"([{"name": ")") + name + R"(", "value": "x"}])"),
                  std::string("headers[0].name: \"") + name +
                      "\" is set by pg_eventhooks and cannot be configured");
    }
}

TEST(Headers, NameAndEnvValidators) {
    EXPECT_TRUE(ec::is_valid_header_name("X-Hub-Signature-256"));
    EXPECT_TRUE(ec::is_valid_header_name("a!#$%&'*+-.^_`|~9"));
    EXPECT_FALSE(ec::is_valid_header_name(""));
    EXPECT_FALSE(ec::is_valid_header_name("a b"));
    EXPECT_FALSE(ec::is_valid_header_name("a:b"));
    EXPECT_FALSE(ec::is_valid_header_name("a\"b"));
    EXPECT_FALSE(ec::is_valid_header_name("(x)"));
    EXPECT_FALSE(ec::is_valid_header_name("caf\xc3\xa9"));

    EXPECT_TRUE(ec::is_valid_env_name("_"));
    EXPECT_TRUE(ec::is_valid_env_name("A1_b"));
    EXPECT_FALSE(ec::is_valid_env_name(""));
    EXPECT_FALSE(ec::is_valid_env_name("1A"));
    EXPECT_FALSE(ec::is_valid_env_name("A-B"));
    EXPECT_FALSE(ec::is_valid_env_name("A B"));
}

TEST(EnvNameArgument, Messages) {
    EXPECT_EQ(error_of([] { ec::validate_env_name_argument("webhook_from_env", "HOOK_URL"); }),
              "<no error>");
    EXPECT_EQ(error_of([] { ec::validate_env_name_argument("webhook_from_env", ""); }),
              "webhook_from_env: must not be empty");
    EXPECT_EQ(error_of([] { ec::validate_env_name_argument("webhook_from_env", "my-url"); }),
              R"(webhook_from_env: "my-url" is not a valid environment variable name)");
}

// ---------------------------------------------------------------- webhook URL

TEST(WebhookUrl, Accepted) {
    for (const char *url :
         {"http://example.com", "https://example.com/hook?x=1#f", "HTTPS://Example.COM:8443/a",
          "http://user:pw@127.0.0.1:8080/x", "http://[::1]:9/", "http://localhost/a%20b"}) {
        EXPECT_EQ(url_error(url), "<no error>") << url;
    }
}

TEST(WebhookUrl, Errors) {
    EXPECT_EQ(url_error(""), "webhook: must not be empty");
    EXPECT_EQ(url_error("ftp://x"), R"(webhook: "ftp://x" is not an http or https URL)");
    EXPECT_EQ(url_error("foo://x"), R"(webhook: "foo://x" is not an http or https URL)");
    EXPECT_EQ(url_error("file:///etc/passwd"),
              R"(webhook: "file:///etc/passwd" is not an http or https URL)");
    EXPECT_EQ(url_error("http//x"), R"(webhook: "http//x" is not a valid URL: Bad scheme)");
    EXPECT_EQ(url_error("http://"),
              R"(webhook: "http://" is not a valid URL: No host part in the URL)");
    EXPECT_EQ(
        url_error("http://x:99999/"),
        R"(webhook: "http://x:99999/" is not a valid URL: Port number was not a decimal number between 0 and 65535)");
    EXPECT_EQ(
        url_error("http://a b/"),
        R"(webhook: "http://a b/" is not a valid URL: contains whitespace or control characters)");
    EXPECT_EQ(
        url_error("http://ab/\n"),
        R"(webhook: "http://ab/\n" is not a valid URL: contains whitespace or control characters)");
    EXPECT_EQ(error_of([] { ec::validate_webhook_url("webhook_from_env", "x"); }),
              R"(webhook_from_env: "x" is not a valid URL: Bad scheme)");
}

TEST(WebhookUrl, ProblemWithoutTheUrl) {
    EXPECT_EQ(ec::webhook_url_problem("https://x"), "");
    EXPECT_EQ(ec::webhook_url_problem(""), "must not be empty");
    EXPECT_EQ(ec::webhook_url_problem("ftp://x"), "is not an http or https URL");
    EXPECT_EQ(ec::webhook_url_problem("http//x"), "is not a valid URL: Bad scheme");
}

// ---------------------------------------------------------------- trigger name

TEST(TriggerName, Accepted) {
    EXPECT_EQ(name_error("a"), "<no error>");
    EXPECT_EQ(name_error("Order_created-2"), "<no error>");
    EXPECT_EQ(name_error(std::string(42, 'x')), "<no error>");
}

TEST(TriggerName, Errors) {
    EXPECT_EQ(name_error(""), "name: must not be empty");
    EXPECT_EQ(name_error(std::string(43, 'x')),
              "name: \"" + std::string(43, 'x') + "\" is longer than 42 characters");
    EXPECT_EQ(name_error("a b"), R"(name: "a b" may only contain letters, digits, "_" and "-")");
    EXPECT_EQ(name_error("a.b"), R"(name: "a.b" may only contain letters, digits, "_" and "-")");
    EXPECT_EQ(name_error("caf\xc3\xa9"),
              "name: \"caf\xc3\xa9\" may only contain letters, digits, \"_\" and \"-\"");
}

// ---------------------------------------------------------------- signing

TEST(Signing, NullMeansUnsigned) {
    EXPECT_FALSE(ec::parse_signing("").has_value());
    EXPECT_FALSE(ec::parse_signing("null").has_value());
    EXPECT_FALSE(ec::parse_signing(" null ").has_value());
}

TEST(Signing, StandardWebhooks) {
    auto s =
        ec::parse_signing(R"({"scheme": "standard-webhooks", "secret_from_env": "WH_SECRET"})");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->scheme, "standard-webhooks");
    EXPECT_EQ(s->secret_from_env, "WH_SECRET");
    EXPECT_EQ(s->header, "");
}

TEST(Signing, HmacSha256) {
    auto s = ec::parse_signing(R"({"scheme": "hmac-sha256", "secret_from_env": "S"})");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->scheme, "hmac-sha256");
    EXPECT_EQ(s->secret_from_env, "S");
    EXPECT_EQ(s->header, "X-Hub-Signature-256");

    s = ec::parse_signing(
        R"({"scheme": "hmac-sha256", "secret_from_env": "S", "header": "X-Sig"})");
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->header, "X-Sig");
}

TEST(Signing, Errors) {
    const std::string not_object =
        R"(signing: must be a JSON object like {"scheme": "standard-webhooks", "secret_from_env": "MY_SECRET"})";
    EXPECT_EQ(signing_error("[]"), not_object);
    EXPECT_EQ(signing_error("\"hmac-sha256\""), not_object);
    EXPECT_EQ(signing_error("{"), not_object);
    EXPECT_EQ(signing_error("{}"), R"(signing: "scheme" is required)");
    EXPECT_EQ(signing_error(R"({"scheme": "hmac-sha256", "secret": "x"})"),
              R"(signing: unknown key "secret" (allowed: scheme, secret_from_env, header))");
    EXPECT_EQ(signing_error(R"({"scheme": "md5", "secret_from_env": "S"})"),
              R"(signing.scheme: must be "standard-webhooks" or "hmac-sha256", got "md5")");
    EXPECT_EQ(signing_error(R"({"scheme": null, "secret_from_env": "S"})"),
              R"(signing.scheme: must be "standard-webhooks" or "hmac-sha256", got null)");
    EXPECT_EQ(signing_error(R"({"scheme": "hmac-sha256"})"),
              R"(signing: "secret_from_env" is required)");
    EXPECT_EQ(signing_error(R"({"scheme": "hmac-sha256", "secret_from_env": 1})"),
              "signing.secret_from_env: must be a string");
    EXPECT_EQ(signing_error(R"({"scheme": "hmac-sha256", "secret_from_env": "9S"})"),
              R"(signing.secret_from_env: "9S" is not a valid environment variable name)");
    EXPECT_EQ(
        signing_error(R"({"scheme": "standard-webhooks", "secret_from_env": "S", "header": "X"})"),
        R"(signing.header: only allowed with scheme "hmac-sha256")");
    EXPECT_EQ(
        signing_error(R"({"scheme": "hmac-sha256", "secret_from_env": "S", "header": "X Y"})"),
        R"(signing.header: "X Y" is not a valid HTTP header name)");
    EXPECT_EQ(signing_error(R"({"scheme": "hmac-sha256", "secret_from_env": "S", "header": 2})"),
              "signing.header: must be a string");
    EXPECT_EQ(
        signing_error(R"({"scheme": "hmac-sha256", "secret_from_env": "S", "header": "host"})"),
        R"(signing.header: "host" is set by pg_eventhooks and cannot be configured)");
}

TEST(Signing, ConfiguredHeaderMayNotBeTheSignatureHeader) {
    auto headers = ec::parse_headers(R"([{"name": "X-Other", "value": "1"},
                                         {"name": "x-hub-signature-256", "value": "forged"}])");
    auto hmac = ec::parse_signing(R"({"scheme": "hmac-sha256", "secret_from_env": "S"})");
    EXPECT_EQ(error_of([&] { ec::check_headers_against_signing(headers, hmac); }),
              R"(headers[1].name: "x-hub-signature-256" is the signing header (signing.header) )"
              "and cannot be configured");
    // Another header name, no signing or standard-webhooks (whose names are reserved anyway).
    auto custom =
        ec::parse_signing(R"({"scheme": "hmac-sha256", "secret_from_env": "S", "header": "X-Sig"})");
    EXPECT_EQ(error_of([&] { ec::check_headers_against_signing(headers, custom); }), "<no error>");
    EXPECT_EQ(error_of([&] { ec::check_headers_against_signing(headers, std::nullopt); }), "<no error>");
    auto standard =
        ec::parse_signing(R"({"scheme": "standard-webhooks", "secret_from_env": "S"})");
    EXPECT_EQ(error_of([&] { ec::check_headers_against_signing(headers, standard); }), "<no error>");
}
