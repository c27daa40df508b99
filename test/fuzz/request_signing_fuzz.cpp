// sign_request (SPEC §6): the secret read from the environment is the input (first line), the
// body the rest. Invariants: no exception; either an error that does not quote the secret, or
// the signature headers of the scheme, with one "v1,<base64 of 32 bytes>" per secret; signing
// the same input twice gives the same headers.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/request_signing.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

namespace {

size_t count_words(std::string_view s) {
    size_t words = 0;
    bool in_word = false;
    for (char c : s) {
        bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (!blank && !in_word) words++;
        in_word = !blank;
    }
    return words;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    size_t nl = text.find('\n');
    std::string secret = text.substr(0, nl);
    secret = secret.substr(0, secret.find('\0'));  // what an environment variable can hold
    std::string body = nl == std::string::npos ? "" : text.substr(nl + 1);
    core::GetenvFn getenv_fn = [&](const char *) { return secret.c_str(); };

    for (const char *scheme : {"standard-webhooks", "hmac-sha256"}) {
        core::SigningConf conf;
        conf.scheme = scheme;
        conf.secret_from_env = "FUZZ_SECRET";
        if (conf.scheme == "hmac-sha256") conf.header = "X-Hub-Signature-256";
        core::Signature one = core::sign_request(conf, getenv_fn, "evt", 1614265330, body);
        core::Signature two = core::sign_request(conf, getenv_fn, "evt", 1614265330, body);
        FUZZ_CHECK(one.error == two.error && one.headers.size() == two.headers.size(),
                   "signing is not deterministic");
        for (size_t i = 0; i < one.headers.size(); i++)
            FUZZ_CHECK(one.headers[i].value == two.headers[i].value, one.headers[i].name);
        if (!one.error.empty()) {
            // The messages' own words may contain a secret made only of their characters
            // (the fuzzer found "whsec_<base64>"); any other secret must not appear.
            static const std::string kMessageCharacters =
                "signing: secret in \"FUZZ_SECRET\" is not valid empty (of 0123456789): "
                "expected whsec_<base64>";
            if (secret.find_first_not_of(kMessageCharacters) != std::string::npos)
                FUZZ_CHECK(one.error.find(secret) == std::string::npos, "error quotes the secret");
            continue;
        }
        for (const auto &h : one.headers) {
            if (h.name == "webhook-signature") {
                // One "v1,<44 base64 characters>" (47) per secret, space-separated.
                size_t signatures = count_words(h.value);
                FUZZ_CHECK(signatures >= 1 && signatures == count_words(secret), h.value);
                FUZZ_CHECK(h.value.size() == signatures * 48 - 1, h.value);
            } else if (h.name == "X-Hub-Signature-256") {
                FUZZ_CHECK(h.value.size() == 7 + 64 && h.value.rfind("sha256=", 0) == 0, h.value);
            }
        }
    }
    return 0;
}
