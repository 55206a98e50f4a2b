#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/task.hpp"

namespace confidant::cache {

/// Figures for /admin/cache_stats and /metrics.
struct CacheStats {
    std::string status = "local_only";  ///< "active" | "degraded" | "local_only"
    std::string backend = "local";      ///< "redis" | "local"
    std::uint64_t hits = 0;             ///< lookups answered by the cache (any tier)
    std::uint64_t misses = 0;
    std::int64_t total_keys = 0;  ///< keys in the backing tier (Redis DBSIZE, or L1 entries)
    std::int64_t used_memory_bytes = 0;
    std::string used_memory_human;  ///< Redis-style: "1.50M"
    std::int64_t active_connections = 0;
    struct Tier {
        std::uint64_t entries = 0;
        std::uint64_t bytes = 0;
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::uint64_t evictions = 0;
        std::uint64_t rejections = 0;  ///< admission refused
    } l1;
    double hit_rate_percent() const {
        const auto total = hits + misses;
        return total == 0 ? 0.0 : 100.0 * static_cast<double>(hits) / static_cast<double>(total);
    }
};

/// A key-value cache of opaque byte strings with per-entry TTL.
///
/// Backends: LocalCache (in-process), RedisCache, TieredCache (L1 local over L2 Redis).
/// Contract: a cache never fails its caller because its backing service is down. An
/// unreachable Redis makes get() a miss and set()/del() no-ops (counted, status "degraded").
/// Thread-safe; calls may come from any I/O thread concurrently.
class Cache {
  public:
    virtual ~Cache() = default;

    virtual Task<std::optional<std::string>> get(std::string_view key) = 0;
    virtual Task<void> set(std::string_view key, std::string value, std::chrono::seconds ttl) = 0;
    /// Deletes one key (and, for TieredCache, tells every instance's L1 to drop it).
    virtual Task<void> del(std::string_view key) = 0;
    /// Deletes keys matching a Redis glob (`user:*`) with SCAN + UNLINK, never KEYS. Returns the
    /// number deleted from the backing tier. Not for request hot paths.
    virtual Task<std::int64_t> del_pattern(std::string_view pattern) = 0;
    virtual Task<CacheStats> stats() = 0;

    // Checked deletions, for callers that must not lose an invalidation (TieredCache keeps the
    // ones that fail and replays them). "Applied" means the backing store acknowledged it; a
    // false answer means it may or may not have happened. The defaults suit a backend that
    // cannot fail (LocalCache): they call the unchecked form and report success.

    /// del() that says whether the deletion was applied.
    virtual Task<bool> try_del(std::string_view key) {
        co_await del(key);
        co_return true;
    }
    /// Deletes every key in `keys` (in as few round trips as the backend allows); true when
    /// all were applied.
    virtual Task<bool> try_del_many(std::vector<std::string> keys) {
        bool all = true;
        for (const auto& k : keys) {
            const bool ok = co_await try_del(k);
            all = all && ok;
        }
        co_return all;
    }
    /// del_pattern() that says whether the whole scan completed: the number deleted, or
    /// nullopt when it stopped on a failure (some matching keys may remain).
    virtual Task<std::optional<std::int64_t>> try_del_pattern(std::string_view pattern) {
        co_return co_await del_pattern(pattern);
    }
    /// Makes every entry of this cache unreadable at once (LocalCache: clear(); RedisCache:
    /// a new key generation, O(1) whatever the number of keys). True when applied. The default
    /// deletes everything matching `*`.
    virtual Task<bool> invalidate_all() {
        const auto deleted = co_await try_del_pattern("*");
        co_return deleted.has_value();
    }
};

}  // namespace confidant::cache
