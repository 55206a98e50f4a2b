#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/task.hpp"
#include "scheduler/job.hpp"

namespace confidant::scheduler {

/// A run that has started (after its tick was claimed).
struct RunStarted {
    std::string job_id;
    TimePoint tick;
    TimePoint started_at;
    std::string instance_id;
    std::optional<TimePoint> next_run_time;
};

/// A run that has ended.
struct RunFinished {
    std::string job_id;
    TimePoint tick;
    TimePoint started_at;
    RunStatus status = RunStatus::succeeded;  ///< succeeded, failed or timeout
    std::chrono::milliseconds duration{0};
    std::string error;  ///< empty on success
    std::optional<TimePoint> next_run_time;
};

/// Why a tick did not run.
enum class TickPassed {
    skipped,  ///< the previous run of the job was still going (overlap)
    missed,   ///< found later than the misfire grace (older missed ticks coalesced into it)
};

/// Where the scheduler keeps each job's state, shared by every instance and surviving
/// restarts. Each call is one atomic update (counters are incremented by the backend, so two
/// instances writing at once lose nothing); there is no read-modify-write in the scheduler.
///
/// Implementations: in-memory (tests, one process), SQLite and PostgreSQL (a row per job).
/// Thread-safe: called from the scheduler's strand and from run-now callers concurrently.
/// Arguments are references that must stay valid until the returned Task completes (co_await
/// it at once). Faults (database unreachable) are exceptions; the scheduler logs them and carries
/// on (the state is then behind, the claims still hold). Cancellation: a call may be abandoned at a
/// co_await when the scheduler stops.
class StateStore {
  public:
    virtual ~StateStore() = default;

    /// Every job's state (jobs never written to are absent). Ticks are whole seconds; other
    /// times and durations must come back with at least millisecond precision.
    virtual Task<std::vector<JobState>> load_all() = 0;

    /// last_tick = max(last_tick, tick); last_run_time = started_at; last_status = running;
    /// last_instance_id; next_run_time.
    virtual Task<void> run_started(const RunStarted& run) = 0;

    /// runs += 1; failures += 1 unless succeeded; next_run_time. last_status, last_duration and
    /// last_error only when no later run has started since (`started_at` is not before the
    /// stored last_run_time), so a slow old run does not hide a newer one.
    virtual Task<void> run_finished(const RunFinished& run) = 0;

    /// skipped or missed += 1; last_tick = max(last_tick, tick); next_run_time. For a miss,
    /// `tick` is the time of the poll that found the late ticks (every tick up to it is
    /// handled).
    virtual Task<void> tick_passed(const std::string& job_id, TimePoint tick, TickPassed why,
                                   std::optional<TimePoint> next_run_time) = 0;
};

}  // namespace confidant::scheduler
