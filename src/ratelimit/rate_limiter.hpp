#pragma once

#include <chrono>
#include <string_view>

#include "core/task.hpp"

namespace confidant::ratelimit {

/// The outcome of one hit.
struct RateDecision {
    bool allowed = true;
    /// Whole seconds until a hit would be allowed (>= 1 when refused, 0 when allowed).
    long retry_after_s = 0;
    /// Hits still allowed right now after this one.
    long remaining = 0;
};

/// A rate limiter: `limit` hits per `window` per key, bursts up to `limit` allowed (GCRA).
/// Backends: LocalRateLimiter (in-process), RedisRateLimiter (shared by every instance).
class RateLimiter {
  public:
    virtual ~RateLimiter() = default;

    /// Counts one hit for `key` against `limit` per `window`; thread-safe. Never fails: a
    /// backend that cannot reach its store decides locally. A refused hit is not counted.
    virtual Task<RateDecision> hit(std::string_view key, long limit,
                                   std::chrono::seconds window) = 0;
    /// Whether a hit for `key` would be allowed now, without counting one (e.g. "has this
    /// username failed too often?" before checking a password). Same failure rules as hit().
    virtual Task<RateDecision> peek(std::string_view key, long limit,
                                    std::chrono::seconds window) = 0;
};

}  // namespace confidant::ratelimit
