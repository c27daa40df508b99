// DestinationList / DestinationPolicy (eventhooks.allowed_destinations / denied_destinations,
// SPEC §6). Input: the list on the first line, then a URL host and a numeric address to check.
// Invariants: ConfigError is the only exception; every address entry of a list that parsed
// matches its own address; a deny list refuses exactly what it matches, an allow list exactly
// what it does not; denied wins (a list given as both settings refuses everything).
#include <algorithm>
#include <string>
#include <string_view>

#include "core/config_error.hpp"
#include "core/destination_policy.hpp"
#include "fuzz_check.hpp"

namespace core = eventhooks::core;

namespace {

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string_view next_line(std::string_view &rest) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char *data, std::size_t size) {
    std::string text = fuzz_text(data, size);
    std::string_view rest = text;
    std::string list(next_line(rest));
    std::string host(next_line(rest));
    std::string address_text(next_line(rest));

    core::DestinationList parsed;
    try {
        parsed = core::DestinationList(list);
    } catch (const core::ConfigError &) {
        return 0;
    }
    // Each entry that is a plain address (brackets allowed) matches that address.
    std::string_view entries = list;
    while (!entries.empty()) {
        size_t comma = entries.find(',');
        std::string_view entry = trimmed(entries.substr(0, comma));
        entries = comma == std::string_view::npos ? std::string_view() : entries.substr(comma + 1);
        if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']')
            entry = entry.substr(1, entry.size() - 2);
        if (entry.find('%') != std::string_view::npos) continue;  // zone ids: not in lists
        auto own = core::DestinationList::address_of(entry);
        if (own) FUZZ_CHECK(parsed.match("", *own).has_value(), std::string(entry));
    }

    auto address = core::DestinationList::address_of(address_text);
    if (!address) return 0;
    // A host that is not ASCII is refused outright while the list has names (libcurl's IDN
    // mapping would happen after the comparison): the invariants below are for the others.
    bool ascii = std::all_of(host.begin(), host.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (!ascii && parsed.has_names()) {
        FUZZ_CHECK(core::DestinationPolicy("", list).refusal(host, *address).has_value(),
                   "a non-ASCII host passed a list with names");
        return 0;
    }
    bool matches = parsed.match(host, *address).has_value();
    core::DestinationPolicy deny_only("", list);
    FUZZ_CHECK(deny_only.refusal(host, *address).has_value() == matches,
               "deny list: refuse exactly what is listed");
    // Denied wins: given as both settings, a list refuses what it matches (denied) and what it
    // does not (not allowed).
    core::DestinationPolicy both(list, list);
    FUZZ_CHECK(both.refusal(host, *address).has_value() == !parsed.empty(), "denied must win");
    core::DestinationPolicy allow_only(list, "");
    bool refused = allow_only.refusal(host, *address).has_value();
    FUZZ_CHECK(refused == (!parsed.empty() && !matches), "allow list: refuse what is not listed");
    return 0;
}
