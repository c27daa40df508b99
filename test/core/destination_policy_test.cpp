// Unit tests for DestinationList / DestinationPolicy: list parsing (and its error messages),
// address and CIDR matching for IPv4, IPv6 and IPv4-mapped IPv6, host names, and the
// allowed/denied precedence.
#include "core/destination_policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "core/config_error.hpp"

using eventhooks::core::ConfigError;
using eventhooks::core::DestinationList;
using eventhooks::core::DestinationPolicy;

namespace {

DestinationList::Address addr(const char *text) {
    auto a = DestinationList::address_of(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(DestinationList::Address{});
}

bool matches(const DestinationList &list, const char *address, const char *host = "") {
    return list.match(host, addr(address)).has_value();
}

std::string parse_error(const char *text) {
    try {
        DestinationList list(text);
    } catch (const ConfigError &e) {
        return e.what();
    }
    return "(no error)";
}

const char *kDefaultDenied = "169.254.0.0/16, fe80::/10";

}  // namespace

TEST(DestinationList, EmptyListsMatchNothing) {
    EXPECT_TRUE(DestinationList("").empty());
    EXPECT_TRUE(DestinationList(" , ,").empty());
    EXPECT_FALSE(matches(DestinationList(""), "127.0.0.1"));
}

TEST(DestinationList, Ipv4CidrAndAddress) {
    DestinationList list("10.0.0.0/8, 192.168.1.7,172.16.0.0/12");
    EXPECT_TRUE(matches(list, "10.0.0.0"));
    EXPECT_TRUE(matches(list, "10.255.255.255"));
    EXPECT_FALSE(matches(list, "11.0.0.0"));
    EXPECT_FALSE(matches(list, "9.255.255.255"));
    EXPECT_TRUE(matches(list, "192.168.1.7"));
    EXPECT_FALSE(matches(list, "192.168.1.8"));
    EXPECT_TRUE(matches(list, "172.31.255.255"));
    EXPECT_FALSE(matches(list, "172.32.0.0"));
    EXPECT_EQ(list.match("", addr("172.20.1.1")), "172.16.0.0/12");  // the entry as written
}

TEST(DestinationList, PrefixEdges) {
    DestinationList all4("0.0.0.0/0");
    EXPECT_TRUE(matches(all4, "1.2.3.4"));
    EXPECT_FALSE(matches(all4, "::1"));  // families never mix (except IPv4-mapped)
    DestinationList odd("169.254.0.0/17, 2001:db8::/33, ::1/128");
    EXPECT_TRUE(matches(odd, "169.254.127.255"));
    EXPECT_FALSE(matches(odd, "169.254.128.0"));
    EXPECT_TRUE(matches(odd, "2001:db8:7fff::1"));
    EXPECT_FALSE(matches(odd, "2001:db8:8000::"));
    EXPECT_TRUE(matches(odd, "::1"));
    EXPECT_FALSE(matches(odd, "::2"));
}

TEST(DestinationList, Ipv6) {
    DestinationList list("fe80::/10, [::1], fc00::/7");
    EXPECT_TRUE(matches(list, "fe80::1"));
    EXPECT_TRUE(matches(list, "febf:ffff::1"));
    EXPECT_FALSE(matches(list, "fec0::1"));
    EXPECT_TRUE(matches(list, "fe80::1%eth0"));  // zone ids are ignored
    EXPECT_TRUE(matches(list, "::1"));
    EXPECT_TRUE(matches(list, "fd12:3456::1"));
    EXPECT_FALSE(matches(list, "2001:db8::1"));
}

TEST(DestinationList, Ipv4MappedIpv6MatchesIpv4Entries) {
    DestinationList list("169.254.0.0/16, 127.0.0.1");
    EXPECT_TRUE(matches(list, "::ffff:169.254.169.254"));
    EXPECT_TRUE(matches(list, "::ffff:a9fe:a9fe"));
    EXPECT_TRUE(matches(list, "::ffff:127.0.0.1"));
    EXPECT_FALSE(matches(list, "::ffff:127.0.0.2"));
    // And a mapped entry is an IPv4 entry.
    DestinationList mapped("::ffff:10.0.0.0/104, ::ffff:1.2.3.4");
    EXPECT_TRUE(matches(mapped, "10.9.8.7"));
    EXPECT_TRUE(matches(mapped, "1.2.3.4"));
    EXPECT_FALSE(matches(mapped, "11.0.0.1"));
}

TEST(DestinationList, SockaddrForms) {
    DestinationList list("169.254.0.0/16");
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, "::ffff:169.254.169.254", &in6.sin6_addr), 1);
    auto a = DestinationList::address_of(reinterpret_cast<sockaddr *>(&in6), sizeof in6);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->family, AF_INET);
    EXPECT_TRUE(list.match("", *a).has_value());
    sockaddr_in in{};
    in.sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, "169.254.1.1", &in.sin_addr), 1);
    a = DestinationList::address_of(reinterpret_cast<sockaddr *>(&in), sizeof in);
    ASSERT_TRUE(a.has_value());
    EXPECT_TRUE(list.match("", *a).has_value());
    // A truncated sockaddr is not read past its length.
    EXPECT_FALSE(DestinationList::address_of(reinterpret_cast<sockaddr *>(&in), 4).has_value());
}

