#include "http/client_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace confidant::http {

namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// An X-Forwarded-For entry without its port: `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`.
std::optional<IpAddress> parse_forwarded_entry(std::string_view entry) {
    entry = trim(entry);
    if (!entry.empty() && entry.front() == '[') {
        const auto close = entry.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        return IpAddress::parse(entry.substr(1, close - 1));
    }
    if (const auto colon = entry.find(':');
        colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
        entry = entry.substr(0, colon);  // one colon: IPv4 with a port
    }
    return IpAddress::parse(entry);
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) {
        return std::nullopt;
    }
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (text.find(':') == std::string_view::npos) {
        in_addr v4{};
        if (::inet_pton(AF_INET, buf, &v4) != 1) {
            return std::nullopt;
        }
        return from_bytes(reinterpret_cast<const std::uint8_t*>(&v4), 4);
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, buf, &v6) != 1) {
        return std::nullopt;
    }
    return from_bytes(reinterpret_cast<const std::uint8_t*>(&v6), 16);
}

IpAddress IpAddress::from_bytes(const std::uint8_t* data, std::size_t size) {
    IpAddress a;
    if (size == 4) {
        std::memcpy(a.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
        std::memcpy(a.bytes.data() + 12, data, 4);
    } else if (size == 16) {
        std::memcpy(a.bytes.data(), data, 16);
    }
    return a;
}

bool IpAddress::is_v4() const {
    return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const char* out = is_v4() ? ::inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf)
                              : ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return out != nullptr ? std::string(out) : std::string();
}

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
    text = trim(text);
    const auto slash = text.find('/');
    auto address = IpAddress::parse(text.substr(0, slash));
    if (!address) {
        return std::nullopt;
    }
    const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    unsigned bits = v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            bits > (v4 ? 32u : 128u)) {
            return std::nullopt;
        }
    }
    AddressRange r;
    r.prefix = v4 ? bits + 96 : bits;
    r.base = *address;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned first_bit = i * 8;
        if (first_bit >= r.prefix) {
            r.base.bytes[i] = 0;
        } else if (first_bit + 8 > r.prefix) {
            r.base.bytes[i] &= static_cast<std::uint8_t>(0xff << (first_bit + 8 - r.prefix));
        }
    }
    return r;
}

bool AddressRange::contains(const IpAddress& address) const {
    const unsigned whole = prefix / 8;
    if (std::memcmp(address.bytes.data(), base.bytes.data(), whole) != 0) {
        return false;
    }
    const unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (address.bytes[whole] & mask) == base.bytes[whole];
}

std::optional<std::vector<AddressRange>> parse_address_ranges(std::string_view text,
                                                              std::string& bad_entry) {
    std::vector<AddressRange> out;
    if (trim(text).empty()) {
        return out;
    }
    for (;;) {
        const auto comma = text.find(',');
        const auto entry = trim(text.substr(0, comma));
        auto range = AddressRange::parse(entry);
        if (!range) {
            bad_entry = std::string(entry);
            return std::nullopt;
        }
        out.push_back(*range);
        if (comma == std::string_view::npos) {
            return out;
        }
        text.remove_prefix(comma + 1);
    }
}

bool TrustedProxies::contains(const IpAddress& address) const {
    for (const auto& r : ranges_) {
        if (r.contains(address)) {
            return true;
        }
    }
    return false;
}

IpAddress TrustedProxies::resolve(const IpAddress& peer,
                                  std::span<const std::string_view> forwarded_for) const {
    if (!contains(peer)) {
        return peer;
    }
    IpAddress client = peer;  // the nearest hop we believe so far
    for (auto header = forwarded_for.rbegin(); header != forwarded_for.rend(); ++header) {
        std::string_view list = *header;
        for (;;) {
            const auto comma = list.rfind(',');
            const auto entry = comma == std::string_view::npos ? list : list.substr(comma + 1);
            if (!trim(entry).empty()) {
                auto hop = parse_forwarded_entry(entry);
                if (!hop) {
                    return client;  // a broken chain: nothing left of here can be believed
                }
                client = *hop;
                if (!contains(client)) {
                    return client;
                }
            }
            if (comma == std::string_view::npos) {
                break;
            }
            list = list.substr(0, comma);
        }
    }
    return client;  // every hop was a trusted proxy: the left-most is the origin
}

}  // namespace confidant::http
