#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/log_exception.hpp"
#include "core/time.hpp"
#include "scheduler/scheduler_impl.hpp"

namespace confidant::scheduler {
namespace {

using std::chrono::milliseconds;

std::string describe(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "a non-standard exception";
    }
}

std::string at(TimePoint t) {
    return format_rfc3339(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count());
}

/// The run's coroutine. The handler is a copy, so the JobSpec may be gone by the time it ends.
Task<void> execute(std::shared_ptr<Run> run, std::function<Task<void>(JobContext&)> handler) {
    co_await handler(run->ctx);
}

}  // namespace

Task<void> Scheduler::Impl::start_run(JobSlot& job, TimePoint tick, bool manual) {
    auto run = std::make_shared<Run>(executor);
    const auto now = clock.system_now();
    run->ctx.job_id = job.spec.id;
    run->ctx.scheduled_time = tick;
    run->ctx.started_at = now;
    run->ctx.deadline = now + job.spec.timeout;
    run->ctx.instance_id = settings.instance_id;
    run->ctx.manual = manual;
    // Taken before the first co_await: a tick or run-now arriving meanwhile sees the run.
    job.run = run;

    const auto next = next_run_time(job, now);
    job.state.last_tick = std::max(job.state.last_tick.value_or(tick), tick);
    job.state.last_run_time = now;
    job.state.last_status = RunStatus::running;
    job.state.last_instance_id = settings.instance_id;
    job.state.next_run_time = next;
    // A named value, not a braced temporary inside co_await: GCC 12 destroys such temporaries
    // twice.
    const RunStarted started{job.spec.id, tick, now, settings.instance_id, next};
    try {
        co_await store.run_started(started);
    } catch (const std::exception& e) {
        // The tick is claimed: running it without a stored start beats not running it.
        spdlog::warn("scheduler: job {}: storing the start of a run failed: {}", job.spec.id,
                     e.what());
    }
    spdlog::debug("scheduler: job {} started (tick {}{})", job.spec.id, at(tick),
                  manual ? ", run now" : "");

    const std::size_t index = static_cast<std::size_t>(&job - jobs.data());
    auto self = shared_from_this();
    asio::co_spawn(run->strand, execute(run, job.spec.handler),
                   asio::bind_cancellation_slot(
                       run->signal.slot(), [self, index, run](std::exception_ptr error) {
                           // On run->strand, like the emits that cancel the run.
                           run->finished = true;
                           asio::co_spawn(self->strand, finish_run(self, index, run, error),
                                          [](std::exception_ptr e) {
                                              log_if_exception("scheduler: recording a run", e);
                                          });
                       }));
}

Task<void> Scheduler::Impl::finish_run(std::shared_ptr<Impl> self, std::size_t index,
                                       std::shared_ptr<Run> run, std::exception_ptr error) {
    JobSlot& job = self->jobs[index];
    if (self->phase == Phase::stopped) {
        // Abandoned by stop(): the clock and the stores may be gone.
        if (job.run == run) {
            job.run.reset();
        }
        spdlog::warn("scheduler: job {} ended after the scheduler stopped", job.spec.id);
        co_return;
    }
    const auto now = self->clock.system_now();
    const auto duration = std::max(
        milliseconds(0), std::chrono::duration_cast<milliseconds>(now - run->ctx.started_at));
    RunStatus status = RunStatus::succeeded;
    std::string message;
    if (run->timed_out) {
        // Also when the handler ignored the cancellation and finished anyway: the bound the
        // operator set was exceeded.
        status = RunStatus::timeout;
        message = fmt::format("timed out after {} ms", job.spec.timeout.count());
    } else if (error) {
        status = RunStatus::failed;
        message = describe(error);
        if (run->cancelled_at_stop) {
            message = "cancelled at shutdown: " + message;
        }
    }
    if (status == RunStatus::succeeded) {
        spdlog::info("scheduler: job {} succeeded in {} ms", job.spec.id, duration.count());
    } else {
        spdlog::warn("scheduler: job {} {} after {} ms: {}", job.spec.id, to_string(status),
                     duration.count(), message);
    }

    const auto next = self->next_run_time(job, now);
    JobState& s = job.state;
    ++s.runs;
    if (status != RunStatus::succeeded) {
        ++s.failures;
    }
    if (!s.last_run_time || *s.last_run_time <= run->ctx.started_at) {
        s.last_status = status;
        s.last_duration = duration;
        s.last_error = message;
    }
    s.next_run_time = next;
    const RunFinished finished{
        job.spec.id, run->ctx.scheduled_time, run->ctx.started_at, status, duration, message, next};
    try {
        co_await self->store.run_finished(finished);
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: job {}: storing the end of a run failed: {}", job.spec.id,
                     e.what());
    }
    if (job.run == run) {
        job.run.reset();
    }
    self->wake_idle_waiters();
}

void Scheduler::Impl::check_timeouts(TimePoint now) {
    for (auto& job : jobs) {
        const auto& run = job.run;
        if (run && !run->timed_out && now >= run->ctx.deadline) {
            run->timed_out = true;
            spdlog::warn("scheduler: job {} passed its timeout of {} ms; cancelling it",
                         job.spec.id, job.spec.timeout.count());
            asio::post(run->strand, [run] {
                if (!run->finished) {
                    run->signal.emit(asio::cancellation_type::terminal);
                }
            });
        }
    }
}

void Scheduler::Impl::cancel_runs(bool at_stop) {
    for (auto& job : jobs) {
        if (const auto& run = job.run) {
            run->cancelled_at_stop = run->cancelled_at_stop || at_stop;
            asio::post(run->strand, [run] {
                if (!run->finished) {
                    run->signal.emit(asio::cancellation_type::terminal);
                }
            });
        }
    }
}

void Scheduler::Impl::wake_idle_waiters() {
    for (auto* timer : idle_waiters) {
        timer->cancel();
    }
}

Task<bool> Scheduler::Impl::wait_until_idle(SteadyTime deadline) {
    asio::steady_timer timer(strand);
    // Deregisters the timer however the wait ends (also by cancellation of the caller).
    struct Registration {
        std::vector<asio::steady_timer*>& list;
        asio::steady_timer* timer;
        ~Registration() { std::erase(list, timer); }
    };
    while (any_running() && std::chrono::steady_clock::now() < deadline) {
        timer.expires_at(deadline);
        idle_waiters.push_back(&timer);
        Registration registration{idle_waiters, &timer};
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return !any_running();
}

}  // namespace confidant::scheduler
