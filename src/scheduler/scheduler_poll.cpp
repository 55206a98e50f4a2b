#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/time.hpp"
#include "scheduler/scheduler_impl.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono;

/// How often an instance that does not lead tries to take the lease.
milliseconds follower_interval(milliseconds period) {
    return std::clamp(period / 10, milliseconds(1), milliseconds(1000));
}

/// After a claim could not be made (database unreachable), ask again this much later.
constexpr milliseconds kClaimRetry{1000};
constexpr hours kPruneEvery{1};

std::string at(TimePoint t) { return format_rfc3339(floor<seconds>(t).time_since_epoch().count()); }

/// The latest tick of `trigger` in (after, now] that is at or after `not_before`.
std::optional<TimePoint> latest_tick(const Trigger& trigger, TimePoint after, TimePoint not_before,
                                     TimePoint now) {
    const TimePoint from = std::max(after, not_before - nanoseconds(1));
    if (trigger.kind() == Trigger::Kind::every) {
        // Interval ticks are multiples of the interval: no need to walk them.
        const auto n = trigger.interval().count();
        const auto s = floor<seconds>(now).time_since_epoch().count();
        const TimePoint last{seconds(s / n * n - ((s % n != 0 && s < 0) ? n : 0))};
        if (last > from) {
            return last;
        }
        return std::nullopt;
    }
    std::optional<TimePoint> latest;
    for (auto t = trigger.next_after(from); t && *t <= now; t = trigger.next_after(*t)) {
        latest = t;
    }
    return latest;
}

}  // namespace

Task<milliseconds> Scheduler::Impl::poll() {
    if (phase != Phase::running || polling) {
        co_return settings.max_sleep;
    }
    polling = true;
    struct Done {
        bool& flag;
        ~Done() { flag = false; }
    } done{polling};

    check_timeouts(clock.system_now());
    co_await maintain_lease();
    if (leads_now()) {
        for (auto& job : jobs) {
            // The lease may lapse (by the local clock) while an earlier job's claim waits.
            if (!leads_now()) {
                break;
            }
            co_await poll_job(job, clock.system_now());
        }
        const auto now = clock.system_now();
        if (leads_now() && now >= next_prune) {
            next_prune = now + kPruneEvery;
            try {
                const auto n = co_await claims.prune(now - settings.claim_retention);
                spdlog::debug("scheduler: pruned {} old tick claims", n);
            } catch (const std::exception& e) {
                spdlog::warn("scheduler: pruning tick claims failed: {}", e.what());
            }
        }
    }
    co_return compute_wait();
}

Task<void> Scheduler::Impl::maintain_lease() {
    const auto began = clock.steady_now();
    if (began < next_lease_attempt) {
        co_return;
    }
    bool ok = false;
    try {
        ok = co_await lease.acquire_or_renew();
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: the leader lease could not be acquired or renewed: {}", e.what());
    }
    const auto period = lease.period();
    if (ok) {
        // Counted from before the call: the backend's expiry is at least that late.
        lease_valid_until = began + period * 9 / 10;
        next_lease_attempt = began + period / 3;
        // Set even if stop() began meanwhile, so that it releases the lease.
        if (!leader) {
            leader = true;
            if (phase == Phase::running) {
                spdlog::info("scheduler: instance {} is now the leader", settings.instance_id);
                // Another leader may have run ticks meanwhile: continue from the stored state.
                co_await reload_state();
            }
        }
        co_return;
    }
    if (leader) {
        leader = false;
        spdlog::warn("scheduler: instance {} lost the leader lease", settings.instance_id);
    }
    next_lease_attempt = clock.steady_now() + follower_interval(period);
}

Task<void> Scheduler::Impl::reload_state() {
    std::vector<JobState> states;
    try {
        states = co_await store.load_all();
    } catch (const std::exception& e) {
        // The claims still prevent double runs; only ticks already handled elsewhere may be
        // looked at again.
        spdlog::warn("scheduler: loading the job state failed: {}", e.what());
        co_return;
    }
    for (auto& s : states) {
        JobSlot* job = find(s.job_id);
        if (job == nullptr) {
            continue;
        }
        if (s.last_tick && *s.last_tick > job->cursor) {
            job->cursor = *s.last_tick;
        }
        job->state = std::move(s);
    }
}