TEST(DestinationList, HostNames) {
    DestinationList list("Hooks.Example.COM, *.internal.corp, .svc.local, metadata.");
    auto any = addr("203.0.113.9");
    EXPECT_TRUE(list.match("hooks.example.com", any));
    EXPECT_TRUE(list.match("HOOKS.example.com.", any));
    EXPECT_FALSE(list.match("www.hooks.example.com", any));  // exact name only
    EXPECT_FALSE(list.match("example.com", any));
    EXPECT_TRUE(list.match("a.internal.corp", any));
    EXPECT_TRUE(list.match("a.b.internal.corp", any));
    EXPECT_FALSE(list.match("internal.corp", any));  // subdomains, not the domain itself
    EXPECT_FALSE(list.match("xinternal.corp", any));
    EXPECT_TRUE(list.match("x.svc.local", any));
    EXPECT_FALSE(list.match("svc.local", any));
    EXPECT_TRUE(list.match("metadata", any));
    // Names never match addresses, and an IP-literal URL host is not a name.
    EXPECT_FALSE(list.match("203.0.113.9", any));
    EXPECT_FALSE(list.match("", any));
}

TEST(DestinationList, ParseErrorsNameTheEntry) {
    EXPECT_EQ(parse_error("10.0.0.0/8, 10.0.0.1/8"),
              "\"10.0.0.1/8\": host bits set to the right of the prefix (did you mean "
              "10.0.0.0/8?)");
    EXPECT_EQ(parse_error("fe80::1/10"),
              "\"fe80::1/10\": host bits set to the right of the prefix (did you mean "
              "fe80::/10?)");
    EXPECT_EQ(parse_error("10.0.0.0/33"),
              "\"10.0.0.0/33\": prefix length must be a number from 0 to 32");
    EXPECT_EQ(parse_error("::/129"), "\"::/129\": prefix length must be a number from 0 to 128");
    EXPECT_EQ(parse_error("10.0.0.0/"),
              "\"10.0.0.0/\": prefix length must be a number from 0 to 32");
    EXPECT_EQ(parse_error("10.0.0.0/-1"),
              "\"10.0.0.0/-1\": prefix length must be a number from 0 to 32");
    EXPECT_EQ(parse_error("10.0.0.0/ 8"),
              "\"10.0.0.0/ 8\": prefix length must be a number from 0 to 32");
    EXPECT_EQ(parse_error("host.example/8"),
              "\"host.example/8\": not a valid IP address before '/'");
    EXPECT_EQ(parse_error("256.1.1.1"), "\"256.1.1.1\": not a valid IPv4 address");
    EXPECT_EQ(parse_error("10.1"), "\"10.1\": not a valid IPv4 address");
    EXPECT_EQ(parse_error("fe80:::1"), "\"fe80:::1\": not a valid IPv6 address");
    EXPECT_EQ(parse_error("[10.0.0.1]"), "\"[10.0.0.1]\": not a valid IPv6 address in brackets");
    EXPECT_EQ(parse_error("a..b"), "\"a..b\": empty label in host name");
    EXPECT_EQ(parse_error("*."), "\"*.\": empty host name");
    EXPECT_EQ(parse_error(std::string(64, 'a').c_str()),
              "\"" + std::string(64, 'a') + "\": host name label longer than 63 characters");
    EXPECT_EQ(parse_error("127.0.0.1, https://hooks.example.com"),
              "\"https://hooks.example.com\": a URL; give only its host name (such as "
              "hooks.example.com)");
    EXPECT_NE(parse_error("a b").find("' ' is not allowed"), std::string::npos);
    EXPECT_NE(parse_error("*.*.example.com").find("'*' is not allowed"), std::string::npos);
    EXPECT_NE(parse_error("host:80").find("not a valid IPv6 address"), std::string::npos);
}

