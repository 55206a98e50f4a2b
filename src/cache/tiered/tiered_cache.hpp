#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache.hpp"
#include "cache/invalidation_bus.hpp"
#include "cache/local/local_cache.hpp"

namespace confidant::cache {

struct TieredCacheSettings {
    /// TTL of L1 copies (capped by the TTL given to set()); bounds how stale an instance can be
    /// when it misses an invalidation message.
    std::chrono::seconds l1_ttl{5};
    /// Identifies this instance on the bus; empty = a random 64-bit hex id. Must not contain
    /// spaces.
    std::string instance_id{};
    /// Also publish `del <key>` after set(), so other instances drop their now-stale L1 copy
    /// instead of serving it for up to l1_ttl.
    bool publish_on_set = true;
};

/// L1 (an in-process LocalCache, short TTL) in front of L2 (any Cache, normally RedisCache).
///
/// get: L1 hit, else L2 and, on an L2 hit, fill L1 (unless an invalidation arrived meanwhile).
/// set: L2 then L1 (then publish, see TieredCacheSettings::publish_on_set).
/// del / del_pattern: L2, then L1, then publish `<instance_id> del <key>` /
/// `<instance_id> pat <glob>` on the bus so every other instance drops its L1 copies; messages
/// carrying this instance's id are ignored. Without a bus the instance runs alone.
///
/// Thread-safe. l1, l2 and the bus are borrowed and must outlive this object; the subscription
/// left on the bus becomes a no-op when this object is destroyed.
class TieredCache final : public Cache {
  public:
    TieredCache(const TieredCacheSettings& settings, LocalCache& l1, Cache& l2,
                InvalidationBus* bus = nullptr);
    ~TieredCache() override;
    TieredCache(const TieredCache&) = delete;
    TieredCache& operator=(const TieredCache&) = delete;

    Task<std::optional<std::string>> get(std::string_view key) override;
    Task<void> set(std::string_view key, std::string value, std::chrono::seconds ttl) override;
    Task<void> del(std::string_view key) override;
    Task<std::int64_t> del_pattern(std::string_view pattern) override;
    /// L2's stats with `l1` set to the L1 tier figures and hits = L1 hits + L2 hits
    /// (misses are L2 misses: lookups no tier answered).
    Task<CacheStats> stats() override;

    /// The L1 fast path alone (no L2, no suspension): for hot paths that can fall back to get().
    std::optional<std::string> get_l1(std::string_view key) { return l1_.get_sync(key); }

    const std::string& instance_id() const { return instance_id_; }
    /// Invalidation messages from other instances applied so far.
    std::uint64_t remote_invalidations() const;

  private:
    struct Subscription;

    Task<void> publish(std::string_view op, std::string_view arg);

    TieredCacheSettings settings_;
    std::string instance_id_;
    LocalCache& l1_;
    Cache& l2_;
    InvalidationBus* bus_;
    std::shared_ptr<Subscription> subscription_;
};

}  // namespace confidant::cache
