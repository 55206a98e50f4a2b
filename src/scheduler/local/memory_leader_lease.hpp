#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/clock.hpp"
#include "scheduler/leader_lease.hpp"

namespace confidant::scheduler {

/// The one lease record that several MemoryLeaderLease holders compete for: stands for the
/// shared backend (a Redis key, a database row) when several Schedulers run in one test.
/// Expiry follows the given clock's steady time. Thread-safe (a mutex).
class MemoryLeaseBoard {
  public:
    explicit MemoryLeaseBoard(const Clock& clock) : clock_(clock) {}

    /// The current holder's id, or empty when the lease is free or expired.
    std::string holder() const;
    /// When the current lease expires (steady time of the clock).
    std::chrono::steady_clock::time_point expires_at() const;

  private:
    friend class MemoryLeaderLease;

    const Clock& clock_;
    mutable std::mutex mutex_;
    std::string holder_;       ///< the holder's id
    std::uint64_t token_ = 0;  ///< which MemoryLeaderLease object holds it (0: none)
    std::uint64_t next_token_ = 1;
    std::chrono::steady_clock::time_point expires_{};
};

/// One holder's handle on a MemoryLeaseBoard (one per simulated process; a new object with the
/// same id is a new holder, like a restarted process). The board must outlive it. Thread-safe;
/// calls complete without waiting.
class MemoryLeaderLease final : public LeaderLease {
  public:
    MemoryLeaderLease(MemoryLeaseBoard& board, std::string holder,
                      std::chrono::milliseconds period);

    Task<bool> acquire_or_renew() override;
    Task<void> release() override;
    std::chrono::milliseconds period() const noexcept override { return period_; }

    /// While set, acquire_or_renew() answers false and release() does nothing (this holder is
    /// cut off from the backend).
    void set_unreachable(bool unreachable);

  private:
    MemoryLeaseBoard& board_;
    std::string holder_;
    std::uint64_t token_;
    std::chrono::milliseconds period_;
    bool unreachable_ = false;  // board_.mutex_
};

}  // namespace confidant::scheduler
