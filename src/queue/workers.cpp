#include "queue/workers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <random>

#include "core/log_exception.hpp"

namespace confidant::queue {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::chrono::milliseconds Backoff::delay(int attempt, double unit_random) const {
    const double exp = std::pow(2.0, std::max(0, attempt - 1));
    const double full = std::min(static_cast<double>(max.count()),
                                 static_cast<double>(base.count()) * exp);
    // Full jitter over the upper half: never sooner than half the nominal wait.
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(full / 2 + full / 2 * std::clamp(unit_random, 0.0, 1.0)));
}

/// One attempt in progress.
struct WorkerPool::Running {
    Running(asio::any_io_executor ex, Job j)
        : job(std::move(j)), stop(std::move(ex), asio::steady_timer::time_point::max()) {}
    Job job;
    asio::steady_timer stop;  // cancelled to end the attempt early
    enum class Why { none, lost, drained } why = Why::none;
};

WorkerPool::WorkerPool(asio::any_io_executor executor, Queue& queue, WorkerSettings settings,
                       const Clock& clock)
    : executor_(executor),
      queue_(queue),
      settings_(std::move(settings)),
      clock_(clock),
      wake_(executor),
      alive_(std::make_shared<bool>(true)),
      idle_(executor, asio::steady_timer::time_point::max()) {
    settings_.concurrency = std::max<std::size_t>(1, settings_.concurrency);
    start_delays_.reserve(4096);
}

WorkerPool::~WorkerPool() { *alive_ = false; }

void WorkerPool::add(JobType type) {
    std::lock_guard lock(stats_mutex_);
    stats_[type.type];
    std::string name = type.type;
    types_.emplace(std::move(name), std::move(type));
}

void WorkerPool::start() {
    auto log = [](const char* what) {
        return [what](std::exception_ptr e) { log_if_exception(what, e); };
    };
    asio::co_spawn(executor_, dispatch(), log("job dispatcher"));
    asio::co_spawn(executor_, heartbeat(), log("job lease heartbeat"));
    asio::co_spawn(executor_, maintain(), log("job queue maintenance"));
}

void WorkerPool::notify() {
    asio::post(executor_, [this, alive = alive_] {
        if (!*alive) {
            return;
        }
        woken_ = true;
        wake_.cancel();
    });
}

std::vector<std::string> WorkerPool::claimable_types() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : types_) {
        const auto it = running_by_type_.find(name);
        const std::size_t running = it == running_by_type_.end() ? 0 : it->second;
        if (t.concurrency == 0 || running < t.concurrency) {
            out.push_back(name);
        }
    }
    return out;
}

Task<void> WorkerPool::dispatch() {
    while (!stopping_) {
        const std::size_t free = settings_.concurrency - running_.load();
        auto types = claimable_types();
        bool more = false;
        if (free > 0 && !types.empty()) {
            std::size_t limit = std::min(free, settings_.claim_batch);
            for (const auto& name : types) {
                const auto& t = types_.at(name);
                if (t.concurrency != 0) {
                    limit = std::min(limit, t.concurrency - running_by_type_[name]);
                }
            }
            ClaimRequest request;
            request.worker = settings_.worker_id;
            request.limit = static_cast<int>(limit);
            request.types = std::move(types);
            request.lease = settings_.lease;
            request.per_user_running = settings_.per_user_running;
            std::vector<Job> jobs;
            try {
                jobs = co_await queue_.claim(request);
            } catch (const std::exception& e) {
                spdlog::warn("job dispatcher: claim failed: {}", e.what());
            }
            for (auto& job : jobs) {
                running_.fetch_add(1);
                ++running_by_type_[job.type];
                asio::co_spawn(executor_, run_one(std::move(job)),
                               [](std::exception_ptr e) { log_if_exception("job attempt", e); });
            }
            more = !jobs.empty() && jobs.size() == limit;
        }
        if (stopping_) {
            break;
        }
        if (more || woken_) {
            woken_ = false;
            continue;
        }
        wake_.expires_after(settings_.poll);
        co_await wake_.async_wait(kTuple);
    }
}

Task<void> WorkerPool::heartbeat() {
    asio::steady_timer timer(executor_);
    const auto every = std::max(std::chrono::milliseconds(10), settings_.lease / 3);
    while (!stopping_ || running_.load() > 0) {
        timer.expires_after(every);
        co_await timer.async_wait(kTuple);
        if (attempts_.empty()) {
            continue;
        }
        std::vector<std::pair<JobId, std::int64_t>> held;
        held.reserve(attempts_.size());
        for (const auto& [id, r] : attempts_) {
            held.emplace_back(id, r->job.fence);
        }
        try {
            auto lost = co_await queue_.renew(std::move(held), settings_.lease);
            for (JobId id : lost) {
                if (auto it = attempts_.find(id); it != attempts_.end()) {
                    it->second->why = Running::Why::lost;
                    it->second->stop.cancel();
                }
            }
        } catch (const std::exception& e) {
            // The leases run on; if the database stays away they expire and others rescue.
            spdlog::warn("job lease heartbeat failed: {}", e.what());
        }
    }
}

