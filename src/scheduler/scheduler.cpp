#include "scheduler/scheduler.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <stdexcept>

#include "scheduler/scheduler_impl.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono;
using Impl = Scheduler::Impl;
using Phase = Impl::Phase;

Task<void> do_start(std::shared_ptr<Impl> self) {
    if (self->phase != Phase::created) {
        throw std::logic_error("Scheduler::start called twice");
    }
    for (const auto& job : self->jobs) {
        if (duration_cast<hours>(job.spec.misfire_grace) >= self->settings.claim_retention) {
            throw std::invalid_argument(fmt::format(
                "scheduler job {}: the misfire grace must be shorter than the claim retention",
                job.spec.id));
        }
    }
    const auto now = self->clock.system_now();
    for (auto& job : self->jobs) {
        job.cursor = now;  // a job never run anywhere starts from now
    }
    try {
        auto states = co_await self->store.load_all();
        for (auto& s : states) {
            if (JobSlot* job = self->find(s.job_id)) {
                // Continue from the last handled tick, so ticks missed while no instance ran
                // are found (and run if within their grace).
                if (s.last_tick) {
                    job->cursor = *s.last_tick;
                }
                job->state = std::move(s);
            }
        }
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: loading the job state failed, starting from now: {}", e.what());
    }
    self->phase = Phase::running;
    spdlog::info("scheduler: started with {} jobs, instance {}", self->jobs.size(),
                 self->settings.instance_id);
    for (auto& job : self->jobs) {
        if (job.spec.trigger.kind() == Trigger::Kind::startup) {
            co_await self->start_run(job, floor<seconds>(now), false);
        }
    }
}

Task<milliseconds> do_tick(std::shared_ptr<Impl> self) { co_return co_await self->poll(); }

Task<void> do_run(std::shared_ptr<Impl> self) {
    while (self->phase == Phase::running) {
        const auto wait = co_await self->poll();
        if (self->phase != Phase::running) {
            break;
        }
        self->loop_timer.expires_after(std::min(wait, self->settings.max_sleep));
        co_await self->loop_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

Task<Result<RunNowOutcome>> do_run_now(std::shared_ptr<Impl> self, std::string id) {
    JobSlot* job = self->find(id);
    if (job == nullptr) {
        co_return make_error(ErrorCode::not_found, fmt::format("no scheduler job '{}'", id));
    }
    if (self->phase != Phase::running) {
        co_return make_error(ErrorCode::not_ready, "the scheduler is not running");
    }
    if (job->run) {
        co_return RunNowOutcome::already_running;
    }
    const auto now = self->clock.system_now();
    const auto tick = floor<seconds>(now);
    if (!co_await self->claims.claim(job->spec.id, tick, self->settings.instance_id)) {
        co_return RunNowOutcome::already_claimed;
    }
    if (self->phase != Phase::running) {
        co_return make_error(ErrorCode::not_ready, "the scheduler is stopping");
    }
    if (job->run) {
        co_await self->record_passed(*job, tick, TickPassed::skipped, now);
        co_return RunNowOutcome::already_running;
    }
    co_await self->start_run(*job, tick, true);
    co_return RunNowOutcome::started;
}

Task<SchedulerStatus> do_status(std::shared_ptr<Impl> self) {
    SchedulerStatus status;
    status.running = self->phase == Phase::running;
    status.instance_id = self->settings.instance_id;
    status.leader = self->leads_now();
    std::optional<std::vector<JobState>> stored;
    try {
        stored = co_await self->store.load_all();
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: status from this instance's view, the store failed: {}", e.what());
    }
    const auto now = self->clock.system_now();
    for (const auto& job : self->jobs) {
        const JobState* s = &job.state;
        if (stored) {
            const auto it = std::find_if(stored->begin(), stored->end(), [&](const JobState& x) {
                return x.job_id == job.spec.id;
            });
            s = it == stored->end() ? nullptr : &*it;
        }
        JobStatus js;
        js.id = job.spec.id;
        js.trigger = job.spec.trigger.to_string();
        js.next_run_time = status.running ? self->next_run_time(job, now) : std::nullopt;
        if (s != nullptr) {
            js.last_run_time = s->last_run_time;
            js.last_status = s->last_status;
            js.last_duration = s->last_duration;
            js.last_error = s->last_error;
            js.runs = s->runs;
            js.failures = s->failures;
            js.skipped = s->skipped;
            js.missed = s->missed;
        }
        js.running_here = job.run != nullptr;
        status.jobs.push_back(std::move(js));
    }
    co_return status;
}

Task<bool> do_wait_idle(std::shared_ptr<Impl> self, milliseconds bound) {
    co_return co_await self->wait_until_idle(steady_clock::now() + bound);
}

Task<void> do_stop(std::shared_ptr<Impl> self) {
    if (self->phase == Phase::created) {
        self->phase = Phase::stopped;
        co_return;
    }
    if (self->phase != Phase::running) {
        co_return;  // stopped, or another stop() is under way
    }
    self->phase = Phase::stopping;
    self->loop_timer.cancel();
    // Real time: shutdown is bounded by the wall, not by the injected clock.
    if (!co_await self->wait_until_idle(steady_clock::now() + self->settings.shutdown_grace)) {
        spdlog::warn("scheduler: jobs still running after {} ms; cancelling them",
                     self->settings.shutdown_grace.count());
        self->cancel_runs(true);
        if (!co_await self->wait_until_idle(steady_clock::now() + self->settings.cancel_grace)) {
            spdlog::error("scheduler: jobs ignored cancellation for {} ms; abandoned",
                          self->settings.cancel_grace.count());
        }
    }
    if (self->leader) {
        self->leader = false;
        try {
            co_await self->lease.release();
        } catch (const std::exception& e) {
            spdlog::warn("scheduler: releasing the leader lease failed: {}", e.what());
        }
    }
    self->phase = Phase::stopped;
    self->loop_timer.cancel();
    spdlog::info("scheduler: stopped");
}

template <class T>
Task<T> on_strand(const std::shared_ptr<Impl>& impl, Task<T> task) {
    return asio::co_spawn(impl->strand, std::move(task), asio::use_awaitable);
}

}  // namespace

const char* to_string(RunStatus status) noexcept {
    switch (status) {
        case RunStatus::running:
            return "running";
        case RunStatus::succeeded:
            return "succeeded";
        case RunStatus::failed:
            return "failed";
        case RunStatus::timeout:
            return "timeout";
    }
    return "failed";
}

Scheduler::Impl::Impl(asio::any_io_executor ex, SchedulerSettings s, const Clock& c, TickClaims& tc,
                      StateStore& ss, LeaderLease& ll)
    : executor(ex),
      strand(asio::make_strand(ex)),
      settings(std::move(s)),
      clock(c),
      claims(tc),
      store(ss),
      lease(ll),
      loop_timer(strand) {
    if (settings.instance_id.empty()) {
        settings.instance_id = make_instance_id();
    }
}

JobSlot* Scheduler::Impl::find(std::string_view id) {
    for (auto& job : jobs) {
        if (job.spec.id == id) {
            return &job;
        }
    }
    return nullptr;
}

bool Scheduler::Impl::leads_now() const {
    return leader && phase == Phase::running && clock.steady_now() < lease_valid_until;
}

bool Scheduler::Impl::any_running() const {
    return std::any_of(jobs.begin(), jobs.end(), [](const JobSlot& j) { return j.run != nullptr; });
}

std::optional<TimePoint> Scheduler::Impl::next_run_time(const JobSlot& job, TimePoint now) const {
    return job.spec.trigger.next_after(now);
}

Scheduler::Scheduler(boost::asio::any_io_executor executor, SchedulerSettings settings,
                     const Clock& clock, TickClaims& claims, StateStore& state, LeaderLease& lease)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(settings), clock, claims, state,
                                   lease)) {}

