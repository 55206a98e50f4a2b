#include "http/client_address.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

using namespace confidant::http;

namespace {

IpAddress ip(std::string_view text) {
    auto a = IpAddress::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress{});
}

AddressRange range(std::string_view text) {
    auto r = AddressRange::parse(text);
    EXPECT_TRUE(r.has_value()) << text;
    return r.value_or(AddressRange{});
}

TrustedProxies trusted(std::string_view list) {
    std::string bad;
    auto ranges = parse_address_ranges(list, bad);
    EXPECT_TRUE(ranges.has_value()) << bad;
    return TrustedProxies(ranges.value_or(std::vector<AddressRange>{}));
}

std::string resolve(const TrustedProxies& t, std::string_view peer,
                    std::vector<std::string_view> headers) {
    return t.resolve(ip(peer), headers).to_string();
}

}  // namespace

TEST(IpAddress, ParsesAndWritesCanonically) {
    EXPECT_EQ(ip("203.0.113.7").to_string(), "203.0.113.7");
    EXPECT_TRUE(ip("203.0.113.7").is_v4());
    EXPECT_EQ(ip("2001:DB8:0:0::1").to_string(), "2001:db8::1");
    EXPECT_FALSE(ip("2001:db8::1").is_v4());
    // A dual-stack socket's view of an IPv4 peer is the same client as the IPv4 address.
    EXPECT_EQ(ip("::ffff:198.51.100.2"), ip("198.51.100.2"));
    EXPECT_EQ(ip("::ffff:198.51.100.2").to_string(), "198.51.100.2");
    EXPECT_EQ(ip("::1").to_string(), "::1");
}

TEST(IpAddress, RejectsWhatIsNotAnAddress) {
    for (std::string_view bad :
         {"", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "01.2.3.4x", "::g",
          "1.2.3.4/8", "[::1]", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9"}) {
        EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
    }
}

TEST(AddressRange, Ipv4Cidr) {
    const auto r = range("10.0.0.0/8");
    EXPECT_TRUE(r.contains(ip("10.0.0.0")));
    EXPECT_TRUE(r.contains(ip("10.255.255.255")));
    EXPECT_FALSE(r.contains(ip("11.0.0.0")));
    EXPECT_FALSE(r.contains(ip("9.255.255.255")));
    EXPECT_TRUE(r.contains(ip("::ffff:10.1.2.3")));  // the mapped form is the same address
    EXPECT_FALSE(r.contains(ip("::a01:203")));       // IPv4-compatible IPv6 is not

    const auto odd = range("192.168.1.128/25");
    EXPECT_TRUE(odd.contains(ip("192.168.1.128")));
    EXPECT_TRUE(odd.contains(ip("192.168.1.255")));
    EXPECT_FALSE(odd.contains(ip("192.168.1.127")));

    const auto one = range("172.16.5.4");  // a bare address is /32
    EXPECT_TRUE(one.contains(ip("172.16.5.4")));
    EXPECT_FALSE(one.contains(ip("172.16.5.5")));

    const auto all = range("0.0.0.0/0");
    EXPECT_TRUE(all.contains(ip("8.8.8.8")));
    EXPECT_FALSE(all.contains(ip("2001:db8::1")));  // all of IPv4, none of IPv6
}

TEST(AddressRange, HostBitsAreCleared) {
    const auto r = range("10.1.2.3/8");
    EXPECT_EQ(r.base.to_string(), "10.0.0.0");
    EXPECT_TRUE(r.contains(ip("10.200.0.1")));
    EXPECT_EQ(range("2001:db8:ffff::1/33").base.to_string(), "2001:db8:8000::");
}

TEST(AddressRange, Ipv6Cidr) {
    const auto r = range("fd00::/8");
    EXPECT_TRUE(r.contains(ip("fd12:3456::1")));
    EXPECT_FALSE(r.contains(ip("fe80::1")));
    EXPECT_FALSE(r.contains(ip("10.0.0.1")));

    const auto doc = range("2001:db8::/32");
    EXPECT_TRUE(doc.contains(ip("2001:db8:ffff:ffff::1")));
    EXPECT_FALSE(doc.contains(ip("2001:db9::1")));

    EXPECT_TRUE(range("::1").contains(ip("::1")));
    EXPECT_FALSE(range("::1").contains(ip("::2")));
    EXPECT_TRUE(range("::/0").contains(ip("1.2.3.4")));  // everything, IPv4 included
    EXPECT_TRUE(range("2001:db8::1/127").contains(ip("2001:db8::")));
    EXPECT_FALSE(range("2001:db8::1/127").contains(ip("2001:db8::2")));
}

TEST(AddressRange, RejectsBadEntries) {
    for (std::string_view bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
                                 "10.0.0/8", "proxy.internal", "/8", "10.0.0.0/ 8", ""}) {
        EXPECT_FALSE(AddressRange::parse(bad).has_value()) << bad;
    }
}

