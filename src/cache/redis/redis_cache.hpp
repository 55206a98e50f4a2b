#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache.hpp"
#include "redis/pool.hpp"
#include "redis/script.hpp"

namespace confidant::cache {

struct RedisCacheSettings {
    /// Prepended to every key, so del_pattern("user:*") only touches this program's keys.
    std::string key_prefix = "confidant:";
    /// TTL used when set() is given a TTL <= 0 (as LocalCache does).
    std::chrono::seconds default_ttl{600};
    /// SCAN COUNT hint for del_pattern.
    std::size_t scan_count = 500;
    /// The key holding the current generation (see RedisCache). Empty means
    /// `"cache-generation:" + key_prefix`, a key that the prefix's globs never match, so
    /// del_pattern("*") leaves it alone.
    std::string generation_key{};
    /// try_del_many sends at most this many keys per UNLINK.
    std::size_t unlink_batch = 500;
};

/// The Cache over Redis: MGET to read, a small script (EVALSHA) to write, UNLINK to delete;
/// del_pattern with SCAN + UNLINK (never KEYS).
///
/// Generations. Every value is stored as `<generation>|<bytes>`, where `<generation>` is the
/// content of the generation key when the value was written: the write script reads that key
/// and stores the tagged value atomically (creating a fresh random generation when the key is
/// missing). get() reads the generation key and the entry in one MGET (one round trip, as a
/// plain GET was) and takes an entry tagged with another generation for a miss.
/// invalidate_all() stores a new random generation: every existing entry becomes unreadable at
/// once, however many there are, and is left to expire by its TTL. A lost generation key (a
/// restart without persistence, eviction) therefore costs misses, never stale reads. Every
/// instance must share the key (one Redis, not a cluster: MGET needs both keys on one node).
///
/// Per the Cache contract it never fails its caller: while the pool is down, get() is a miss,
/// set()/del() do nothing and del_pattern() returns 0, all without waiting (the pool fails
/// fast). A failure of an individual call is treated the same way and counted in `errors()`;
/// the try_* forms report it.
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

    /// True when Redis acknowledged the UNLINK (false: down, failed or an error reply such as
    /// LOADING; the key may or may not be gone).
    Task<bool> try_del(std::string_view key) override;
    /// UNLINK in batches of `unlink_batch`; true when every batch was acknowledged.
    Task<bool> try_del_many(std::vector<std::string> keys) override;
    Task<std::optional<std::int64_t>> try_del_pattern(std::string_view pattern) override;
    /// Stores a new random generation (one SET); true when acknowledged.
    Task<bool> invalidate_all() override;

    /// Calls that failed or were skipped because Redis was unavailable.
    std::uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
    /// Lookups answered / not answered by Redis on this instance.
    std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
    std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
    /// Misses that found an entry of an older generation (counted in misses() too).
    std::uint64_t stale_reads() const noexcept {
        return stale_reads_.load(std::memory_order_relaxed);
    }
    /// The key holding the generation.
    const std::string& generation_key() const noexcept { return settings_.generation_key; }

  private:
    std::string full_key(std::string_view key) const;
    /// SCAN + UNLINK of `pattern` under the prefix; adds to `deleted`; false on a failure.
    Task<bool> scan_unlink(std::string_view pattern, std::int64_t& deleted);

    redis::Pool& pool_;
    RedisCacheSettings settings_;
    redis::Script set_script_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> stale_reads_{0};
};

}  // namespace confidant::cache
