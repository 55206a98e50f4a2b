#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace confidant::http {

/// An IPv4 or IPv6 address. IPv4 (and IPv4-mapped IPv6, `::ffff:a.b.c.d`, which a dual-stack
/// socket reports for IPv4 peers) is held as IPv4-mapped IPv6, so that one range test covers
/// both forms and one client has one spelling.
struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};

    /// Parses `1.2.3.4` or an IPv6 address (no brackets, no port, no zone). nullopt otherwise.
    static std::optional<IpAddress> parse(std::string_view text);
    /// From a socket's bytes: 4 (IPv4, network order) or 16 (IPv6).
    static IpAddress from_bytes(const std::uint8_t* data, std::size_t size);

    bool is_v4() const;
    /// The canonical text: dotted quad for IPv4 (mapped ones included), RFC 5952 for IPv6.
    std::string to_string() const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

/// An address range (CIDR): `10.0.0.0/8`, `fd00::/8`, or one address (`/32`, `/128`).
struct AddressRange {
    IpAddress base;         ///< host bits cleared
    unsigned prefix = 128;  ///< leading bits that must match, on the 128-bit (mapped) form

    /// Parses `ADDRESS` or `ADDRESS/BITS` (BITS at most 32 for IPv4, 128 for IPv6). Host bits
    /// below the prefix are cleared (`10.1.2.3/8` is `10.0.0.0/8`). nullopt when malformed.
    static std::optional<AddressRange> parse(std::string_view text);

    bool contains(const IpAddress& address) const;
};

/// Parses a comma-separated list of ranges (TRUSTED_PROXIES); blanks around entries are
/// ignored, an empty text is an empty list. On a malformed entry returns nullopt and sets
/// `bad_entry` to it.
std::optional<std::vector<AddressRange>> parse_address_ranges(std::string_view text,
                                                              std::string& bad_entry);

/// Which peers may say who the client is (X-Forwarded-For).
class TrustedProxies {
  public:
    TrustedProxies() = default;
    explicit TrustedProxies(std::vector<AddressRange> ranges) : ranges_(std::move(ranges)) {}

    bool empty() const { return ranges_.empty(); }
    bool contains(const IpAddress& address) const;

    /// The client of a request that arrived from `peer` with these X-Forwarded-For header
    /// values (in the order the headers came; each a comma-separated list). When `peer` is not
    /// trusted the headers are ignored and the answer is `peer`. Otherwise the list is walked
    /// from the right (the hop nearest to us): the first address that is not a trusted proxy
    /// is the client; if every address is trusted, the left-most one; an entry that is not an
    /// address (`unknown`, garbage) ends the walk and the last trusted hop before it is the
    /// client, since nothing further left can be believed. Entries may carry a port
    /// (`1.2.3.4:5678`, `[::1]:80`).
    IpAddress resolve(const IpAddress& peer, std::span<const std::string_view> forwarded_for) const;

  private:
    std::vector<AddressRange> ranges_;
};

}  // namespace confidant::http
