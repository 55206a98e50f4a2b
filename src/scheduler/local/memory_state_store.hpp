#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/state_store.hpp"

namespace confidant::scheduler {

/// StateStore in process memory. One object shared by several Schedulers stands for one
/// database shared by several processes, and outlives a Scheduler to stand for a restart
/// (tests). Thread-safe (a mutex); calls complete without waiting.
class MemoryStateStore final : public StateStore {
  public:
    Task<std::vector<JobState>> load_all() override;
    Task<void> run_started(const RunStarted& run) override;
    Task<void> run_finished(const RunFinished& run) override;
    Task<void> tick_passed(const std::string& job_id, TimePoint tick, TickPassed why,
                           std::optional<TimePoint> next_run_time) override;

    /// While set, every call throws std::runtime_error (a database outage).
    void set_unreachable(bool unreachable);
    /// One job's state, if it was ever written.
    std::optional<JobState> get(const std::string& job_id) const;

  private:
    JobState& row(const std::string& job_id);  // mutex_ held
    void check() const;                        // mutex_ held

    mutable std::mutex mutex_;
    std::map<std::string, JobState> rows_;
    bool unreachable_ = false;
};

}  // namespace confidant::scheduler
