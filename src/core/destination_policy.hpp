// destination_policy.hpp: which destinations webhooks may reach (SPEC §6,
// eventhooks.allowed_destinations / eventhooks.denied_destinations), parsed from the settings'
// lists and checked against the address a connection actually goes to.
//
// A list is comma-separated; each entry is one of
//   - an IPv4 or IPv6 address: 10.1.2.3, ::1, [::1]          (matches that address only)
//   - a CIDR: 10.0.0.0/8, fe80::/10                          (host bits must be zero)
//   - a host name: hooks.example.com                          (exact, case-insensitive)
//   - a domain suffix: .example.com or *.example.com          (any subdomain, not the domain)
// Addresses and CIDRs match the socket address curl connects to (after name resolution, so
// DNS rebinding cannot get around them); names match the host written in the webhook URL.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as the IPv4 address a.b.c.d.
//
// Plain C++17; immutable once built, so one policy may be read from several threads.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventhooks::core {

// One parsed list. Throws ConfigError naming the bad entry, e.g.
//   "10.0.0.1/8": host bits set to the right of the prefix (did you mean 10.0.0.0/8?)
class DestinationList {
  public:
    DestinationList() = default;
    explicit DestinationList(std::string_view text);

    bool empty() const { return networks_.empty() && names_.empty(); }
    bool has_names() const { return !names_.empty(); }
    // The entry (as written) matching the URL host or the address; nullopt if none.
    // `host` is the URL's host (brackets around an IPv6 literal are ignored);
    // `address` is in network form (see Address).
    struct Address {
        int family = 0;  // AF_INET or AF_INET6
        std::array<uint8_t, 16> bytes{};
    };
    std::optional<std::string> match(std::string_view host, const Address &address) const;

    // Address of a sockaddr (AF_INET/AF_INET6), IPv4-mapped IPv6 turned into IPv4;
    // nullopt for other families.
    static std::optional<Address> address_of(const struct sockaddr *sa, socklen_t len);
    // Address of a numeric string ("127.0.0.1", "::1", "fe80::1%eth0"); nullopt if not one.
    static std::optional<Address> address_of(std::string_view text);

  private:
    struct Network {
        Address base;
        int prefix_len = 0;
        std::string text;
    };
    struct Name {
        std::string name;  // lower case, no trailing dot, no "*." / "." prefix
        bool subdomains = false;
        std::string text;
    };
    std::vector<Network> networks_;
    std::vector<Name> names_;
};

// Both settings together. Denied wins: a destination matching denied_destinations is refused
// even if it also matches allowed_destinations.
class DestinationPolicy {
  public:
    DestinationPolicy() = default;  // allows everything
    // Throws ConfigError naming the setting and the bad entry.
    DestinationPolicy(std::string_view allowed, std::string_view denied);

    // Why a connection to `address` for a URL with host `host` is refused, in plain words
    // ("169.254.169.254 matches \"169.254.0.0/16\" in eventhooks.denied_destinations"), or
    // nullopt if it is allowed. A host name with non-ASCII characters is refused when a list
    // has host-name entries: libcurl maps it to ASCII (IDN: "ＬＯＣＡＬＨＯＳＴ" reaches
    // localhost) after our comparison, which would let it past a denied name.
    std::optional<std::string> refusal(std::string_view host,
                                       const DestinationList::Address &address) const;
    std::optional<std::string> refusal(std::string_view host, const struct sockaddr *sa,
                                       socklen_t len) const;
    // The connected peer's numeric address as text (curl's CURLINFO_PRIMARY_IP).
    std::optional<std::string> refusal(std::string_view host, std::string_view address) const;

    bool restricts() const { return !allowed_.empty() || !denied_.empty(); }

  private:
    DestinationList allowed_;
    DestinationList denied_;
};

}  // namespace eventhooks::core
