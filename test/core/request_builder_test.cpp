// Unit tests of src/core/request_builder: the webhook body (every field, escaping, payload
// spliced verbatim), request headers (defaults, env values present/absent, masking in the log)
// and webhook URL resolution.
#include "core/request_builder.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ec = eventhooks::core;
using nlohmann::json;

namespace {

// A fake environment.
struct FakeEnv {
    std::map<std::string, std::string> vars;
    ec::GetenvFn fn() const {
        return [this](const char *name) -> const char * {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

ec::HeaderConf literal(const std::string &name, const std::string &value) {
    ec::HeaderConf h;
    h.name = name;
    h.value = value;
    return h;
}

ec::HeaderConf from_env(const std::string &name, const std::string &var) {
    ec::HeaderConf h;
    h.name = name;
    h.value_from_env = var;
    return h;
}

}  // namespace

TEST(EventBody, AllFields) {
    ec::EventForDelivery e;
    e.id = "018f3a4b-5c6d-7e8f-90a1-b2c3d4e5f607";
    e.trigger_name = "order_created";
    e.schema_name = "public";
    e.table_name = "orders";
    e.payload_json =
        R"({"op": "INSERT", "data": {"old": null, "new": {"id": 1, "note": "a\"b"}}, "session_variables": null})";
    e.created_at = "2024-05-01T12:34:56.789012+00:00";
    e.max_retries = 3;
    e.current_retry = 2;

    std::string body = ec::build_event_body(e);
    json j = json::parse(body);
    EXPECT_EQ(j.size(), 6u);
    EXPECT_EQ(j["event"], json::parse(e.payload_json));
    EXPECT_EQ(j["event"]["data"]["new"]["note"], "a\"b");
    EXPECT_EQ(j["created_at"], e.created_at);
    EXPECT_EQ(j["id"], e.id);
    EXPECT_EQ(j["delivery_info"], json::parse(R"({"max_retries": 3, "current_retry": 2})"));
    EXPECT_EQ(j["trigger"], json::parse(R"({"name": "order_created"})"));
    EXPECT_EQ(j["table"], json::parse(R"({"schema": "public", "name": "orders"})"));
}

TEST(EventBody, ExactTextWithPayloadVerbatim) {
    ec::EventForDelivery e;
    e.id = "i";
    e.trigger_name = "t";
    e.schema_name = "s";
    e.table_name = "n";
    e.payload_json = R"({"op" :  "MANUAL", "data": {"old": null, "new": {"x": 1.50}}})";
    e.created_at = "c";
    e.max_retries = 0;
    e.current_retry = 0;
    EXPECT_EQ(
        ec::build_event_body(e),
        R"({"event":{"op" :  "MANUAL", "data": {"old": null, "new": {"x": 1.50}}},"created_at":"c","id":"i",)"
        R"("delivery_info":{"max_retries":0,"current_retry":0},"trigger":{"name":"t"},)"
        R"("table":{"schema":"s","name":"n"}})");
}

TEST(EventBody, StringsAreEscaped) {
    ec::EventForDelivery e;
    e.id = "id";
    e.trigger_name = "tr\"ig";
    e.schema_name = "My \"Schema\"\\x";
    e.table_name = "tab\nle\t\x01 é";
    e.payload_json = "{}";
    e.created_at = "2024";
    e.max_retries = 10000;
    e.current_retry = 9999;
    json j = json::parse(ec::build_event_body(e));
    EXPECT_EQ(j["trigger"]["name"], "tr\"ig");
    EXPECT_EQ(j["table"]["schema"], "My \"Schema\"\\x");
    EXPECT_EQ(j["table"]["name"], "tab\nle\t\x01 é");
    EXPECT_EQ(j["delivery_info"]["max_retries"], 10000);
    EXPECT_EQ(j["delivery_info"]["current_retry"], 9999);
}

TEST(EventBody, InvalidUtf8IsReplacedNotThrown) {
    ec::EventForDelivery e;
    e.id = "id";
    e.trigger_name = "t";
    e.schema_name = "s";
    e.table_name = "bad\xff";
    e.payload_json = "{}";
    json j = json::parse(ec::build_event_body(e));
    EXPECT_EQ(j["table"]["name"], "bad\xef\xbf\xbd");
}

TEST(RequestHeaders, DefaultsOnly) {
    FakeEnv env;
    auto h = ec::build_request_headers({}, "evt-1", env.fn());
    EXPECT_EQ(h.error, "");
    EXPECT_EQ(h.lines,
              (std::vector<std::string>{"Content-Type: application/json", "webhook-id: evt-1"}));
    EXPECT_EQ(h.logged,
              json::parse(R"({"Content-Type": "application/json", "webhook-id": "evt-1"})"));
}

TEST(RequestHeaders, LiteralAndEnvValues) {
    FakeEnv env;
    env.vars["API_TOKEN"] = "s3cr3t";
    env.vars["PLAIN"] = "visible-in-request";
    auto h = ec::build_request_headers(
        {literal("X-Tenant", "acme"), from_env("X-Api-Token", "API_TOKEN"),
         from_env("X-Plain", "PLAIN"), literal("X-Empty", "")},
        "evt-2", env.fn());
    EXPECT_EQ(h.error, "");
    EXPECT_EQ(h.lines, (std::vector<std::string>{
                           "Content-Type: application/json", "webhook-id: evt-2", "X-Tenant: acme",
                           "X-Api-Token: s3cr3t", "X-Plain: visible-in-request", "X-Empty;"}));
    // Values from the environment are never logged, whatever the header name.
    EXPECT_EQ(h.logged, json::parse(R"({"Content-Type": "application/json", "webhook-id": "evt-2",
                                        "X-Tenant": "acme", "X-Api-Token": "***", "X-Plain": "***",
                                        "X-Empty": ""})"));
}

