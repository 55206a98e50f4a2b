#pragma once

// The scheduler's internals, shared by scheduler.cpp (lifecycle and public calls),
// scheduler_poll.cpp (lease and due ticks) and scheduler_runs.cpp (runs). Not a public header.

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "scheduler/scheduler.hpp"

namespace confidant::scheduler {

namespace asio = boost::asio;
using Strand = asio::strand<asio::any_io_executor>;
using SteadyTime = std::chrono::steady_clock::time_point;

/// One run of a job. Shared by the job's slot, the run's coroutine and its completion.
struct Run {
    explicit Run(const asio::any_io_executor& ex) : strand(asio::make_strand(ex)) {}

    JobContext ctx;
    Strand strand;                     ///< the run's coroutine lives here
    asio::cancellation_signal signal;  ///< emitted on `strand` only
    bool finished = false;             ///< `strand` only: the coroutine has completed
    bool timed_out = false;            ///< scheduler strand only
    bool cancelled_at_stop = false;    ///< scheduler strand only
};

/// A job and this instance's view of it. Scheduler strand only.
struct JobSlot {
    JobSpec spec;
    TimePoint cursor{};        ///< ticks at or before it are handled
    std::shared_ptr<Run> run;  ///< the run going on this instance, if any
    JobState state;            ///< as last loaded, plus this instance's own events
};

struct Scheduler::Impl : std::enable_shared_from_this<Scheduler::Impl> {
    enum class Phase { created, running, stopping, stopped };

    Impl(asio::any_io_executor ex, SchedulerSettings s, const Clock& c, TickClaims& tc,
         StateStore& ss, LeaderLease& ll);

    asio::any_io_executor executor;
    Strand strand;
    SchedulerSettings settings;
    const Clock& clock;
    TickClaims& claims;
    StateStore& store;
    LeaderLease& lease;

    // Everything below: scheduler strand only (jobs is fixed once start() has begun).
    std::vector<JobSlot> jobs;
    Phase phase = Phase::created;
    bool leader = false;
    SteadyTime lease_valid_until{};
    SteadyTime next_lease_attempt{};
    TimePoint next_prune{};
    bool polling = false;
    asio::steady_timer loop_timer;
    std::vector<asio::steady_timer*> idle_waiters;

    JobSlot* find(std::string_view id);
    bool leads_now() const;
    bool any_running() const;
    std::optional<TimePoint> next_run_time(const JobSlot& job, TimePoint now) const;

    // scheduler_poll.cpp
    Task<std::chrono::milliseconds> poll();
    Task<void> maintain_lease();
    Task<void> reload_state();
    Task<void> poll_job(JobSlot& job, TimePoint now);
    Task<void> record_passed(JobSlot& job, TimePoint tick, TickPassed why, TimePoint now);
    std::chrono::milliseconds compute_wait() const;

    // scheduler_runs.cpp
    Task<void> start_run(JobSlot& job, TimePoint tick, bool manual);
    static Task<void> finish_run(std::shared_ptr<Impl> self, std::size_t index,
                                 std::shared_ptr<Run> run, std::exception_ptr error);
    void check_timeouts(TimePoint now);
    void cancel_runs(bool at_stop);
    void wake_idle_waiters();
    Task<bool> wait_until_idle(SteadyTime deadline);
};

}  // namespace confidant::scheduler
