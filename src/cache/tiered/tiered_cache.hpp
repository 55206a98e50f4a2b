#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
    /// Invalidations (keys and patterns) kept for replay while L2 or the bus cannot take them.
    /// One more and they are all replaced by a single L2 invalidate_all() (every entry
    /// unreadable), so memory stays bounded however long the outage.
    std::size_t max_pending_invalidations = 10'000;
    /// Pause between replay attempts while they fail (the Redis pool fails fast while down,
    /// so an attempt costs nothing until it is back).
    std::chrono::milliseconds replay_interval{100};
    /// A replay of at most this many keys and patterns publishes one message for each; a
    /// larger one publishes `clr` (every other instance drops its whole L1) instead.
    std::size_t max_published_invalidations = 64;
};

/// Figures of TieredCache's outage recovery, for /metrics.
struct TieredCacheRecovery {
    std::uint64_t pending = 0;          ///< keys and patterns waiting to be replayed
    bool overflowed = false;            ///< past the bound: an invalidate_all() is pending
    bool l2_reads_suspended = false;    ///< L1 misses skip L2 until the replay is done
    std::uint64_t deferred = 0;         ///< invalidations that failed and were kept (total)
    std::uint64_t replays = 0;          ///< successful replay batches
    std::uint64_t replayed = 0;         ///< keys and patterns applied by replays
    std::uint64_t replay_failures = 0;  ///< replay attempts that failed and will be retried
    std::uint64_t full_invalidations = 0;      ///< L2 invalidate_all() done after an overflow
    std::uint64_t l2_reads_skipped = 0;        ///< L1 misses answered "miss" while suspended
    std::uint64_t l1_flushes_resubscribed = 0; ///< whole-L1 drops: the bus (re)subscribed
    std::uint64_t l1_flushes_remote = 0;       ///< whole-L1 drops: another instance's `clr`
};

/// L1 (an in-process LocalCache, short TTL) in front of L2 (any Cache, normally RedisCache).
///
/// get: L1 hit, else L2 and, on an L2 hit, fill L1 (unless an invalidation arrived meanwhile).
/// set: L2 then L1 (then publish, see TieredCacheSettings::publish_on_set).
/// del / del_pattern: L2, then L1, then publish `<instance_id> del <key>` /
/// `<instance_id> pat <glob>` on the bus so every other instance drops its L1 copies; messages
/// carrying this instance's id are ignored. Without a bus the instance runs alone.
///
/// Outages. An invalidation is never lost because L2 or the bus is down:
/// - When L2 does not acknowledge a deletion (Cache::try_del / try_del_pattern), or the bus
///   does not take its message, the key or pattern is kept in a pending set and a replay task
///   starts (co_spawned on the caller's executor). Until the set is empty again, this
///   instance's L1 misses do not read L2 (they are misses, so callers load from the store):
///   L2 may still hold the value the failed deletion should have removed, and Redis comes
///   back with its data when it persists (AOF, RDB).
/// - The task retries every `replay_interval`: it deletes the pending keys from L2 (one
///   UNLINK per batch) and patterns, then publishes them (one `clr *` when there are more
///   than `max_published_invalidations`), and only then lets reads reach L2 again. A retry
///   repeats the whole batch; deletions are idempotent.
/// - Past `max_pending_invalidations` the set is dropped for a single L2 invalidate_all()
///   (RedisCache: a new key generation, every entry unreadable at once) and a `clr *`.
/// - Every instance drops its whole L1 when the bus tells it that it (re)subscribed
///   (InvalidationBus::on_resubscribed): it may have missed messages while disconnected.
/// Remaining window, bounded: between Redis's return and the end of the replay of the
/// instance that holds pending deletions (about one pool probe interval plus
/// `replay_interval`), another instance can read the stale value from L2. If it keeps it in
/// L1, the replay's message (or its own resubscription, whichever is later) drops it; and an
/// L1 copy never outlives `l1_ttl` anyway. Pending invalidations live in memory: an instance
/// that dies while Redis is down loses them, and the stale entries then live until their TTL.
///
/// Thread-safe. l1, l2 and the bus are borrowed and must outlive this object; the subscription
/// left on the bus becomes a no-op when this object is destroyed. While a replay task may run
/// (recovery().pending or l2_reads_suspended), call `co_await close()` before destroying the
/// object or l2.
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
    /// L2's invalidate_all(), this L1 cleared, `clr *` published; when L2 or the bus fails it
    /// is kept and replayed like any invalidation (returns false then).
    Task<bool> invalidate_all() override;

    /// The L1 fast path alone (no L2, no suspension): for hot paths that can fall back to get().
    std::optional<std::string> get_l1(std::string_view key) { return l1_.get_sync(key); }

    const std::string& instance_id() const { return instance_id_; }
    /// Invalidation messages from other instances applied so far.
    std::uint64_t remote_invalidations() const;
    TieredCacheRecovery recovery() const;

    /// Stops the replay task (pending invalidations are abandoned, and logged) and waits for it
    /// to end, at most about `replay_interval` plus one L2 call. Idempotent; later
    /// invalidations that fail are not replayed.
    Task<void> close();

  private:
    struct Shared;
    struct Batch;

    Task<bool> publish(std::string_view op, std::string_view arg);
    /// Keeps a failed invalidation (a key; else, when `key` is empty and `pattern` is not, a
    /// pattern; `all` for invalidate_all) and starts the replay task if none runs.
    Task<void> defer(std::string key, std::string pattern, bool all);
    Task<void> replay_loop(std::shared_ptr<Shared> shared);
    Task<bool> apply(const Batch& batch);

    TieredCacheSettings settings_;
    std::string instance_id_;
    LocalCache& l1_;
    Cache& l2_;
    InvalidationBus* bus_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace confidant::cache
