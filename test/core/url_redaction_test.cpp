#include "core/url_redaction.hpp"

#include <gtest/gtest.h>

using eventhooks::core::redact_credentials;
using eventhooks::core::redact_url;

TEST(RedactUrl, MasksThePasswordKeepsTheUser) {
    EXPECT_EQ(redact_url("https://alice:s3cret@hooks.example.com/path?q=1"),
              "https://alice:***@hooks.example.com/path?q=1");
    EXPECT_EQ(redact_url("http://alice:@127.0.0.1:8080/"), "http://alice:***@127.0.0.1:8080/");
}

TEST(RedactUrl, MasksAUserinfoWithoutColonWhole) {
    // https://TOKEN@host: the user part is the secret.
    EXPECT_EQ(redact_url("https://ghp_token123@example.com/x"), "https://***@example.com/x");
}

TEST(RedactUrl, LeavesUrlsWithoutCredentialsAlone) {
    for (const char *url : {"https://example.com/a@b", "http://127.0.0.1:9/hook",
                            "https://example.com/?email=a@b.c", "https://example.com#x@y",
                            "not a url", ""}) {
        EXPECT_EQ(redact_url(url), url);
    }
}

TEST(RedactUrl, UsesTheLastAtOfTheAuthority) {
    EXPECT_EQ(redact_url("https://us@er:pa@ss@host/"), "https://us@er:***@host/");
}

TEST(RedactUrl, PercentEncodedAndIpv6) {
    EXPECT_EQ(redact_url("https://a%40b:p%3Aw@[::1]:8443/x"), "https://a%40b:***@[::1]:8443/x");
}

TEST(RedactCredentials, EveryUrlInAText) {
    EXPECT_EQ(redact_credentials("invalid URL \"http://u:p@h/\" and https://v:q@i (x)"),
              "invalid URL \"http://u:***@h/\" and https://v:***@i (x)");
}

TEST(RedactCredentials, TheUrlsUserinfoQuotedWithoutScheme) {
    EXPECT_EQ(redact_credentials("Failed to connect to u:pw@host port 80",
                                 "http://u:pw@host/hook"),
              "Failed to connect to u:***@host port 80");
    // Nothing to do for a URL without credentials.
    EXPECT_EQ(redact_credentials("could not resolve host \"h\"", "http://h/"),
              "could not resolve host \"h\"");
}

// Found by test/fuzz/webhook_url_fuzz.cpp: libcurl accepts quotes, parentheses and brackets in a
// URL's password (RFC 3986 sub-delims), and redaction used to end the authority there as it does
// in free text, logging such a password in clear.
TEST(RedactUrl, MasksAPasswordHoldingQuotesOrBrackets) {
    EXPECT_EQ(redact_url("https://user:p'w@example.com:8443/hook"),
              "https://user:***@example.com:8443/hook");
    EXPECT_EQ(redact_url("https://user:(pw)[x]@example.com/"), "https://user:***@example.com/");
    EXPECT_EQ(redact_credentials("Failed to connect to example.com", "https://u:p'w@example.com/"),
              "Failed to connect to example.com");
    EXPECT_EQ(redact_credentials("bad URL https://u:p'w@example.com/", "https://u:p'w@example.com/"),
              "bad URL https://u:***@example.com/");
    // libcurl also reads credentials after a single slash.
    EXPECT_EQ(redact_url("https:/u:pw@example.com/"), "https:/u:***@example.com/");
}
