// Signature headers of a webhook request: HMAC-SHA256 and base64 from OpenSSL; the secret is
// read at send time, used, and wiped; no message ever quotes it.
#include "core/request_signing.hpp"

#include <array>
#include <cstring>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace eventhooks::core {

namespace {

using Digest = std::array<unsigned char, 32>;  // SHA-256

// Key bytes that are wiped when they go out of scope.
struct Key {
    std::string bytes;
    Key() = default;
    Key(const Key &) = delete;
    Key &operator=(const Key &) = delete;
    Key(Key &&other) noexcept : bytes(std::move(other.bytes)) {}
    ~Key() {
        if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
    }
};

bool hmac_sha256(std::string_view key, std::string_view message, Digest &out) {
    unsigned int length = 0;
    const unsigned char *result = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                       reinterpret_cast<const unsigned char *>(message.data()),
                                       message.size(), out.data(), &length);
    return result != nullptr && length == out.size();
}

std::string base64_encode(const Digest &digest) {
    unsigned char encoded[4 * ((sizeof(Digest) + 2) / 3) + 1];
    int length = EVP_EncodeBlock(encoded, digest.data(), static_cast<int>(digest.size()));
    return std::string(reinterpret_cast<char *>(encoded), static_cast<size_t>(length));
}

std::string hex_lower(const Digest &digest) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (unsigned char byte : digest) {
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    return out;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// Strict standard base64 (padded, as Go's StdEncoding in the reference library): EVP_DecodeBlock
// alone skips surrounding blanks and counts padding as zero bytes, so the text is checked first
// and the padding subtracted. False for anything else, or nothing decoded.
bool base64_decode(std::string_view text, Key &out) {
    if (text.empty() || text.size() % 4 != 0) return false;
    size_t padding = 0;
    if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < text.size() - padding; i++)
        if (!is_base64_char(text[i])) return false;
    out.bytes.assign(text.size() / 4 * 3, '\0');
    int length = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.bytes.data()),
                                 reinterpret_cast<const unsigned char *>(text.data()),
                                 static_cast<int>(text.size()));
    if (length < 0 || static_cast<size_t>(length) != out.bytes.size()) return false;
    out.bytes.resize(out.bytes.size() - padding);
    return !out.bytes.empty();
}

std::string quote(const std::string &s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// The space-separated secrets of a rotation (a trailing newline, as `$(cat file)` or an env
// file may leave, separates nothing).
std::vector<std::string_view> split_secrets(std::string_view value) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < value.size()) {
        while (i < value.size() && is_blank(value[i])) i++;
        size_t begin = i;
        while (i < value.size() && !is_blank(value[i])) i++;
        if (i > begin) out.push_back(value.substr(begin, i - begin));
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char &c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The header name of a line built by build_request_headers ("Name: value" or "Name;").
std::string_view line_name(std::string_view line) {
    size_t end = line.find_first_of(":;");
    return end == std::string_view::npos ? line : line.substr(0, end);
}

constexpr std::string_view kSecretPrefix = "whsec_";

}  // namespace

Signature sign_request(const SigningConf &conf, const GetenvFn &getenv_fn,
                       const std::string &event_id, int64_t unix_seconds, std::string_view body) {
    Signature out;
    const bool standard = conf.scheme == "standard-webhooks";
    const std::string signature_header = standard ? "webhook-signature" : conf.header;
    const std::string timestamp = std::to_string(unix_seconds);
    if (standard) out.headers.push_back({"webhook-timestamp", timestamp, false});

    const std::string variable = quote(conf.secret_from_env);
    const char *value = getenv_fn ? getenv_fn(conf.secret_from_env.c_str()) : nullptr;
    auto fail = [&](const std::string &message) {
        out.error = "signing: " + message;
        out.headers.push_back({signature_header, "", true});
        return out;
    };
    if (value == nullptr) return fail("environment variable " + variable + " is not set");
    std::string_view secret(value);

    if (!standard) {
        if (secret.empty()) return fail("secret in " + variable + " is empty");
        Digest digest{};
        if (!hmac_sha256(secret, body, digest)) return fail("HMAC-SHA256 failed");
        out.headers.push_back({signature_header, "sha256=" + hex_lower(digest), true});
        return out;
    }

    std::vector<std::string_view> secrets = split_secrets(secret);
    if (secrets.empty()) return fail("secret in " + variable + " is empty");
    std::string to_sign;
    to_sign.reserve(event_id.size() + timestamp.size() + body.size() + 2);
    to_sign.append(event_id).append(".").append(timestamp).append(".").append(body);
    std::string signatures;
    for (size_t i = 0; i < secrets.size(); i++) {
        std::string_view text = secrets[i];
        if (text.substr(0, kSecretPrefix.size()) == kSecretPrefix)
            text.remove_prefix(kSecretPrefix.size());
        Key key;
        if (!base64_decode(text, key)) {
            std::string which = secrets.size() > 1 ? " (secret " + std::to_string(i + 1) + " of " +
                                                         std::to_string(secrets.size()) + ")"
                                                   : "";
            return fail("secret in " + variable + " is not valid" + which +
                        ": expected whsec_<base64>");
        }
        Digest digest{};
        if (!hmac_sha256(key.bytes, to_sign, digest)) return fail("HMAC-SHA256 failed");
        if (!signatures.empty()) signatures += ' ';
        signatures += "v1," + base64_encode(digest);
    }
    out.headers.push_back({signature_header, signatures, true});
    return out;
}

void add_signature(BuiltHeaders &headers, const Signature &signature) {
    for (const auto &header : signature.headers) {
        const std::string name = lower(header.name);
        auto &lines = headers.lines;
        for (auto it = lines.begin(); it != lines.end();) {
            if (lower(line_name(*it)) == name)
                it = lines.erase(it);
            else
                ++it;
        }
        for (auto it = headers.logged.begin(); it != headers.logged.end();) {
            if (lower(it.key()) == name)
                it = headers.logged.erase(it);
            else
                ++it;
        }
        if (!header.value.empty()) lines.push_back(header.name + ": " + header.value);
        headers.logged[header.name] =
            header.masked ? nlohmann::json("***") : nlohmann::json(header.value);
    }
    if (headers.error.empty()) headers.error = signature.error;
}

}  // namespace eventhooks::core