Scheduler::~Scheduler() {
    auto impl = impl_;
    asio::dispatch(impl->strand, [impl] {
        if (impl->phase != Phase::stopped) {
            impl->phase = Phase::stopped;
            impl->loop_timer.cancel();
            impl->cancel_runs(true);
            impl->wake_idle_waiters();
        }
    });
}

void Scheduler::add_job(JobSpec spec) {
    if (impl_->phase != Phase::created) {
        throw std::logic_error("Scheduler::add_job after start");
    }
    if (spec.id.empty()) {
        throw std::invalid_argument("scheduler job: empty id");
    }
    if (impl_->find(spec.id) != nullptr) {
        throw std::invalid_argument(fmt::format("scheduler job {}: added twice", spec.id));
    }
    if (!spec.handler) {
        throw std::invalid_argument(fmt::format("scheduler job {}: no handler", spec.id));
    }
    if (spec.timeout.count() <= 0 || spec.misfire_grace.count() < 0) {
        throw std::invalid_argument(
            fmt::format("scheduler job {}: the timeout must be positive and the misfire grace "
                        "not negative",
                        spec.id));
    }
    JobSlot slot;
    slot.state.job_id = spec.id;
    slot.spec = std::move(spec);
    impl_->jobs.push_back(std::move(slot));
}

Task<void> Scheduler::start() { return on_strand(impl_, do_start(impl_)); }

Task<milliseconds> Scheduler::tick() { return on_strand(impl_, do_tick(impl_)); }

Task<void> Scheduler::run() { return on_strand(impl_, do_run(impl_)); }

Task<Result<RunNowOutcome>> Scheduler::run_now(std::string job_id) {
    return on_strand(impl_, do_run_now(impl_, std::move(job_id)));
}

Task<SchedulerStatus> Scheduler::status() { return on_strand(impl_, do_status(impl_)); }

Task<bool> Scheduler::wait_idle(milliseconds bound) {
    return on_strand(impl_, do_wait_idle(impl_, bound));
}

Task<void> Scheduler::stop() { return on_strand(impl_, do_stop(impl_)); }

const std::string& Scheduler::instance_id() const noexcept { return impl_->settings.instance_id; }

std::string make_instance_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
        std::snprintf(host, sizeof host, "host");
    }
    std::random_device rd;
    return fmt::format("{}-{}-{:08x}", host, ::getpid(), rd());
}

}  // namespace confidant::scheduler
