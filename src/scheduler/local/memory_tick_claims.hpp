#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "scheduler/tick_claims.hpp"

namespace confidant::scheduler {

/// TickClaims in process memory. One object shared by several Schedulers stands for one
/// database shared by several processes (tests); a single process without a database may use
/// it too, losing the claims at exit. Thread-safe (a mutex); calls complete without waiting.
class MemoryTickClaims final : public TickClaims {
  public:
    Task<bool> claim(const std::string& job_id, TimePoint tick,
                     const std::string& instance_id) override;
    Task<std::size_t> prune(TimePoint before) override;

    /// While set, claim() and prune() throw std::runtime_error (a database outage).
    void set_unreachable(bool unreachable);
    /// The instance that claimed (job_id, tick), if any.
    std::optional<std::string> owner(const std::string& job_id, TimePoint tick) const;
    /// Every claim: (job_id, tick) → instance id.
    std::map<std::pair<std::string, TimePoint>, std::string> all() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, TimePoint>, std::string> rows_;
    bool unreachable_ = false;
};

}  // namespace confidant::scheduler
