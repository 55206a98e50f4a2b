#include "redis/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

namespace confidant::redis {
namespace {

Error bad(std::string what) {
    return make_error(ErrorCode::bad_request, "invalid REDIS_URL: " + std::move(what));
}

}  // namespace

Result<Url> parse_url(std::string_view text) {
    if (text.empty()) {
        return bad("empty");
    }
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        return bad("not a URL (" + parsed.error().message() + ")");
    }
    const boost::urls::url_view u = *parsed;
    const std::string scheme = u.scheme();
    if (scheme == "rediss") {
        return bad("TLS (rediss://) is not supported; use redis://");
    }
    if (scheme != "redis") {
        return bad("scheme must be redis://, got " + scheme + "://");
    }
    if (!u.has_authority()) {
        return bad("missing host");
    }
    Url out;
    if (u.host_type() == boost::urls::host_type::ipv6) {
        out.host = u.host_address();
    } else {
        out.host = u.host();
    }
    if (out.host.empty()) {
        return bad("missing host");
    }
    if (u.has_port()) {
        const auto p = u.port();
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size() || value == 0 ||
            value > 65535) {
            return bad("port must be 1..65535, got '" + std::string(p) + "'");
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    if (u.has_userinfo()) {
        out.user = u.user();
        if (u.has_password()) {
            out.password = u.password();
        }
        // `redis://secret@host` has no colon: treat the lone part as the password, as the
        // Redis CLI and redis-py's legacy form do.
        if (!u.has_password() && !out.user.empty()) {
            out.password = std::move(out.user);
            out.user.clear();
        }
    }
    std::string_view path = u.encoded_path();
    if (!path.empty() && path != "/") {
        if (path.front() != '/') {
            return bad("path must be /<db>");
        }
        path.remove_prefix(1);
        int db = 0;
        auto [ptr, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
        if (ec != std::errc{} || ptr != path.data() + path.size() || db < 0) {
            return bad("database must be a non-negative integer, got '" + std::string(path) + "'");
        }
        out.db = db;
    }
    if (u.has_query() || u.has_fragment()) {
        return bad("query and fragment are not supported");
    }
    return out;
}

}  // namespace confidant::redis
