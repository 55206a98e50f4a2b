#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace confidant::redis {

/// The parts of a `redis://` URL.
struct Url {
    std::string host;
    std::uint16_t port = 6379;
    std::string user;      ///< empty: AUTH with the password only (default user)
    std::string password;  ///< empty: no AUTH
    int db = 0;
};

/// Parses `redis://[[user]:password@]host[:port][/db]` (percent-decoding user and password;
/// IPv6 literals in brackets). `rediss://` (TLS) and `unix://` are refused: plain TCP only.
/// Returns `bad_request` with a message naming the problem when the URL is malformed.
Result<Url> parse_url(std::string_view url);

}  // namespace confidant::redis
