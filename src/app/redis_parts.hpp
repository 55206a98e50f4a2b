#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "config/settings.hpp"
#include "core/task.hpp"

namespace confidant::cache {
class Cache;
class LocalCache;
}  // namespace confidant::cache
namespace confidant::ratelimit {
class RateLimiter;
}

namespace confidant::app {

/// Everything that exists only when REDIS_URL is set: the pool, the pub/sub subscriber, the
/// Redis cache (L2) under a TieredCache over the given L1, the invalidation bus and the
/// shared rate limiter.
class RedisParts {
  public:
    /// `l1` may be null when the cache is disabled (then only the limiter is used).
    RedisParts(boost::asio::any_io_executor ex, const config::Settings& settings,
               cache::LocalCache* l1);
    ~RedisParts();

    /// The two-tier cache, or null without an L1.
    cache::Cache* cache();
    ratelimit::RateLimiter* limiter();
    /// L2 (Redis) hits and misses so far.
    std::pair<std::uint64_t, std::uint64_t> cache_counters() const;
    void render_metrics(std::string& out) const;
    Task<void> close();

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace confidant::app
