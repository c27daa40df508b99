// destination_policy.cpp: parsing and matching of destination lists (see destination_policy.hpp).
#include "core/destination_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "core/config_error.hpp"

namespace eventhooks::core {

namespace {

using Address = DestinationList::Address;

constexpr const char *kAllowedSetting = "eventhooks.allowed_destinations";
constexpr const char *kDeniedSetting = "eventhooks.denied_destinations";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_name(std::string_view s) {
    std::string out(s);
    for (char &c : out) c = lower(c);
    if (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." is example.com
    return out;
}

// ::ffff:a.b.c.d is how an IPv4 peer looks on an IPv6 socket: match it as a.b.c.d.
Address unmap(const Address &a) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.family != AF_INET6 || std::memcmp(a.bytes.data(), kMapped, 12) != 0) return a;
    Address v4;
    v4.family = AF_INET;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
}

std::optional<Address> parse_numeric(const std::string &text) {
    Address a;
    if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return std::nullopt;
}

int bits_of(int family) { return family == AF_INET ? 32 : 128; }

// Whether the first prefix_len bits of a and b are equal.
bool same_prefix(const Address &a, const Address &b, int prefix_len) {
    int full = prefix_len / 8;
    if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<size_t>(full)) != 0) return false;
    int rest = prefix_len % 8;
    if (rest == 0) return true;
    auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (b.bytes[full] & mask);
}

bool host_bits_zero(const Address &a, int prefix_len) {
    int bytes = bits_of(a.family) / 8;
    for (int bit = prefix_len; bit < bytes * 8; ++bit)
        if (a.bytes[bit / 8] & (0x80 >> (bit % 8))) return false;
    return true;
}

Address network_part(const Address &a, int prefix_len) {
    Address out = a;
    int bytes = bits_of(a.family) / 8;
    for (int bit = prefix_len; bit < bytes * 8; ++bit)
        out.bytes[bit / 8] = static_cast<uint8_t>(out.bytes[bit / 8] & ~(0x80 >> (bit % 8)));
    return out;
}

std::string to_text(const Address &a) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (!inet_ntop(a.family, a.bytes.data(), buf, sizeof buf)) return "?";
    return buf;
}

[[noreturn]] void bad_entry(std::string_view entry, const std::string &why) {
    throw ConfigError("\"" + std::string(entry) + "\": " + why);
}

bool valid_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Checks a lower-cased host name (no trailing dot); throws for the entry if it is not one.
void check_name(std::string_view entry, const std::string &name) {
    if (name.empty()) bad_entry(entry, "empty host name");
    if (name.size() > 253) bad_entry(entry, "host name longer than 253 characters");
    if (name.find_first_not_of("0123456789.") == std::string::npos)
        bad_entry(entry, "not a valid IPv4 address");
    if (name.find(':') != std::string::npos) bad_entry(entry, "not a valid IPv6 address");
    size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) bad_entry(entry, "empty label in host name");
            label = 0;
        } else if (!valid_label_char(c)) {
            bad_entry(entry, std::string("'") + c +
                                 "' is not allowed in a host name (expected a host name, "
                                 "\"*.domain\", an IP address or a CIDR such as 10.0.0.0/8; "
                                 "no scheme, port or path)");
        } else if (++label > 63) {
            bad_entry(entry, "host name label longer than 63 characters");
        }
    }
    if (label == 0) bad_entry(entry, "empty label in host name");
}

}  // namespace

DestinationList::DestinationList(std::string_view text) {
    while (!text.empty()) {
        size_t comma = text.find(',');
        std::string_view entry = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        if (entry.empty()) continue;  // "a, b," or an empty setting

        size_t slash = entry.find('/');
        std::string_view addr_text = entry.substr(0, slash);
        bool bracketed =
            addr_text.size() >= 2 && addr_text.front() == '[' && addr_text.back() == ']';
        if (bracketed) addr_text = addr_text.substr(1, addr_text.size() - 2);
        std::optional<Address> addr = parse_numeric(std::string(addr_text));
        if (bracketed && (!addr || addr->family != AF_INET6))
            bad_entry(entry, "not a valid IPv6 address in brackets");

        if (slash != std::string_view::npos) {
            if (!addr && entry.find("://") != std::string_view::npos)
                bad_entry(entry, "a URL; give only its host name (such as hooks.example.com)");
            if (!addr) bad_entry(entry, "not a valid IP address before '/'");
            std::string_view len_text = entry.substr(slash + 1);
            int max = bits_of(addr->family);
            if (len_text.empty() || len_text.size() > 3 ||
                len_text.find_first_not_of("0123456789") != std::string_view::npos)
                bad_entry(entry, "prefix length must be a number from 0 to " + std::to_string(max));
            int len = std::stoi(std::string(len_text));
            if (len > max)
                bad_entry(entry, "prefix length must be a number from 0 to " + std::to_string(max));
            // Like Postgres's cidr type: an address with host bits set is most likely a typo
            // (10.1.2.3/8 meaning 10.1.2.3 or 10.0.0.0/8?), so say so rather than guess.
            if (!host_bits_zero(*addr, len))
                bad_entry(entry, "host bits set to the right of the prefix (did you mean " +
                                     to_text(network_part(*addr, len)) + "/" + std::to_string(len) +
                                     "?)");
            Address base = *addr;
            if (base.family == AF_INET6 && len >= 96 && unmap(base).family == AF_INET) {
                base = unmap(base);  // ::ffff:10.0.0.0/104 is 10.0.0.0/8
                len -= 96;
            }
            networks_.push_back(Network{base, len, std::string(entry)});
        } else if (addr) {
            Address base = unmap(*addr);
            networks_.push_back(Network{base, bits_of(base.family), std::string(entry)});
        } else {
            std::string_view rest = entry;
            bool subdomains = false;
            if (rest.substr(0, 2) == "*.") {
                rest.remove_prefix(2);
                subdomains = true;
            } else if (rest.substr(0, 1) == ".") {
                rest.remove_prefix(1);
                subdomains = true;
            }
            std::string name = lower_name(rest);
            check_name(entry, name);
            names_.push_back(Name{std::move(name), subdomains, std::string(entry)});
        }
    }
}

