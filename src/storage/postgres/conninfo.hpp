#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace confidant::storage::pg {

/// A PostgreSQL connection string taken apart by libpq (`PQconninfoParse`): every option the
/// text sets, in libpq's keyword order. Accepts both forms libpq accepts:
/// `postgresql://user:pass@host:port/db?sslmode=require` (or `postgres://`) and
/// `host=... port=... dbname=... sslmode=...`. Options are passed to libpq unchanged, so
/// `sslmode` and the other TLS options work as libpq documents them.
struct ConnInfo {
    std::vector<std::pair<std::string, std::string>> options;

    /// The value of `key`, or "" when the text does not set it.
    std::string get(std::string_view key) const;
    bool has(std::string_view key) const;
    /// Sets or replaces `key`.
    void set(std::string_view key, std::string value);
    /// `user@host:port/dbname` for logs and error messages; never the password.
    std::string describe() const;
};

/// Parses a connection string. On error returns one line that starts with `DATABASE_URL: `
/// (libpq's reason, e.g. an unknown option, a malformed URL, a bad `sslmode` or port), ready
/// to be a start-up error. Pure; thread-safe.
boost::system::result<ConnInfo, std::string> parse_conninfo(std::string_view text);

/// True when `text` looks like a PostgreSQL connection string rather than another scheme:
/// a `postgresql://` / `postgres://` URL or libpq's `keyword=value` form.
bool looks_like_conninfo(std::string_view text);

}  // namespace confidant::storage::pg
