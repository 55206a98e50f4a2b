#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace confidant::auth {

/// The claims Confidant puts in (and reads from) an access token. On the wire `sub` is a
/// string (the user id), `iat`/`exp` are integers (Unix seconds), `jti` a random hex id.
struct Claims {
    std::string sub;
    std::string role;
    std::int64_t iat = 0;
    std::int64_t exp = 0;
    std::string jti;
};

/// HS256 JSON Web Tokens (RFC 7519), compatible with standard JWT libraries (PyJWT, jose).
///
/// `verify` accepts only a header whose `alg` is exactly "HS256" (`typ`, when present, must be
/// "JWT"; a `crit` header is refused), a signature checked in constant time, a numeric `exp`
/// not older than now - leeway, an `nbf` (when present) not later than now + leeway, and a
/// string `sub`. Every failure is `ErrorCode::unauthorized` with a short message that reveals
/// nothing about which check failed beyond a word. Thread-safe (immutable after construction).
class JwtCodec {
  public:
    /// The largest leeway honoured; larger values are clamped.
    static constexpr std::chrono::seconds kMaxLeeway{30};

    /// Throws std::invalid_argument when `secret` is empty. `clock` must outlive the codec.
    explicit JwtCodec(std::string secret, std::chrono::seconds leeway = kMaxLeeway,
                      const Clock& clock = Clock::real());

    /// Signs `claims`; an empty `jti` is replaced by a fresh random one.
    std::string sign(const Claims& claims) const;
    Result<Claims> verify(std::string_view token) const;

    /// Claims for a new token: iat = now, exp = now + ttl, a random jti.
    Claims issue(std::string sub, std::string role, std::chrono::seconds ttl) const;

  private:
    std::string secret_;
    std::chrono::seconds leeway_;
    const Clock& clock_;
};

/// 16 random bytes (libsodium) as 32 lowercase hex characters.
std::string random_jti();
/// 32 random bytes (libsodium) as unpadded base64url: a secret for when JWT_SECRET is unset.
std::string random_secret();

/// Unpadded base64url (RFC 4648 §5).
std::string base64url_encode(std::string_view bytes);
/// Strict unpadded base64url: rejects padding, characters outside the alphabet, impossible
/// lengths and non-zero trailing bits (so each byte string has exactly one encoding).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace confidant::auth