Task<void> WorkerPool::maintain() {
    asio::steady_timer timer(executor_);
    while (!stopping_) {
        try {
            const auto rescued = co_await queue_.maintain();
            if (rescued > 0) {
                spdlog::info("job queue: {} jobs whose worker stopped were put back", rescued);
            }
            auto counts = co_await queue_.counts();
            std::lock_guard lock(stats_mutex_);
            last_counts_ = std::move(counts);
            last_counts_at_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  clock_.system_now().time_since_epoch())
                                  .count();
        } catch (const std::exception& e) {
            spdlog::warn("job queue maintenance failed: {}", e.what());
        }
        timer.expires_after(settings_.maintain_every);
        co_await timer.async_wait(kTuple);
    }
}

std::chrono::milliseconds WorkerPool::retry_delay(const JobType& t, int attempt) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return t.backoff.delay(attempt, std::uniform_real_distribution<double>(0, 1)(rng));
}

Task<void> WorkerPool::run_one(Job job) {
    const auto started = std::chrono::steady_clock::now();
    const auto now_ms = [this] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   clock_.system_now().time_since_epoch())
            .count();
    };
    auto attempt = std::make_shared<Running>(executor_, std::move(job));
    const Job& j = attempt->job;
    attempts_.emplace(j.id, attempt);
    {
        std::lock_guard lock(stats_mutex_);
        ++stats_[j.type].started;
        ++stats_[j.type].running;
        const double delay = static_cast<double>(std::max<std::int64_t>(0, now_ms() - j.run_at));
        if (start_delays_.size() < 4096) {
            start_delays_.push_back(delay);
        } else {
            start_delays_[start_delay_next_] = delay;
        }
        start_delay_next_ = (start_delay_next_ + 1) % 4096;
    }
    const JobType& type = types_.at(j.type);

    storage::Transaction finish_with;
    JobContext ctx{j, finish_with, j.fence};
    std::optional<Result<std::string>> outcome;
    bool timed_out = false;
    try {
        asio::steady_timer deadline(executor_, type.timeout);
        auto raced = co_await (type.handler->run(ctx) || deadline.async_wait(kTuple) ||
                               attempt->stop.async_wait(kTuple));
        if (raced.index() == 0) {
            outcome.emplace(std::move(std::get<0>(raced)));
        } else if (raced.index() == 1) {
            timed_out = true;
        }
    } catch (const std::exception& e) {
        outcome.emplace(make_error(ErrorCode::internal, e.what()));
    }

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bool succeeded = false;
    bool dead = false;
    try {
        if (attempt->why == Running::Why::drained) {
            co_await queue_.release(j.id, j.fence);
        } else if (attempt->why != Running::Why::lost) {
            Outcome o;
            o.id = j.id;
            o.fence = j.fence;
            o.keep_for = type.keep_result;
            if (outcome && outcome->has_value()) {
                o.succeeded = true;
                o.result = std::move(outcome->value());
                succeeded = true;
            } else {
                o.succeeded = false;
                o.error = timed_out ? "timed out after " + std::to_string(type.timeout.count()) +
                                          " ms"
                                    : outcome->error().message;
                const bool hopeless =
                    outcome && !outcome->has_value() && outcome->error().code == ErrorCode::bad_request;
                if (j.attempts < j.max_attempts && !hopeless) {
                    o.retry_at = now_ms() + retry_delay(type, j.attempts).count();
                } else {
                    dead = true;
                    o.keep_for = std::chrono::hours(24 * 7);  // the dead-letter list
                }
                finish_with = storage::Transaction{};  // a failed attempt records nothing else
            }
            const bool held = co_await queue_.finish(std::move(o), std::move(finish_with));
            if (!held) {
                attempt->why = Running::Why::lost;
            }
        }
    } catch (const std::exception& e) {
        // The lease expires and the job is rescued: at least once, never lost.
        spdlog::warn("job {} ({}): could not record the end of its attempt: {}", j.id, j.type,
                     e.what());
    }

    {
        std::lock_guard lock(stats_mutex_);
        auto& st = stats_[j.type];
        --st.running;
        st.seconds_total += seconds;
        if (attempt->why == Running::Why::lost) {
            ++st.lost;
        } else if (attempt->why == Running::Why::none) {
            if (succeeded) {
                ++st.succeeded;
            } else {
                ++st.failed;
                st.dead += dead ? 1 : 0;
            }
        }
    }
    const std::string type_name = j.type;
    attempts_.erase(j.id);  // `attempt` keeps the job alive until the end of this scope
    --running_by_type_[type_name];
    running_.fetch_sub(1);
    if (stopping_ && running_.load() == 0) {
        idle_.cancel();
    }
    notify();
}

