#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cache/cache.hpp"
#include "core/clock.hpp"

namespace confidant::cache {

struct LocalCacheSettings {
    /// Upper bound on entries, split evenly across shards.
    std::size_t max_entries = 100'000;
    /// Upper bound on charged bytes (key + value + kEntryOverhead per entry), split across shards.
    std::size_t max_bytes = 64 << 20;
    /// Independent shards, each with its own lock, LRU segments and frequency sketch.
    std::size_t shards = 16;
    /// TTL used when set() is given a TTL <= 0.
    std::chrono::seconds default_ttl{600};
};

/// In-process cache, bounded by entries and bytes, with per-entry TTL and W-TinyLFU admission.
///
/// Each shard holds a small admission window LRU (1% of its capacity) in front of a segmented
/// main LRU (probation 20% / protected 80%). A new entry enters the window; when the window
/// overflows, its LRU victim (the candidate) is admitted to probation only if a Count-Min
/// Sketch (4 rows of 4-bit counters, 4 x capacity wide, conservative update, halved every
/// 16 x capacity increments) estimates it to be more popular than the main LRU victim it would
/// displace; otherwise the candidate is dropped (counted as a rejection). Byte pressure runs the
/// same contest. Hits in probation promote to protected; protected overflow demotes back to
/// probation. Reads that hit and all writes count as accesses in the sketch (a read miss does
/// not: the write that follows it does). No doorkeeper.
///
/// Expired entries are misses and are reclaimed on access, when chosen for eviction, by a
/// per-shard sweep at most every 5 s of clock time (run inside a set), or by purge_expired().
///
/// Thread-safe. A lookup hashes the key once, takes only its shard's mutex and copies the value
/// once; nothing takes a global lock. Keys and values are arbitrary bytes.
class LocalCache final : public Cache {
  public:
    /// Charged per entry on top of key and value sizes (node, hash-table slot, allocations).
    static constexpr std::size_t kEntryOverhead = 96;

    explicit LocalCache(const LocalCacheSettings& settings = {},
                        const Clock& clock = Clock::real());
    ~LocalCache() override;
    LocalCache(const LocalCache&) = delete;
    LocalCache& operator=(const LocalCache&) = delete;

    /// The value of a live entry, or nullopt (absent or expired).
    std::optional<std::string> get_sync(std::string_view key);
    /// Inserts or replaces `key`. `ttl` <= 0 means the default TTL. An entry larger than a
    /// shard's byte budget is not stored (and any older value for the key is dropped).
    void set_sync(std::string_view key, std::string value, std::chrono::seconds ttl);
    /// Removes `key`; true when a live entry was removed.
    bool erase(std::string_view key);
    /// Removes every key matching a Redis glob; returns how many live entries were removed.
    /// Scans every shard (O(entries)); not for hot paths.
    std::size_t erase_matching(std::string_view glob);
    /// Drops every expired entry now; returns how many.
    std::size_t purge_expired();
    /// Removes everything (statistics are kept).
    void clear();
    /// Entries, charged bytes, hits, misses, evictions and admission rejections, summed over
    /// shards (each shard read under its own lock, so the sum is not an atomic snapshot).
    CacheStats::Tier tier_stats() const;
    std::size_t size() const;

    Task<std::optional<std::string>> get(std::string_view key) override;
    Task<void> set(std::string_view key, std::string value, std::chrono::seconds ttl) override;
    Task<void> del(std::string_view key) override;
    Task<std::int64_t> del_pattern(std::string_view pattern) override;
    /// clear(); always true.
    Task<bool> invalidate_all() override;
    /// status "local_only", backend "local", total_keys = entries, L1 figures in `l1`.
    Task<CacheStats> stats() override;

  private:
    class Shard;

    Shard& shard_for(std::uint64_t hash) const;

    const Clock& clock_;
    std::chrono::seconds default_ttl_;
    std::size_t shard_count_;
    std::unique_ptr<Shard[]> shards_;
};

/// Redis INFO-style human size: "0B", "1023B", "1.50K", "12.00M", "1.25G".
std::string human_bytes(std::uint64_t bytes);

/// The 64-bit hash LocalCache uses (wyhash-style mixing over 8-byte words).
std::uint64_t hash_key(std::string_view key) noexcept;

}  // namespace confidant::cache