TEST(AddressRange, ParsesAList) {
    std::string bad;
    auto list = parse_address_ranges(" 10.0.0.0/8 ,192.168.0.1, fd00::/8 ", bad);
    ASSERT_TRUE(list.has_value()) << bad;
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ((*list)[1].base.to_string(), "192.168.0.1");
    EXPECT_EQ((*list)[1].prefix, 128u);

    EXPECT_TRUE(parse_address_ranges("", bad).value().empty());
    EXPECT_TRUE(parse_address_ranges("  ", bad).value().empty());

    EXPECT_FALSE(parse_address_ranges("10.0.0.0/8, nginx", bad).has_value());
    EXPECT_EQ(bad, "nginx");
    EXPECT_FALSE(parse_address_ranges("10.0.0.0/8,,10.1.0.0/16", bad).has_value());
    EXPECT_EQ(bad, "");
    EXPECT_FALSE(parse_address_ranges("10.0.0.0/8,", bad).has_value());
}

TEST(TrustedProxies, UntrustedPeerIgnoresForwardedFor) {
    const auto t = trusted("10.0.0.0/8");
    EXPECT_EQ(resolve(t, "203.0.113.9", {"1.1.1.1"}), "203.0.113.9");
    EXPECT_EQ(resolve(TrustedProxies{}, "203.0.113.9", {"1.1.1.1"}), "203.0.113.9");
}

TEST(TrustedProxies, TrustedPeerWithoutHeaderIsTheClient) {
    EXPECT_EQ(resolve(trusted("10.0.0.0/8"), "10.0.0.5", {}), "10.0.0.5");
    EXPECT_EQ(resolve(trusted("10.0.0.0/8"), "10.0.0.5", {" "}), "10.0.0.5");
}

TEST(TrustedProxies, RightMostUntrustedAddressIsTheClient) {
    const auto t = trusted("10.0.0.0/8, 2001:db8:1::/48");
    // The client may write anything on the left; only what our proxies appended counts.
    EXPECT_EQ(resolve(t, "10.0.0.1", {"6.6.6.6, 198.51.100.4"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"6.6.6.6, 198.51.100.4, 10.2.3.4"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4,10.2.3.4,2001:db8:1::7"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "2001:db8:1::1", {"2001:db8:2::9"}), "2001:db8:2::9");
}

TEST(TrustedProxies, SeveralHeadersAreOneList) {
    const auto t = trusted("10.0.0.0/8");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4", "10.9.9.9"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"6.6.6.6", "198.51.100.4, 10.9.9.9"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4", ""}), "198.51.100.4");
}

TEST(TrustedProxies, AllTrustedMeansTheLeftMost) {
    const auto t = trusted("10.0.0.0/8");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"10.0.0.3, 10.0.0.2"}), "10.0.0.3");
}

TEST(TrustedProxies, GarbageEndsTheWalkAtTheLastTrustedHop) {
    const auto t = trusted("10.0.0.0/8");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4, unknown"}), "10.0.0.1");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4, nonsense, 10.0.0.2"}), "10.0.0.2");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"unknown, 198.51.100.4"}), "198.51.100.4");
}

TEST(TrustedProxies, PortsAndBracketsAreStripped) {
    const auto t = trusted("10.0.0.0/8");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"198.51.100.4:51234"}), "198.51.100.4");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"[2001:db8::5]:443"}), "2001:db8::5");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"[2001:db8::5]"}), "2001:db8::5");
    EXPECT_EQ(resolve(t, "10.0.0.1", {"::ffff:198.51.100.4"}), "198.51.100.4");
}
