#include <boost/json/parse.hpp>
#include <charconv>

#include "api/context.hpp"
#include "api/json.hpp"
#include "auth/jwt.hpp"
#include "cache/local/local_cache.hpp"
#include "core/error.hpp"
#include "domain/users.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace confidant::api {

namespace {

[[noreturn]] void unauthorized(std::string message) {
    throw ErrorException(make_error(ErrorCode::unauthorized, std::move(message)));
}

std::string_view bearer_token(const http::Request& req) {
    const auto h = req.header(http::bhttp::field::authorization);
    if (h.size() < 7 || !boost::beast::iequals(h.substr(0, 7), "bearer ")) {
        return {};
    }
    auto tok = h.substr(7);
    while (!tok.empty() && tok.front() == ' ') {
        tok.remove_prefix(1);
    }
    return tok;
}

// A token is remembered only after it verified, under its exact text, and only until it
// expires (with the codec's leeway), so a hit is as good as a fresh verification.
std::optional<std::int64_t> cached_verification(Services& s, std::string_view token) {
    if (s.token_cache == nullptr) {
        return std::nullopt;
    }
    auto v = s.token_cache->get_sync(token);
    if (!v) {
        return std::nullopt;
    }
    std::int64_t id = 0;
    std::int64_t exp = 0;
    const auto colon = v->find(':');
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    std::from_chars(v->data(), v->data() + colon, id);
    std::from_chars(v->data() + colon + 1, v->data() + v->size(), exp);
    if (id <= 0 || unix_now() > exp + auth::JwtCodec::kMaxLeeway.count()) {
        return std::nullopt;
    }
    return id;
}

void remember_verification(Services& s, std::string_view token, std::int64_t id, std::int64_t exp) {
    if (s.token_cache == nullptr) {
        return;
    }
    const auto ttl = std::min<std::int64_t>(300, exp - unix_now());
    if (ttl > 0) {
        s.token_cache->set_sync(token, std::to_string(id) + ":" + std::to_string(exp),
                                std::chrono::seconds(ttl));
    }
}

Task<Caller> authenticate(Services& s, const http::Request& req) {
    const auto token = bearer_token(req);
    if (token.empty()) {
        unauthorized("a bearer token is required");
    }
    std::int64_t id = 0;
    if (auto known = cached_verification(s, token)) {
        id = *known;
    } else {
        auto claims = s.jwt->verify(token);
        if (!claims) {
            unauthorized(claims.error().message);
        }
        const auto& sub = claims->sub;
        auto [p, ec] = std::from_chars(sub.data(), sub.data() + sub.size(), id);
        if (ec != std::errc() || p != sub.data() + sub.size() || id <= 0) {
            unauthorized("invalid token subject");
        }
        remember_verification(s, token, id, claims->exp);
    }
    auto profile = co_await s.users->profile(id);
    if (!profile) {
        unauthorized("unknown user");
    }
    Caller c;
    c.user_id = id;
    c.profile = std::move(*profile);
    co_return c;
}

}  // namespace

http::Handler require_user(Services& s, AuthedHandler h) {
    return [&s, h = std::move(h)](http::Request& req) -> Task<http::Response> {
        Caller caller = co_await authenticate(s, req);
        req.principal = http::Principal{caller.user_id, caller.profile.role};
        co_return co_await h(req, caller);
    };
}

http::Handler require_admin(Services& s, AuthedHandler h) {
    return [&s, h = std::move(h)](http::Request& req) -> Task<http::Response> {
        Caller caller = co_await authenticate(s, req);
        if (!caller.is_admin()) {
            throw ErrorException(make_error(ErrorCode::forbidden, "admin role required"));
        }
        req.principal = http::Principal{caller.user_id, caller.profile.role};
        if (s.limiter != nullptr) {
            const std::string key = "admin:" + std::to_string(caller.user_id);
            auto d = co_await s.limiter->hit(key, s.settings->admin_rate_limit_per_minute,
                                             std::chrono::seconds(60));
            if (!d.allowed) {
                throw ErrorException(make_error(ErrorCode::rate_limited,
                                                "admin rate limit exceeded",
                                                std::max<long>(1, d.retry_after_s)));
            }
        }
        co_return co_await h(req, caller);
    };
}

}  // namespace confidant::api
