// Unit tests of src/core/request_signing: the Standard Webhooks specification's published test
// vector, rotation, base64 padding, hmac-sha256 against GitHub's documented example and a value
// computed with Python's hmac module, and errors (missing or malformed secret) that never quote
// the secret.
#include "core/request_signing.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace ec = eventhooks::core;
using nlohmann::json;

namespace {

struct FakeEnv {
    std::map<std::string, std::string> vars;
    ec::GetenvFn fn() const {
        return [this](const char *name) -> const char * {
            auto it = vars.find(name);
            return it == vars.end() ? nullptr : it->second.c_str();
        };
    }
};

ec::SigningConf standard(const std::string &var = "WH_SECRET") {
    return {"standard-webhooks", var, ""};
}

ec::SigningConf hmac(const std::string &var = "WH_SECRET",
                     const std::string &header = "X-Hub-Signature-256") {
    return {"hmac-sha256", var, header};
}

// The vector of the specification's reference libraries (libraries/go/webhook_test.go
// TestWebhookSign in standard-webhooks/standard-webhooks; recomputed with Python's hmac).
const char *const kVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const char *const kVectorId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const int64_t kVectorTimestamp = 1614265330;
const char *const kVectorBody = R"({"test": 2432232314})";
const char *const kVectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::map<std::string, std::string> header_map(const ec::Signature &s) {
    std::map<std::string, std::string> out;
    for (const auto &h : s.headers) out[h.name] = h.value;
    return out;
}

ec::Signature sign_vector(const std::string &secret_value) {
    FakeEnv env{{{"WH_SECRET", secret_value}}};
    return ec::sign_request(standard(), env.fn(), kVectorId, kVectorTimestamp, kVectorBody);
}

}  // namespace

TEST(RequestSigning, StandardWebhooksPublishedVector) {
    ec::Signature s = sign_vector(kVectorSecret);
    EXPECT_EQ(s.error, "");
    auto headers = header_map(s);
    EXPECT_EQ(headers.size(), 2u);  // webhook-id comes from build_request_headers
    EXPECT_EQ(headers["webhook-timestamp"], "1614265330");
    EXPECT_EQ(headers["webhook-signature"], kVectorSignature);
}

