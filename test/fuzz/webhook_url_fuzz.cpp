// webhook_url_problem / validate_webhook_url (the webhook argument, and webhook_from_env's value
// at send time) and redact_url / redact_credentials (URL credentials kept out of logs).
// Invariants: validate throws ConfigError exactly when webhook_url_problem names a problem, and
// nothing else escapes; an accepted URL has no white space or control characters; redaction is
// idempotent, never grows a text without "@", and in an accepted URL that libcurl reads a
// password from, the redacted URL gives libcurl only "***" as password.
#include <curl/curl.h>

#include <memory>

#include "core/request_builder.hpp"
#include "core/trigger_config.hpp"
#include "core/url_redaction.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

namespace {

// libcurl's reading of part `part` of `url`; nullopt when it has none (or rejects the URL).
std::optional<std::string> curl_part(const std::string &url, CURLUPart part) {
    std::unique_ptr<CURLU, void (*)(CURLU *)> h(curl_url(), curl_url_cleanup);
    if (!h || curl_url_set(h.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
    char *s = nullptr;
    if (curl_url_get(h.get(), part, &s, 0) != CURLUE_OK) return std::nullopt;
    std::string out(s);
    curl_free(s);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string url = fuzz_text(data, size);
    std::string problem = core::webhook_url_problem(url);
    bool threw = false;
    try {
        core::validate_webhook_url("webhook", url);
    } catch (const core::ConfigError &e) {
        threw = true;
        FUZZ_CHECK(std::string(e.what()).rfind("webhook: ", 0) == 0, e.what());
    }
    FUZZ_CHECK(threw == !problem.empty(), problem);

    // An environment variable's value ends at its first NUL.
    std::string env_value(url.c_str());
    std::string env_problem = core::webhook_url_problem(env_value);
    std::string error;
    auto getenv_fn = [&env_value](const char *) { return env_value.c_str(); };
    std::string resolved = core::resolve_webhook_url("", "URL", getenv_fn, error);
    FUZZ_CHECK(error.empty() == env_problem.empty(), error);
    if (!env_problem.empty()) {
        // Messages about a URL from the environment never repeat it (it may hold credentials).
        FUZZ_CHECK(resolved.empty(), "rejected URL returned");
    } else {
        FUZZ_CHECK(resolved == env_value, "accepted URL changed");
    }
    if (problem.empty()) {
        for (char c : url) {
            auto u = static_cast<unsigned char>(c);
            FUZZ_CHECK(u > 0x20 && u != 0x7F, "white space or control character accepted");
        }
    }

    std::string redacted = core::redact_credentials(url);
    FUZZ_CHECK(core::redact_credentials(redacted) == redacted, "redaction not idempotent");
    if (url.find('@') == std::string::npos) FUZZ_CHECK(redacted == url, "changed without @");
    std::string url_redacted = core::redact_url(url);
    FUZZ_CHECK(core::redact_url(url_redacted) == url_redacted, "redact_url not idempotent");
    if (url.find('@') == std::string::npos) FUZZ_CHECK(url_redacted == url, "changed without @");

    if (problem.empty()) {
        auto password = curl_part(url, CURLUPART_PASSWORD);
        if (password && !password->empty()) {
            for (const std::string &r : {core::redact_url(url), core::redact_credentials(url, url)}) {
                auto after = curl_part(r, CURLUPART_PASSWORD);
                FUZZ_CHECK(!after || *after == core::kRedactedCredential,
                           "libcurl still reads a password after redaction: " + r);
            }
        }
    }
    return 0;
}
