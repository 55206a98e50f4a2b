#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/clock.hpp"
#include "ratelimit/local_rate_limiter.hpp"
#include "ratelimit/rate_limiter.hpp"
#include "redis/pool.hpp"
#include "redis/script.hpp"

namespace confidant::ratelimit {

/// GCRA in Redis, shared by every instance: one atomic Lua script per hit (one round trip,
/// EVALSHA), on key `<prefix><key>` (default `confidant:rl:`) holding the TAT in milliseconds
/// of Redis server time, expiring (PEXPIRE) when the TAT passes. Server time keeps instances
/// with skewed clocks consistent.
///
/// While the pool is down (or a call fails) it falls back to an internal LocalRateLimiter, so
/// requests are still limited, per instance, and hit() never fails or waits. Thread-safe.
class RedisRateLimiter final : public RateLimiter {
  public:
    explicit RedisRateLimiter(redis::Pool& pool, const Clock& clock = Clock::real(),
                              std::string key_prefix = "confidant:rl:");

    Task<RateDecision> hit(std::string_view key, long limit, std::chrono::seconds window) override;
    Task<RateDecision> peek(std::string_view key, long limit,
                            std::chrono::seconds window) override;

    /// Hits decided by the local fallback.
    std::uint64_t fallbacks() const noexcept { return fallbacks_.load(std::memory_order_relaxed); }

  private:
    Task<RateDecision> decide(std::string_view key, long limit, std::chrono::seconds window,
                              bool count);

    redis::Pool& pool_;
    std::string prefix_;
    LocalRateLimiter local_;
    std::atomic<std::uint64_t> fallbacks_{0};
};

/// The GCRA Lua script (exposed for tests).
const redis::Script& gcra_script();

}  // namespace confidant::ratelimit