TEST(RequestSigning, StandardWebhooksPrefixIsOptional) {
    // The reference libraries strip an optional "whsec_" before decoding.
    EXPECT_EQ(header_map(sign_vector("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))["webhook-signature"],
              kVectorSignature);
}

TEST(RequestSigning, StandardWebhooksRotationGivesOneSignaturePerSecret) {
    // Second key: the 32 bytes "0123456789abcdef0123456789abcdef" (one '=' of padding).
    ec::Signature s = sign_vector(std::string(kVectorSecret) +
                                  "  whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n");
    EXPECT_EQ(s.error, "");
    EXPECT_EQ(header_map(s)["webhook-signature"],
              std::string(kVectorSignature) + " v1,hK4CWvngkaAwjY1pABLuUbOIkEJjW9tAapq1no4ojG0=");
}

TEST(RequestSigning, StandardWebhooksDecodesDoublePadding) {
    // "a key of thirty-one bytes long!" (31 bytes, "==") and its 30-byte sibling (no padding).
    EXPECT_EQ(header_map(sign_vector(
                  "whsec_YSBrZXkgb2YgdGhpcnR5LW9uZSBieXRlcyBsb25nIQ=="))["webhook-signature"],
              "v1,H8crKf9x371QspbkXBZ/EzJ/ZZSqlmhLlXOhwRUb1Gw=");
    EXPECT_EQ(header_map(sign_vector(
                  "whsec_YSBrZXkgb2YgdGhpcnR5IGJ5dGVzLCBsZW5ndGgh"))["webhook-signature"],
              "v1,YAKvqWajOFG5o6ffFDgGxd6hlV8XzQ+gWcmTAv+zdGE=");
}

TEST(RequestSigning, StandardWebhooksPaddingIsNotKeyMaterial) {
    // HMAC pads keys shorter than its 64-byte block with zeros, so only a key of 64 bytes or
    // more shows padding wrongly decoded as zero bytes: bytes 0..63 ("==").
    EXPECT_EQ(header_map(sign_vector("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJyg"
                                     "pKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="))["webhook-signature"],
              "v1,LZ5zuwHTqQH3VM8ERUusjzVQq1FXzemvpR8Mk7Ivp5c=");
}

TEST(RequestSigning, StandardWebhooksTimestampIsSigned) {
    ec::Signature later = [] {
        FakeEnv env{{{"WH_SECRET", kVectorSecret}}};
        return ec::sign_request(standard(), env.fn(), kVectorId, kVectorTimestamp + 1, kVectorBody);
    }();
    EXPECT_EQ(header_map(later)["webhook-timestamp"], "1614265331");
    EXPECT_NE(header_map(later)["webhook-signature"], kVectorSignature);
}

TEST(RequestSigning, HmacSha256GitHubExample) {
    // GitHub's documented example for X-Hub-Signature-256 (also Python's hmac.new(...)).
    FakeEnv env{{{"GH", "It's a Secret to Everybody"}}};
    ec::Signature s = ec::sign_request(hmac("GH"), env.fn(), "ignored", 0, "Hello, World!");
    EXPECT_EQ(s.error, "");
    ASSERT_EQ(s.headers.size(), 1u);
    EXPECT_EQ(s.headers[0].name, "X-Hub-Signature-256");
    EXPECT_EQ(s.headers[0].value,
              "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(RequestSigning, HmacSha256CustomHeaderAndRawSecret) {
    // python3 -c 'import hmac,hashlib;print(hmac.new(b"topsecret",b"{\"id\":\"e1\"}",
    //             hashlib.sha256).hexdigest())'
    FakeEnv env{{{"S", "topsecret"}}};
    ec::Signature s =
        ec::sign_request(hmac("S", "X-Signature"), env.fn(), "e1", 5, R"({"id":"e1"})");
    EXPECT_EQ(s.error, "");
    EXPECT_EQ(header_map(s)["X-Signature"],
              "sha256=b50facbba3f0a244ddddbe1596f555540201d8086ef828ff458202cf1ea37b66");
}

TEST(RequestSigning, MissingSecret) {
    FakeEnv env;
    ec::Signature s = ec::sign_request(standard("NOPE"), env.fn(), "id", 1, "{}");
    EXPECT_EQ(s.error, R"(signing: environment variable "NOPE" is not set)");
    s = ec::sign_request(hmac("NOPE"), env.fn(), "id", 1, "{}");
    EXPECT_EQ(s.error, R"(signing: environment variable "NOPE" is not set)");
    s = ec::sign_request(hmac("NOPE"), nullptr, "id", 1, "{}");
    EXPECT_EQ(s.error, R"(signing: environment variable "NOPE" is not set)");
}

TEST(RequestSigning, EmptySecret) {
    FakeEnv env{{{"S", ""}, {"B", "  \n"}}};
    EXPECT_EQ(ec::sign_request(hmac("S"), env.fn(), "id", 1, "{}").error,
              R"(signing: secret in "S" is empty)");
    EXPECT_EQ(ec::sign_request(standard("B"), env.fn(), "id", 1, "{}").error,
              R"(signing: secret in "B" is empty)");
}

TEST(RequestSigning, MalformedStandardSecretsNeverQuoted) {
    const char *const bad[] = {
        "whsec_not*base64*at*all!",                // not the alphabet
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2",        // length not a multiple of 4 (unpadded)
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La=aSw",  // '=' inside
        "whsec_",                                  // nothing after the prefix
        "whsec_====",                              // padding only
        "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   // another kind of key
    };
    for (const char *secret : bad) {
        ec::Signature s = sign_vector(secret);
        EXPECT_EQ(s.error,
                  R"(signing: secret in "WH_SECRET" is not valid: expected whsec_<base64>)")
            << secret;
        for (const auto &h : s.headers) EXPECT_EQ(h.value.find("MfKQ"), std::string::npos);
    }
    // The second of a rotation is bad: which one is said, not what it holds.
    ec::Signature s = sign_vector(std::string(kVectorSecret) + " whsec_oops!");
    EXPECT_EQ(
        s.error,
        R"(signing: secret in "WH_SECRET" is not valid (secret 2 of 2): expected whsec_<base64>)");
    EXPECT_EQ(s.error.find("oops"), std::string::npos);
    EXPECT_EQ(s.error.find("MfKQ"), std::string::npos);
}

TEST(RequestSigning, AddSignatureMasksAndKeepsOneOfEach) {
    FakeEnv env{{{"WH_SECRET", kVectorSecret}}};
    std::vector<ec::HeaderConf> configured(1);
    configured[0].name = "X-Trace";
    configured[0].value = "t1";
    ec::BuiltHeaders headers = ec::build_request_headers(configured, kVectorId, env.fn());
    ec::add_signature(
        headers, ec::sign_request(standard(), env.fn(), kVectorId, kVectorTimestamp, kVectorBody));
    EXPECT_EQ(headers.error, "");
    std::vector<std::string> expected_lines = {
        "Content-Type: application/json", std::string("webhook-id: ") + kVectorId, "X-Trace: t1",
        "webhook-timestamp: 1614265330", std::string("webhook-signature: ") + kVectorSignature};
    EXPECT_EQ(headers.lines, expected_lines);
    EXPECT_EQ(headers.logged["webhook-id"], kVectorId);
    EXPECT_EQ(headers.logged["webhook-timestamp"], "1614265330");
    EXPECT_EQ(headers.logged["webhook-signature"], "***");
    EXPECT_EQ(headers.logged.dump().find("MfKQ"), std::string::npos);
    EXPECT_EQ(headers.logged.dump().find("g0hM"), std::string::npos);
}

TEST(RequestSigning, AddSignatureReplacesSameNamedConfiguredHeader) {
    FakeEnv env{{{"S", "topsecret"}}};
    std::vector<ec::HeaderConf> configured(1);
    configured[0].name = "x-hub-signature-256";
    configured[0].value = "stale";
    ec::BuiltHeaders headers = ec::build_request_headers(configured, "e1", env.fn());
    ec::add_signature(headers, ec::sign_request(hmac("S"), env.fn(), "e1", 0, R"({"id":"e1"})"));
    int count = 0;
    for (const auto &line : headers.lines)
        if (line.find("ignature-256") != std::string::npos) {
            count++;
            EXPECT_EQ(line,
                      "X-Hub-Signature-256: sha256=b50facbba3f0a244ddddbe1596f555540201d8086"
                      "ef828ff458202cf1ea37b66");
        }
    EXPECT_EQ(count, 1);
    EXPECT_EQ(headers.logged.size(), 3u);  // Content-Type, webhook-id, the signature
    EXPECT_EQ(headers.logged["X-Hub-Signature-256"], "***");
}

TEST(RequestSigning, AddSignatureErrorKeepsFirstProblemAndSendsNoSignature) {
    FakeEnv env;
    ec::BuiltHeaders headers = ec::build_request_headers({}, "e1", env.fn());
    ec::add_signature(headers, ec::sign_request(standard("GONE"), env.fn(), "e1", 7, "{}"));
    EXPECT_EQ(headers.error, R"(signing: environment variable "GONE" is not set)");
    for (const auto &line : headers.lines)
        EXPECT_EQ(line.find("webhook-signature"), std::string::npos);
    EXPECT_EQ(headers.logged["webhook-signature"], "***");

    headers.error = "header \"A\": environment variable \"X\" is not set";
    ec::add_signature(headers, ec::sign_request(standard("GONE"), env.fn(), "e1", 7, "{}"));
    EXPECT_EQ(headers.error, "header \"A\": environment variable \"X\" is not set");
}
