#pragma once

#include <chrono>
#include <string>

#include "redis/pool.hpp"
#include "redis/script.hpp"
#include "scheduler/leader_lease.hpp"

namespace confidant::scheduler {

/// A leader lease in Redis, shared by every instance: the key holds the holder's token
/// ("<holder id>:<random>", new for each object, so a restarted process never mistakes an old
/// lease for its own) and expires after period().
///
/// - acquire_or_renew(): one Lua script: compare-and-pexpire (the key holds our token:
///   PEXPIRE) or else `SET key token NX PX period`. Repeating it after a lost reply is
///   harmless, so the pool's retries are safe.
/// - release(): compare-and-delete in Lua, so a stale holder never deletes its successor's
///   lease.
/// While Redis cannot be reached acquire_or_renew() answers false (not the leader) without
/// throwing; the lease then expires on its own. Thread-safe; the pool must outlive it.
class RedisLeaderLease final : public LeaderLease {
  public:
    RedisLeaderLease(redis::Pool& pool, std::string holder_id, std::chrono::milliseconds period,
                     std::string key = "confidant:scheduler:leader");

    Task<bool> acquire_or_renew() override;
    Task<void> release() override;
    std::chrono::milliseconds period() const noexcept override { return period_; }

    /// The value this holder writes into the key.
    const std::string& token() const noexcept { return token_; }
    const std::string& key() const noexcept { return key_; }

  private:
    redis::Pool& pool_;
    std::string token_;
    std::chrono::milliseconds period_;
    std::string key_;
};

/// The scripts (exposed for tests).
const redis::Script& lease_acquire_script();
const redis::Script& lease_release_script();

}  // namespace confidant::scheduler