Task<void> Scheduler::Impl::poll_job(JobSlot& job, TimePoint now) {
    const Trigger& trigger = job.spec.trigger;
    if (trigger.kind() != Trigger::Kind::cron && trigger.kind() != Trigger::Kind::every) {
        co_return;
    }
    const auto first = trigger.next_after(job.cursor);
    if (!first || *first > now) {
        co_return;
    }
    // Every tick in (cursor, now] is due; they coalesce into one run of the latest, provided it
    // is at most misfire_grace late.
    const auto tick = latest_tick(trigger, job.cursor, now - job.spec.misfire_grace, now);
    if (!tick) {
        spdlog::warn("scheduler: job {}: the ticks from {} were more than {} ms late; missed",
                     job.spec.id, at(*first), job.spec.misfire_grace.count());
        job.cursor = now;
        co_await record_passed(job, now, TickPassed::missed, now);
        co_return;
    }
    if (job.run) {
        job.cursor = now;
        co_await record_passed(job, *tick, TickPassed::skipped, now);
        co_return;
    }
    bool mine = false;
    try {
        mine = co_await claims.claim(job.spec.id, *tick, settings.instance_id);
    } catch (const std::exception& e) {
        // Not run and the cursor stays: asked again at the next poll, within the grace.
        spdlog::warn("scheduler: job {}: claiming tick {} failed: {}", job.spec.id, at(*tick),
                     e.what());
        co_return;
    }
    job.cursor = std::max(job.cursor, now);
    if (!mine) {
        spdlog::debug("scheduler: job {}: tick {} was claimed elsewhere", job.spec.id, at(*tick));
        co_return;
    }
    if (!leads_now()) {
        // The lease lapsed while the claim was in flight: a new leader may have run a later
        // tick that covers this one, so running it could run the work twice.
        spdlog::warn("scheduler: job {}: tick {} claimed as the lease lapsed; not run", job.spec.id,
                     at(*tick));
        co_await record_passed(job, *tick, TickPassed::missed, now);
        co_return;
    }
    if (job.run) {  // a run-now started meanwhile
        co_await record_passed(job, *tick, TickPassed::skipped, now);
        co_return;
    }
    co_await start_run(job, *tick, false);
}

Task<void> Scheduler::Impl::record_passed(JobSlot& job, TimePoint tick, TickPassed why,
                                          TimePoint now) {
    if (why == TickPassed::skipped) {
        ++job.state.skipped;
        spdlog::info("scheduler: job {}: tick {} skipped, the previous run is still going",
                     job.spec.id, at(tick));
    } else {
        ++job.state.missed;
    }
    job.state.last_tick = std::max(job.state.last_tick.value_or(tick), tick);
    const auto next = next_run_time(job, now);
    job.state.next_run_time = next;
    try {
        co_await store.tick_passed(job.spec.id, tick, why, next);
    } catch (const std::exception& e) {
        spdlog::warn("scheduler: job {}: storing a {} tick failed: {}", job.spec.id,
                     why == TickPassed::skipped ? "skipped" : "missed", e.what());
    }
}

milliseconds Scheduler::Impl::compute_wait() const {
    nanoseconds wait = settings.max_sleep;
    if (phase == Phase::running) {
        const auto now = clock.system_now();
        wait = std::min<nanoseconds>(wait, next_lease_attempt - clock.steady_now());
        for (const auto& job : jobs) {
            if (leads_now()) {
                if (const auto next = job.spec.trigger.next_after(job.cursor)) {
                    wait = std::min<nanoseconds>(wait, *next <= now ? kClaimRetry : *next - now);
                }
            }
            if (job.run && !job.run->timed_out) {
                wait = std::min<nanoseconds>(wait, job.run->ctx.deadline - now);
            }
        }
    }
    return std::max(milliseconds(0), ceil<milliseconds>(wait));
}

}  // namespace confidant::scheduler