Task<void> WorkerPool::drain() {
    stopping_ = true;
    wake_.cancel();
    if (running_.load() > 0) {
        idle_.expires_after(settings_.drain_timeout);
        co_await idle_.async_wait(kTuple);
    }
    if (running_.load() > 0) {
        spdlog::warn("worker drain: handing {} running jobs back", running_.load());
        for (auto& [id, r] : attempts_) {
            r->why = Running::Why::drained;
            r->stop.cancel();
        }
        asio::steady_timer wait(executor_);
        for (int i = 0; i < 500 && running_.load() > 0; ++i) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(kTuple);
        }
    }
}

std::map<std::string, TypeStats> WorkerPool::stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

std::pair<std::map<std::string, QueueCounts>, UnixMillis> WorkerPool::last_counts() const {
    std::lock_guard lock(stats_mutex_);
    return {last_counts_, last_counts_at_};
}

void WorkerPool::render_metrics(std::string& out) const {
    std::lock_guard lock(stats_mutex_);
    auto line = [&out](std::string_view name, const std::string& labels, double v) {
        out.append(name);
        if (!labels.empty()) {
            out.append("{").append(labels).append("}");
        }
        out.append(" ").append(std::to_string(v)).append("\n");
    };
    out += "# HELP queue_jobs Jobs in the queue by queue and status (sampled every few seconds).\n";
    out += "# TYPE queue_jobs gauge\n";
    for (const auto& [q, c] : last_counts_) {
        const std::string l = "queue=\"" + q + "\",status=";
        line("queue_jobs", l + "\"queued\"", static_cast<double>(c.queued));
        line("queue_jobs", l + "\"running\"", static_cast<double>(c.running));
        line("queue_jobs", l + "\"succeeded\"", static_cast<double>(c.succeeded));
        line("queue_jobs", l + "\"failed\"", static_cast<double>(c.failed));
        line("queue_jobs", l + "\"dead\"", static_cast<double>(c.dead));
    }
    out += "# HELP queue_oldest_ready_age_seconds Age of the oldest job ready to run, per queue.\n";
    out += "# TYPE queue_oldest_ready_age_seconds gauge\n";
    for (const auto& [q, c] : last_counts_) {
        const double age = c.oldest_queued_run_at
                               ? static_cast<double>(std::max<std::int64_t>(
                                     0, last_counts_at_ - *c.oldest_queued_run_at)) /
                                     1000.0
                               : 0.0;
        line("queue_oldest_ready_age_seconds", "queue=\"" + q + "\"", age);
    }
    out += "# HELP queue_attempts_total Job attempts run by this process, by type and outcome.\n";
    out += "# TYPE queue_attempts_total counter\n";
    for (const auto& [t, st] : stats_) {
        const std::string l = "type=\"" + t + "\",outcome=";
        line("queue_attempts_total", l + "\"succeeded\"", static_cast<double>(st.succeeded));
        line("queue_attempts_total", l + "\"failed\"", static_cast<double>(st.failed));
        line("queue_attempts_total", l + "\"lost\"", static_cast<double>(st.lost));
    }
    out += "# HELP queue_dead_total Jobs that failed their last attempt here, by type.\n";
    out += "# TYPE queue_dead_total counter\n";
    for (const auto& [t, st] : stats_) {
        line("queue_dead_total", "type=\"" + t + "\"", static_cast<double>(st.dead));
    }
    out += "# HELP queue_attempt_seconds_total Time spent in job attempts, by type.\n";
    out += "# TYPE queue_attempt_seconds_total counter\n";
    for (const auto& [t, st] : stats_) {
        line("queue_attempt_seconds_total", "type=\"" + t + "\"", st.seconds_total);
    }
    out += "# HELP queue_running Attempts running in this process, by type.\n";
    out += "# TYPE queue_running gauge\n";
    for (const auto& [t, st] : stats_) {
        line("queue_running", "type=\"" + t + "\"", static_cast<double>(st.running));
    }
}

std::vector<double> WorkerPool::recent_start_delays_ms() const {
    std::lock_guard lock(stats_mutex_);
    return start_delays_;
}

}  // namespace confidant::queue