TEST(RequestHeaders, SensitiveLiteralValuesAreMasked) {
    FakeEnv env;
    auto h = ec::build_request_headers(
        {literal("Authorization", "Bearer abc"), literal("cookie", "sid=1"),
         literal("Proxy-Authorization", "p"), literal("X-Hasura-Admin-Secret", "x"),
         literal("X-Api-Key", "k"), literal("X-Auth-Token", "t"), literal("X-Hub-Signature", "s"),
         literal("X-Password", "pw"), literal("X-Request-Source", "db")},
        "e", env.fn());
    EXPECT_EQ(h.error, "");
    EXPECT_EQ(h.lines.size(), 11u);
    EXPECT_EQ(h.lines[2], "Authorization: Bearer abc");
    for (const char *name :
         {"Authorization", "cookie", "Proxy-Authorization", "X-Hasura-Admin-Secret", "X-Api-Key",
          "X-Auth-Token", "X-Hub-Signature", "X-Password"}) {
        EXPECT_EQ(h.logged[name], "***") << name;
    }
    EXPECT_EQ(h.logged["X-Request-Source"], "db");
    EXPECT_EQ(h.logged["webhook-id"], "e");
}

TEST(RequestHeaders, SensitiveNames) {
    EXPECT_TRUE(ec::is_sensitive_header_name("AUTHORIZATION"));
    EXPECT_TRUE(ec::is_sensitive_header_name("x-SECRET-thing"));
    EXPECT_FALSE(ec::is_sensitive_header_name("Content-Type"));
    EXPECT_FALSE(ec::is_sensitive_header_name("webhook-id"));
    EXPECT_FALSE(ec::is_sensitive_header_name("X-Tenant"));
}

TEST(RequestHeaders, ConfiguredContentTypeReplacesDefault) {
    FakeEnv env;
    auto h = ec::build_request_headers({literal("content-type", "application/cloudevents+json")},
                                       "e", env.fn());
    EXPECT_EQ(h.lines, (std::vector<std::string>{"webhook-id: e",
                                                 "content-type: application/cloudevents+json"}));
    EXPECT_FALSE(h.logged.contains("Content-Type"));
}

TEST(RequestHeaders, UnsetEnvVariableIsAnError) {
    FakeEnv env;
    env.vars["B"] = "b";
    auto h = ec::build_request_headers(
        {from_env("X-Key", "FOO"), from_env("X-B", "B"), from_env("X-C", "ALSO_MISSING")}, "e",
        env.fn());
    EXPECT_EQ(h.error, R"(header "X-Key": environment variable "FOO" is not set)");
    EXPECT_EQ(h.logged["X-Key"], "***");
    EXPECT_EQ(h.logged["X-B"], "***");
    EXPECT_EQ(h.lines.back(), "X-B: b");
}

TEST(RequestHeaders, EnvValueWithLineBreakIsAnError) {
    FakeEnv env;
    env.vars["EVIL"] = "a\r\nHost: other";
    auto h = ec::build_request_headers({from_env("X-E", "EVIL")}, "e", env.fn());
    EXPECT_EQ(h.error, R"(header "X-E": environment variable "EVIL" contains a line break)");
    for (const auto &line : h.lines) EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(ResolveWebhookUrl, Literal) {
    FakeEnv env;
    std::string error = "stale";
    EXPECT_EQ(ec::resolve_webhook_url("https://x/h", "", env.fn(), error), "https://x/h");
    EXPECT_EQ(error, "");
    EXPECT_EQ(ec::resolve_webhook_url("", "", env.fn(), error), "");
    EXPECT_EQ(error, "webhook: must not be empty");
}

TEST(ResolveWebhookUrl, FromEnv) {
    FakeEnv env;
    env.vars["HOOK"] = "https://hooks.example.com/x?token=abc";
    std::string error;
    EXPECT_EQ(ec::resolve_webhook_url("", "HOOK", env.fn(), error),
              "https://hooks.example.com/x?token=abc");
    EXPECT_EQ(error, "");

    EXPECT_EQ(ec::resolve_webhook_url("", "MISSING", env.fn(), error), "");
    EXPECT_EQ(error, R"(webhook_from_env: environment variable "MISSING" is not set)");
}

TEST(ResolveWebhookUrl, InvalidUrlInEnvIsNotEchoed) {
    FakeEnv env;
    env.vars["HOOK"] = "ftp://user:secret@x/";
    env.vars["BAD"] = "secret-token-not-a-url";
    env.vars["EMPTY"] = "";
    std::string error;
    EXPECT_EQ(ec::resolve_webhook_url("", "HOOK", env.fn(), error), "");
    EXPECT_EQ(error,
              R"(webhook_from_env: environment variable "HOOK" is not an http or https URL)");
    EXPECT_EQ(ec::resolve_webhook_url("", "BAD", env.fn(), error), "");
    EXPECT_EQ(error,
              R"(webhook_from_env: environment variable "BAD" is not a valid URL: Bad scheme)");
    EXPECT_EQ(ec::resolve_webhook_url("", "EMPTY", env.fn(), error), "");
    EXPECT_EQ(error, R"(webhook_from_env: environment variable "EMPTY" must not be empty)");
}