std::optional<std::string> DestinationList::match(std::string_view host,
                                                  const Address &address) const {
    Address a = unmap(address);
    for (const auto &n : networks_)
        if (n.base.family == a.family && same_prefix(n.base, a, n.prefix_len)) return n.text;
    if (names_.empty()) return std::nullopt;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::string h = lower_name(host);
    for (const auto &n : names_) {
        if (n.subdomains) {
            // "a.example.com" ends with ".example.com"; "badexample.com" does not.
            if (h.size() > n.name.size() + 1 &&
                h.compare(h.size() - n.name.size(), n.name.size(), n.name) == 0 &&
                h[h.size() - n.name.size() - 1] == '.')
                return n.text;
        } else if (h == n.name) {
            return n.text;
        }
    }
    return std::nullopt;
}

std::optional<Address> DestinationList::address_of(const struct sockaddr *sa, socklen_t len) {
    Address a;
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        a.family = AF_INET;
        std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in *>(sa)->sin_addr, 4);
        return unmap(a);
    }
    if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        a.family = AF_INET6;
        std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr, 16);
        return unmap(a);
    }
    return std::nullopt;
}

std::optional<Address> DestinationList::address_of(std::string_view text) {
    text = text.substr(0, text.find('%'));  // a zone id ("fe80::1%eth0") is not part of it
    auto a = parse_numeric(std::string(text));
    if (!a) return std::nullopt;
    return unmap(*a);
}

DestinationPolicy::DestinationPolicy(std::string_view allowed, std::string_view denied) {
    try {
        allowed_ = DestinationList(allowed);
    } catch (const ConfigError &e) {
        throw ConfigError(std::string(kAllowedSetting) + ": " + e.what());
    }
    try {
        denied_ = DestinationList(denied);
    } catch (const ConfigError &e) {
        throw ConfigError(std::string(kDeniedSetting) + ": " + e.what());
    }
}

std::optional<std::string> DestinationPolicy::refusal(std::string_view host,
                                                      const Address &address) const {
    // "10.0.0.5 (host \"hooks.internal\")": the address, and the name when the URL had one.
    auto who = [&]() {
        std::string text = to_text(unmap(address));
        std::string h(host);
        if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
        if (!h.empty() && lower_name(h) != text) text += " (host \"" + h + "\")";
        return text;
    };
    if (denied_.has_names() || allowed_.has_names()) {
        bool ascii = std::all_of(host.begin(), host.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        if (!ascii)
            return who() + ": a host name that is not ASCII cannot be checked against the " +
                   "host names in " + (denied_.has_names() ? kDeniedSetting : kAllowedSetting) +
                   "; write it in its xn-- (punycode) form";
    }
    if (auto entry = denied_.match(host, address))
        return who() + " matches \"" + *entry + "\" in " + kDeniedSetting;
    if (!allowed_.empty() && !allowed_.match(host, address))
        return who() + " is not in " + kAllowedSetting;
    return std::nullopt;
}

std::optional<std::string> DestinationPolicy::refusal(std::string_view host,
                                                      const struct sockaddr *sa,
                                                      socklen_t len) const {
    auto address = DestinationList::address_of(sa, len);
    if (!address) {
        if (!restricts()) return std::nullopt;
        return "address family " + std::to_string(sa->sa_family) + " is not an IP address";
    }
    return refusal(host, *address);
}

std::optional<std::string> DestinationPolicy::refusal(std::string_view host,
                                                      std::string_view address) const {
    auto parsed = DestinationList::address_of(address);
    if (!parsed) {
        if (!restricts()) return std::nullopt;
        return "\"" + std::string(address) + "\" is not an IP address";
    }
    return refusal(host, *parsed);
}

}  // namespace eventhooks::core
