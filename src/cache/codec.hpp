#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confidant::cache::codec {

/// First byte of every encoded value. Chosen outside ASCII so that a plain string or JSON
/// document written by older code never decodes as a versioned value.
inline constexpr unsigned char kMagic = 0xC7;

/// Prefixes `payload` with kMagic and `schema_version` as an unsigned LEB128 varint.
/// Bump the schema version whenever the payload's shape changes: values written by another
/// version then read as misses and are reloaded, never misparsed.
inline std::string encode(std::uint32_t schema_version, std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 6);
    out.push_back(static_cast<char>(kMagic));
    std::uint32_t v = schema_version;
    do {
        auto byte = static_cast<unsigned char>(v & 0x7Fu);
        v >>= 7;
        if (v != 0) {
            byte |= 0x80u;
        }
        out.push_back(static_cast<char>(byte));
    } while (v != 0);
    out.append(payload);
    return out;
}

/// The payload of `bytes` without copying, or nullopt when `bytes` is not an encoded value or
/// was written with a schema version other than `expected_version`. The view aliases `bytes`.
inline std::optional<std::string_view> decode_view(std::uint32_t expected_version,
                                                   std::string_view bytes) noexcept {
    if (bytes.empty() || static_cast<unsigned char>(bytes[0]) != kMagic) {
        return std::nullopt;
    }
    std::uint64_t version = 0;
    std::size_t i = 1;
    for (int shift = 0;; shift += 7) {
        if (i >= bytes.size() || shift > 28) {
            return std::nullopt;  // truncated or over-long varint
        }
        const auto byte = static_cast<unsigned char>(bytes[i++]);
        version |= static_cast<std::uint64_t>(byte & 0x7Fu) << shift;
        if ((byte & 0x80u) == 0) {
            break;
        }
    }
    if (version != expected_version) {
        return std::nullopt;
    }
    return bytes.substr(i);
}

/// Like decode_view, returning an owned copy of the payload.
inline std::optional<std::string> decode(std::uint32_t expected_version, std::string_view bytes) {
    auto view = decode_view(expected_version, bytes);
    if (!view) {
        return std::nullopt;
    }
    return std::string(*view);
}

}  // namespace confidant::cache::codec