TEST(DestinationPolicy, DefaultsDenyLinkLocalOnly) {
    DestinationPolicy policy("", kDefaultDenied);
    EXPECT_EQ(policy.refusal("169.254.169.254", addr("169.254.169.254")),
              "169.254.169.254 matches \"169.254.0.0/16\" in eventhooks.denied_destinations");
    EXPECT_EQ(policy.refusal("[fe80::1]", addr("fe80::1")),
              "fe80::1 matches \"fe80::/10\" in eventhooks.denied_destinations");
    EXPECT_EQ(policy.refusal("[::ffff:169.254.169.254]", addr("::ffff:169.254.169.254")),
              "169.254.169.254 (host \"::ffff:169.254.169.254\") matches \"169.254.0.0/16\" in "
              "eventhooks.denied_destinations");
    EXPECT_EQ(policy.refusal("metadata.internal", addr("169.254.169.254")),
              "169.254.169.254 (host \"metadata.internal\") matches \"169.254.0.0/16\" in "
              "eventhooks.denied_destinations");
    EXPECT_FALSE(policy.refusal("127.0.0.1", addr("127.0.0.1")));
    EXPECT_FALSE(policy.refusal("[::1]", addr("::1")));
    EXPECT_FALSE(policy.refusal("example.com", addr("93.184.216.34")));
}

TEST(DestinationPolicy, AllowedListRestricts) {
    DestinationPolicy policy("127.0.0.1, hooks.example.com", kDefaultDenied);
    EXPECT_FALSE(policy.refusal("127.0.0.1", addr("127.0.0.1")));
    EXPECT_FALSE(policy.refusal("localhost", addr("127.0.0.1")));  // the address is allowed
    EXPECT_EQ(policy.refusal("[::1]", addr("::1")),
              "::1 is not in eventhooks.allowed_destinations");
    EXPECT_EQ(policy.refusal("localhost", addr("::1")),
              "::1 (host \"localhost\") is not in eventhooks.allowed_destinations");
    EXPECT_FALSE(policy.refusal("hooks.example.com", addr("198.51.100.1")));  // by its name
    // Denied wins over allowed, also for an allowed name resolving to a denied address
    // (DNS rebinding).
    EXPECT_EQ(policy.refusal("hooks.example.com", addr("169.254.169.254")),
              "169.254.169.254 (host \"hooks.example.com\") matches \"169.254.0.0/16\" in "
              "eventhooks.denied_destinations");
}

TEST(DestinationPolicy, DeniedNames) {
    DestinationPolicy policy("", "metadata.google.internal, *.corp");
    EXPECT_TRUE(policy.refusal("metadata.google.internal", addr("10.0.0.1")));
    EXPECT_TRUE(policy.refusal("git.corp", addr("10.0.0.1")));
    EXPECT_FALSE(policy.refusal("example.com", addr("10.0.0.1")));
}

