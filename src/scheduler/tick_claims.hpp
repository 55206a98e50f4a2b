#pragma once

#include <cstddef>
#include <string>

#include "core/task.hpp"
#include "scheduler/trigger.hpp"

namespace confidant::scheduler {

/// Exactly-once per tick across instances: a tick runs only on the instance whose claim
/// inserted the (job_id, tick) row. Backends: a unique row in the database (SQLite, PostgreSQL)
/// and an in-memory set (tests). Because the row outlives the run, a paused or partitioned
/// ex-leader that wakes up cannot run a tick again.
///
/// Thread-safe. Arguments are references that must stay valid until the returned Task
/// completes (co_await it at once). Faults (database unreachable) are exceptions: the scheduler
/// then does not run the tick (at most once wins over at least once) and asks again at its next
/// poll, while the tick is still within its misfire grace. Cancellation: a claim abandoned at a
/// co_await may or may not have been inserted; either way the tick does not run twice.
class TickClaims {
  public:
    virtual ~TickClaims() = default;

    /// Inserts (job_id, tick, instance_id) unless (job_id, tick) exists; `tick` is always a
    /// whole second (an integer column of Unix seconds is enough). True when this call
    /// inserted it: the caller must run the tick. False when any instance (including this
    /// one) claimed it before.
    virtual Task<bool> claim(const std::string& job_id, TimePoint tick,
                             const std::string& instance_id) = 0;

    /// Deletes claims of ticks before `before` and returns how many. The scheduler calls it
    /// hourly with a horizon far beyond every misfire grace, so a pruned tick is never
    /// considered again.
    virtual Task<std::size_t> prune(TimePoint before) = 0;
};

}  // namespace confidant::scheduler
