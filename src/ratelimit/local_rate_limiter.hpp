#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace confidant::ratelimit {

/// In-process GCRA limiter: per key, one "theoretical arrival time" (TAT). A hit at `now` is
/// allowed when max(TAT, now) + window/limit - now <= window; then TAT advances by
/// window/limit. Memory: one entry per active key in 16 mutex-guarded shards; an entry whose
/// TAT has passed carries no information and is swept away. Thread-safe.
class LocalRateLimiter final : public RateLimiter {
  public:
    explicit LocalRateLimiter(const Clock& clock = Clock::real());

    Task<RateDecision> hit(std::string_view key, long limit, std::chrono::seconds window) override;

    Task<RateDecision> peek(std::string_view key, long limit,
                            std::chrono::seconds window) override;

    /// The synchronous core of hit() (with `count` false: of peek()).
    RateDecision hit_sync(std::string_view key, long limit, std::chrono::seconds window,
                          bool count = true);

    /// Drops every entry whose TAT has passed (hit() also does it every 1024 hits per shard).
    void sweep();

    /// Entries currently held (for tests and metrics).
    std::size_t size() const;

  private:
    static constexpr std::size_t kShards = 16;
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, std::chrono::steady_clock::time_point> tat;
        std::size_t ops_since_sweep = 0;
    };

    const Clock& clock_;
    std::array<Shard, kShards> shards_;
};

}  // namespace confidant::ratelimit