// libcurl maps a non-ASCII host to ASCII (IDN) after the comparison: full-width
// "ＬＯＣＡＬＨＯＳＴ" and "ⓛocalhost" reach localhost. With host-name entries such hosts are
// refused; with address entries only, the address decides as for any host.
TEST(DestinationPolicy, NonAsciiHostsAreRefusedWhenNamesAreListed) {
    DestinationPolicy denied_name("", "localhost");
    auto why = denied_name.refusal("\xef\xbc\xac\xef\xbc\xaf\xef\xbc\xa3\xef\xbc\xa1\xef\xbc\xac"
                                   "HOST",
                                   addr("127.0.0.1"));
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("not ASCII"), std::string::npos) << *why;
    EXPECT_NE(why->find("eventhooks.denied_destinations"), std::string::npos) << *why;
    EXPECT_TRUE(denied_name.refusal("\xe2\x93\x9bocalhost", addr("127.0.0.1")));
    EXPECT_FALSE(denied_name.refusal("example.com", addr("127.0.0.1")));
    EXPECT_TRUE(DestinationPolicy("hooks.example.com", "").refusal("h\xc3\xb6oks.example.com",
                                                                   addr("10.0.0.1")));
    // Address lists only: no name to get around.
    EXPECT_FALSE(DestinationPolicy("", kDefaultDenied).refusal("b\xc3\xbc" "cher.example",
                                                               addr("10.0.0.1")));
}

TEST(DestinationPolicy, TextAndSockaddrForms) {
    DestinationPolicy policy("", kDefaultDenied);
    EXPECT_TRUE(policy.refusal("x", std::string_view("169.254.1.2")));
    EXPECT_TRUE(policy.refusal("x", std::string_view("fe80::2%lo")));
    EXPECT_FALSE(policy.refusal("x", std::string_view("127.0.0.1")));
    EXPECT_EQ(policy.refusal("x", std::string_view("")), "\"\" is not an IP address");
    // Without any list there is nothing to check, not even the address's form.
    EXPECT_FALSE(DestinationPolicy("", "").refusal("x", std::string_view("")));
    sockaddr_in in{};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
    EXPECT_TRUE(policy.refusal("x", reinterpret_cast<sockaddr *>(&in), sizeof in));
}

TEST(DestinationPolicy, ErrorsNameTheSetting) {
    try {
        DestinationPolicy policy("127.0.0.1, 10.0.0.1/8", "");
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_STREQ(e.what(),
                     "eventhooks.allowed_destinations: \"10.0.0.1/8\": host bits set to the right "
                     "of the prefix (did you mean 10.0.0.0/8?)");
    }
    try {
        DestinationPolicy policy("", "169.254.0.0/16, nonsense!");
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(std::string(e.what()).rfind(
                      "eventhooks.denied_destinations: \"nonsense!\": '!' is not allowed", 0),
                  0u)
            << e.what();
    }
}

// The hosted-database list README.md recommends.
TEST(DestinationPolicy, ReadmeHostedList) {
    DestinationPolicy policy("",
                             "0.0.0.0/8, 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, "
                             "192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, ::, ::1, fc00::/7, "
                             "fe80::/10");
    for (const char *denied :
         {"0.0.0.0", "127.0.0.1", "127.1.2.3", "10.9.9.9", "172.16.0.1", "172.31.255.255",
          "192.168.1.1", "100.64.0.1", "169.254.169.254", "::", "::1", "fd00::1", "fe80::1",
          "::ffff:127.0.0.1", "::ffff:10.0.0.1"})
        EXPECT_TRUE(policy.refusal("", addr(denied))) << denied;
    for (const char *allowed : {"8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:4860::8888"})
        EXPECT_FALSE(policy.refusal("", addr(allowed))) << allowed;
}
