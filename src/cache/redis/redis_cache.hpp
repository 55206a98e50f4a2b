#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "cache/cache.hpp"
#include "redis/pool.hpp"

namespace confidant::cache {

struct RedisCacheSettings {
    /// Prepended to every key, so del_pattern("user:*") only touches this program's keys.
    std::string key_prefix = "confidant:";
    /// TTL used when set() is given a TTL <= 0 (as LocalCache does).
    std::chrono::seconds default_ttl{600};
    /// SCAN COUNT hint for del_pattern.
    std::size_t scan_count = 500;
};

/// The Cache over Redis: GET, SET EX, UNLINK; del_pattern with SCAN + UNLINK (never KEYS).
///
/// Per the Cache contract it never fails its caller: while the pool is down, get() is a miss,
/// set()/del() do nothing and del_pattern() returns 0, all without waiting (the pool fails
/// fast). A failure of an individual call is treated the same way and counted in `errors()`.
/// Thread-safe. The pool must outlive the cache.
class RedisCache final : public Cache {
  public:
    explicit RedisCache(redis::Pool& pool, RedisCacheSettings settings = {});

    Task<std::optional<std::string>> get(std::string_view key) override;
    Task<void> set(std::string_view key, std::string value, std::chrono::seconds ttl) override;
    Task<void> del(std::string_view key) override;
    Task<std::int64_t> del_pattern(std::string_view pattern) override;
    /// status "active" when the pool is up, "degraded" when down; backend "redis"; memory from
    /// INFO memory, total_keys from DBSIZE (the whole database), hits/misses of this instance.
    Task<CacheStats> stats() override;

    /// Calls that failed or were skipped because Redis was unavailable.
    std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
    /// Lookups answered / not answered by Redis on this instance.
    std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
    std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

  private:
    std::string full_key(std::string_view key) const;

    redis::Pool& pool_;
    RedisCacheSettings settings_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> errors_{0};
};

}  // namespace confidant::cache
