// Masking of URL credentials (see url_redaction.hpp).
#include "core/url_redaction.hpp"

namespace eventhooks::core {

namespace {

// Where an authority ends: RFC 3986 ends it at "/", "?" or "#"; in free text a URL also ends
// at white space and at the quotes and brackets that usually surround it.
bool ends_authority(char c) {
    switch (c) {
        case '/': case '?': case '#': case ' ': case '\t': case '\r': case '\n':
        case '"': case '\'': case '<': case '>': case '(': case ')': case '[': case ']':
        case '\\':
            return true;
        default: return false;
    }
}

void append_masked_userinfo(std::string &out, std::string_view userinfo) {
    size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
        out.append(userinfo.substr(0, colon));
        out += ':';
    }
    out += kRedactedCredential;
}

// In a string known to be one URL, the authority ends only where RFC 3986 ends it: quotes,
// parentheses and brackets are legal in a userinfo ("https://u:p'w@h/"), and ending there, as
// in free text, would leave such a password unmasked.
bool ends_url_authority(char c) { return c == '/' || c == '?' || c == '#'; }

// Where the authority of `url` starts: after "scheme:" and the slashes that follow it, as
// libcurl reads it ("https:/u:p@h/" is accepted and sends u:p); npos without a scheme.
size_t authority_start(std::string_view url) {
    size_t colon = url.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::string_view::npos;
    for (size_t i = 0; i < colon; i++) {
        char c = url[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        if (!alpha && (i == 0 || !other)) return std::string_view::npos;
    }
    size_t start = colon + 1;
    while (start < url.size() && url[start] == '/') start++;
    return start;
}

// The "userinfo" of `url` (between "scheme:" and slashes, and the authority's last "@"), empty
// when none.
std::string_view userinfo_of(std::string_view url) {
    size_t start = authority_start(url);
    if (start == std::string_view::npos) return {};
    size_t end = start;
    while (end < url.size() && !ends_url_authority(url[end])) end++;
    size_t at = url.substr(start, end - start).rfind('@');
    if (at == std::string_view::npos) return {};
    return url.substr(start, at);
}

}  // namespace

std::string redact_credentials(std::string_view text, std::string_view url) {
    std::string out;
    out.reserve(text.size());
    size_t copied = 0;
    size_t search = 0;
    while (true) {
        size_t scheme_end = text.find("://", search);
        if (scheme_end == std::string_view::npos) break;
        size_t start = scheme_end + 3;
        size_t end = start;
        while (end < text.size() && !ends_authority(text[end])) end++;
        size_t at = text.substr(start, end - start).rfind('@');
        if (at != std::string_view::npos) {
            out.append(text.substr(copied, start - copied));
            append_masked_userinfo(out, text.substr(start, at));
            copied = start + at;  // from the "@" on
        }
        search = end > start ? end : start;
    }
    out.append(text.substr(copied));

    // The same userinfo quoted without its scheme ("user:pw@host:443").
    std::string_view userinfo = userinfo_of(url);
    if (userinfo.empty()) return out;
    std::string needle = std::string(userinfo) + "@";
    std::string masked;
    append_masked_userinfo(masked, userinfo);
    masked += "@";
    if (needle == masked) return out;
    for (size_t at = out.find(needle); at != std::string::npos; at = out.find(needle, at)) {
        out.replace(at, needle.size(), masked);
        at += masked.size();
    }
    return out;
}

std::string redact_url(std::string_view url) {
    std::string_view userinfo = userinfo_of(url);
    if (userinfo.empty()) return std::string(url);
    size_t start = static_cast<size_t>(userinfo.data() - url.data());
    std::string out(url.substr(0, start));
    append_masked_userinfo(out, userinfo);
    out.append(url.substr(start + userinfo.size()));  // from the "@" on
    return out;
}

}  // namespace eventhooks::core
