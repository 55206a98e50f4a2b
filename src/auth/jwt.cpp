#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "auth/sodium.hpp"

namespace confidant::auth {
namespace {

namespace json = boost::json;

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
// Tokens travel in an Authorization header; anything this long is not one of ours.
constexpr std::size_t kMaxTokenSize = 8192;
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using Mac = std::array<unsigned char, 32>;

Mac hmac_sha256(std::string_view key, std::string_view data) {
    Mac mac{};
    unsigned int size = 0;
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
             &size) == nullptr ||
        size != mac.size()) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return mac;
}

Error unauthorized(std::string message) {
    return make_error(ErrorCode::unauthorized, std::move(message));
}

std::optional<json::object> parse_object(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    return std::move(v.as_object());
}

// A JSON number as whole seconds (RFC 7519 NumericDate may carry a fraction).
std::optional<std::int64_t> numeric_date(const json::value& v) {
    if (v.is_int64()) {
        return v.get_int64();
    }
    if (v.is_uint64()) {
        if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(v.get_uint64());
    }
    if (v.is_double()) {
        const double d = v.get_double();
        // ±2^62 keeps the conversion and later arithmetic with the leeway well defined.
        if (!std::isfinite(d) || std::fabs(d) > 4.6e18) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(std::floor(d));
    }
    return std::nullopt;
}

bool ascii_iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
               return lower(x) == lower(y);
           });
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += kAlphabet[n & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t n = byte(i) << 16;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
    } else if (rest == 2) {
        const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '-') {
            return 62;
        }
        if (c == '_') {
            return 63;
        }
        return -1;
    };
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value(c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    // Leftover bits (2 or 4) must be zero, or two encodings would decode to the same bytes.
    if ((acc & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

std::string random_jti() {
    detail::ensure_sodium();
    std::array<unsigned char, 16> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    std::array<char, 33> hex{};
    sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
    return std::string(hex.data(), 32);
}

std::string random_secret() {
    detail::ensure_sodium();
    std::array<unsigned char, 32> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    return base64url_encode(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

JwtCodec::JwtCodec(std::string secret, std::chrono::seconds leeway, const Clock& clock)
    : secret_(std::move(secret)),
      leeway_(std::clamp(leeway, std::chrono::seconds{0}, kMaxLeeway)),
      clock_(clock) {
    if (secret_.empty()) {
        throw std::invalid_argument("JWT secret is empty");
    }
}

Claims JwtCodec::issue(std::string sub, std::string role, std::chrono::seconds ttl) const {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
            .count();
    return Claims{std::move(sub), std::move(role), now, now + ttl.count(), random_jti()};
}

std::string JwtCodec::sign(const Claims& claims) const {
    json::object payload;
    payload["sub"] = claims.sub;
    payload["role"] = claims.role;
    payload["iat"] = claims.iat;
    payload["exp"] = claims.exp;
    payload["jti"] = claims.jti.empty() ? random_jti() : claims.jti;
    std::string token = base64url_encode(kHeader);
    token += '.';
    token += base64url_encode(json::serialize(payload));
    const Mac mac = hmac_sha256(secret_, token);
    token += '.';
    token +=
        base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
    return token;
}

Result<Claims> JwtCodec::verify(std::string_view token) const {
    if (token.empty() || token.size() > kMaxTokenSize) {
        return unauthorized("malformed token");
    }
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return unauthorized("malformed token");
    }
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);

    const auto header_json = base64url_decode(header_b64);
    const auto header = header_json ? parse_object(*header_json) : std::nullopt;
    if (!header) {
        return unauthorized("malformed token");
    }
    const json::value* alg = header->if_contains("alg");
    if (alg == nullptr || !alg->is_string() || alg->get_string() != "HS256") {
        return unauthorized("unsupported token algorithm");
    }
    if (const json::value* typ = header->if_contains("typ");
        typ != nullptr && (!typ->is_string() || !ascii_iequals(typ->get_string(), "JWT"))) {
        return unauthorized("unsupported token type");
    }
    if (header->contains("crit")) {
        return unauthorized("unsupported token header");
    }

    const auto signature = base64url_decode(signature_b64);
    const Mac expected = hmac_sha256(secret_, token.substr(0, dot2));
    if (!signature || signature->size() != expected.size() ||
        CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
        return unauthorized("invalid token signature");
    }

    const auto payload_json = base64url_decode(payload_b64);
    const auto payload = payload_json ? parse_object(*payload_json) : std::nullopt;
    if (!payload) {
        return unauthorized("malformed token");
    }
    Claims claims;
    const json::value* sub = payload->if_contains("sub");
    if (sub == nullptr || !sub->is_string()) {
        return unauthorized("token without subject");
    }
    claims.sub = std::string(sub->get_string());
    const json::value* exp = payload->if_contains("exp");
    const auto exp_value = exp != nullptr ? numeric_date(*exp) : std::nullopt;
    if (!exp_value) {
        return unauthorized("token without expiry");
    }
    claims.exp = *exp_value;
    if (const json::value* iat = payload->if_contains("iat"); iat != nullptr) {
        const auto v = numeric_date(*iat);
        if (!v) {
            return unauthorized("malformed token");
        }
        claims.iat = *v;
    }
    if (const json::value* role = payload->if_contains("role"); role != nullptr) {
        if (!role->is_string()) {
            return unauthorized("malformed token");
        }
        claims.role = std::string(role->get_string());
    }
    if (const json::value* jti = payload->if_contains("jti"); jti != nullptr) {
        if (!jti->is_string()) {
            return unauthorized("malformed token");
        }
        claims.jti = std::string(jti->get_string());
    }

    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
            .count();
    const std::int64_t leeway = leeway_.count();
    // Like PyJWT: expired once now >= exp + leeway (written so that no sum can overflow).
    if (now - leeway >= claims.exp) {
        return unauthorized("token expired");
    }
    if (const json::value* nbf = payload->if_contains("nbf"); nbf != nullptr) {
        const auto v = numeric_date(*nbf);
        if (!v || *v > now + leeway) {
            return unauthorized("token not yet valid");
        }
    }
    return claims;
}

}  // namespace confidant::auth
