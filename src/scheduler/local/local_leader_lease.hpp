#pragma once

#include <chrono>

#include "scheduler/leader_lease.hpp"

namespace confidant::scheduler {

/// The lease of a single process (SQLite): always held. Thread-safe, never waits.
class LocalLeaderLease final : public LeaderLease {
  public:
    explicit LocalLeaderLease(std::chrono::milliseconds period = std::chrono::seconds(30))
        : period_(period) {}

    Task<bool> acquire_or_renew() override { co_return true; }
    Task<void> release() override { co_return; }
    std::chrono::milliseconds period() const noexcept override { return period_; }

  private:
    std::chrono::milliseconds period_;
};

}  // namespace confidant::scheduler
