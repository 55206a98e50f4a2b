#pragma once

#include <chrono>
#include <string>

namespace confidant::scheduler {

/// How the scheduler engine behaves. The lease period is the lease's own
/// (SCHEDULER_LEASE_SECONDS, given to the LeaderLease backend); jobs and their schedules come
/// through Scheduler::add_job.
struct SchedulerSettings {
    /// Names this instance in claims, state and the status API. Empty: "<host>-<pid>-<random>".
    std::string instance_id;
    /// The timer loop sleeps at most this long, so a changed wall clock or a free lease is
    /// noticed at least this often.
    std::chrono::milliseconds max_sleep{1000};
    /// stop() waits this long (real time) for running jobs, then cancels them.
    std::chrono::milliseconds shutdown_grace{10'000};
    /// After cancelling, stop() waits this long (real time) for the runs to unwind and record
    /// their end; a run that ignores cancellation is then abandoned.
    std::chrono::milliseconds cancel_grace{2'000};
    /// The leader prunes claims older than this, hourly. Must exceed every misfire grace.
    std::chrono::hours claim_retention{24 * 7};
};

}  // namespace confidant::scheduler
