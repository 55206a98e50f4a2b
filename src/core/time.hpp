#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace confidant {

/// Seconds since the Unix epoch, UTC.
using UnixSeconds = std::int64_t;

inline UnixSeconds unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// RFC 3339 UTC with a `Z`, whole seconds: `2026-11-29T19:05:23Z`.
std::string format_rfc3339(UnixSeconds t);
/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; nullopt when malformed.
std::optional<UnixSeconds> parse_rfc3339(std::string_view s);
/// The start of the UTC day containing `t`.
inline UnixSeconds utc_day_start(UnixSeconds t) { return t - ((t % 86400) + 86400) % 86400; }

}  // namespace confidant
