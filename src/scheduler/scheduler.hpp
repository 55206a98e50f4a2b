#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "scheduler/job.hpp"
#include "scheduler/leader_lease.hpp"
#include "scheduler/settings.hpp"
#include "scheduler/state_store.hpp"
#include "scheduler/tick_claims.hpp"

namespace confidant::scheduler {

/// What run_now() did. The API answers 202 in every case.
enum class RunNowOutcome {
    started,          ///< this call claimed the current second's tick and started a run
    already_claimed,  ///< another call (on any instance) claimed this second: it runs there
    already_running,  ///< a run of the job is going on this instance; nothing started
};

/// One job in the status API.
struct JobStatus {
    std::string id;
    std::string trigger;                     ///< Trigger::to_string()
    std::optional<TimePoint> next_run_time;  ///< the next tick after now (none for startup/off)
    std::optional<TimePoint> last_run_time;
    std::optional<RunStatus> last_status;
    std::chrono::milliseconds last_duration{0};
    std::string last_error;
    std::uint64_t runs = 0;
    std::uint64_t failures = 0;
    std::uint64_t skipped = 0;
    std::uint64_t missed = 0;
    bool running_here = false;  ///< a run is going on this instance
};

/// GET /admin/scheduler_status, as a value (the API layer renders it).
struct SchedulerStatus {
    bool running = false;  ///< "running" | "stopped"
    std::string instance_id;
    bool leader = false;
    std::vector<JobStatus> jobs;  ///< in the order they were added
};

/// Runs jobs on cron, interval and start-up triggers, each tick once across all instances.
///
/// - Time: every schedule decision reads the injected Clock (system time for ticks and
///   deadlines, steady time for the lease). Nothing here sleeps except run()'s timer loop and
///   the real-time bounds of stop() and wait_idle(); tests call tick() after moving a
///   ManualClock instead of running the loop.
/// - Leadership: each poll first acquires or renews the LeaderLease; only the leader looks for
///   due ticks. Each due tick is claimed through TickClaims before it runs, so two instances
///   that both believe they lead still run it once.
/// - Per job: at most one run at a time on an instance (a tick arriving meanwhile is skipped
///   and counted); missed ticks coalesce into one run of the latest, which runs if it is at
///   most misfire_grace late (else it is counted as missed); a run is cancelled at its
///   timeout. `@startup` jobs run once when start() is called, on every instance, unclaimed.
/// - State: every start, end, skip and miss goes to the StateStore; after a restart or a
///   leader change the new leader continues from the stored last tick.
///
/// What holds when the database or Redis is unreachable: docs/scheduler.md.
///
/// Threads: every public call may come from any thread; the work happens on an internal strand
/// of `executor`, and each run on a strand of its own, so nothing blocks an I/O thread and
/// runs of different jobs proceed in parallel. The clock, claims, state store and lease are
/// not owned and must outlive the scheduler; call stop() before destroying it (after stop()
/// returns nothing touches them, even a run that ignored cancellation).
class Scheduler {
  public:
    Scheduler(boost::asio::any_io_executor executor, SchedulerSettings settings, const Clock& clock,
              TickClaims& claims, StateStore& state, LeaderLease& lease);
    /// Without stop(): cancels the loop and the runs without waiting.
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// Adds a job; only before start() and from one thread. Throws std::invalid_argument on an
    /// empty or duplicate id, a missing handler, or a non-positive timeout.
    void add_job(JobSpec spec);

    /// Loads the stored state (each job continues from its last tick; a job never seen before
    /// from now), starts the `@startup` jobs and marks the scheduler running. Does not start
    /// the timer loop. A state store that cannot be read is logged, not fatal.
    Task<void> start();

    /// One poll at the clock's current time: time out overdue runs, acquire or renew the lease,
    /// and (as the leader) claim and start the due ticks. Returns once the runs have started
    /// (not finished), with how long the caller may wait before the next poll is needed.
    Task<std::chrono::milliseconds> tick();

    /// The production timer loop: tick(), sleep as long as it says (at most max_sleep),
    /// repeat; returns after stop(). Spawn it once after start().
    Task<void> run();

    /// Runs a job now through the same claim as a tick, with the current whole second as its
    /// tick (so two concurrent calls, on any instances, run it once). Works on any instance,
    /// leader or not. Errors: not_found for an unknown id; not_ready when not running. Claim
    /// faults are exceptions.
    Task<Result<RunNowOutcome>> run_now(std::string job_id);

    /// A snapshot for the status API. Runs, failures and last-run fields come from the state
    /// store (so every instance shows the same); if it cannot be read, from this instance's
    /// own view.
    Task<SchedulerStatus> status();

    /// Waits (real time, at most `bound`) until no run is going on this instance; true if so.
    Task<bool> wait_idle(std::chrono::milliseconds bound);

    /// Graceful shutdown: no more ticks; waits up to shutdown_grace for running jobs, cancels
    /// the rest and waits up to cancel_grace for them to end; releases the lease. Idempotent.
    Task<void> stop();

    const std::string& instance_id() const noexcept;

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

/// "<host>-<pid>-<8 hex digits>": unique per process start.
std::string make_instance_id();

}  // namespace confidant::scheduler
