#include "llm/resilience/resilient_provider.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

#include "core/backoff.hpp"

namespace confidant::llm {
namespace {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using SteadyTime = steady_clock::time_point;

constexpr milliseconds kDefaultRetryAfter{1000};

/// The inner call's answer as a value. With `||` (wait_for_one_success) a thrown exception would
/// let the timer win the race and hide the fault, so faults travel as an exception_ptr.
struct InnerDone {
    std::optional<LlmResult<Completion>> result;
    std::exception_ptr fault;
};

Task<InnerDone> guarded(Task<LlmResult<Completion>> call) {
    InnerDone done;
    try {
        LlmResult<Completion> result = co_await std::move(call);
        done.result.emplace(std::move(result));
    } catch (...) {
        done.fault = std::current_exception();  // rethrown by the caller, not swallowed
    }
    co_return done;
}

/// Waits until `at`; an error code (operation_aborted) when cancelled first.
Task<boost::system::error_code> sleep_until(SteadyTime at) {
    asio::steady_timer timer(co_await asio::this_coro::executor, at);
    boost::system::error_code ec;
    try {
        auto [waited] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        ec = waited;
    } catch (const boost::system::system_error& e) {
        ec = e.code();  // cancelled before the wait began (throw_if_cancelled)
    }
    co_return ec;
}

bool cancelled(const asio::cancellation_state& state) {
    return state.cancelled() != asio::cancellation_type::none;
}

ProviderError make_provider_error(FailureKind kind, std::string message,
                                  std::optional<milliseconds> retry_after = std::nullopt) {
    ProviderError e;
    e.kind = kind;
    e.message = std::move(message);
    e.retry_after = retry_after;
    return e;
}

/// Shared by a stream attempt's inner call (which feeds deltas) and its watchdog. Atomics: the
/// two run as separate coroutines, possibly on different threads of a multi-threaded executor.
struct StreamWatch {
    explicit StreamWatch(SteadyTime first_due) : due(first_due.time_since_epoch().count()) {}
    SteadyTime due_at() const {
        return SteadyTime(SteadyTime::duration(due.load(std::memory_order_acquire)));
    }
    void set_due(SteadyTime t) {
        due.store(t.time_since_epoch().count(), std::memory_order_release);
    }

    std::atomic<SteadyTime::rep> due;  ///< the next delta must arrive before this (real time)
    std::atomic<bool> got_first{false};
    /// Time to the first delta on the injected clock.
    std::atomic<std::chrono::nanoseconds::rep> first_after{0};
};

enum class WatchEnd { first_token, stall, deadline, aborted };

Task<WatchEnd> watchdog(StreamWatch& watch, SteadyTime deadline) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        timer.expires_at(std::min(watch.due_at(), deadline));
        boost::system::error_code ec;
        try {
            auto [waited] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            ec = waited;
        } catch (const boost::system::system_error& e) {
            ec = e.code();
        }
        if (ec) {
            co_return WatchEnd::aborted;
        }
        const auto now = steady_clock::now();
        if (now >= deadline) {
            co_return WatchEnd::deadline;
        }
        // A delta may have moved `due` while the timer ran: then simply wait again.
        if (now >= watch.due_at()) {
            co_return watch.got_first.load() ? WatchEnd::stall : WatchEnd::first_token;
        }
    }
}

Task<void> forward_delta(StreamWatch& watch, const DeltaSink& on_delta,
                         std::atomic<bool>& delivered, const Clock& clock,
                         std::chrono::steady_clock::time_point started, milliseconds stall_timeout,
                         SteadyTime deadline, std::string_view delta) {
    if (delta.empty()) {
        co_return;
    }
    if (!watch.got_first.exchange(true)) {
        watch.first_after.store((clock.steady_now() - started).count());
    }
    delivered.store(true);
    // Time spent in the caller's sink (a slow client) is not a provider stall.
    watch.set_due(deadline);
    co_await on_delta(delta);
    watch.set_due(steady_clock::now() + stall_timeout);
}

/// Returns the permit exactly once, also when the call throws or its coroutine is destroyed.
class PermitGuard {
  public:
    PermitGuard(CircuitBreaker& breaker, CircuitBreaker::Permit permit)
        : breaker_(breaker), permit_(permit) {}
    PermitGuard(const PermitGuard&) = delete;
    PermitGuard& operator=(const PermitGuard&) = delete;
    ~PermitGuard() {
        if (!settled_) {
            breaker_.on_result(permit_, CircuitBreaker::Outcome::ignored, {});
        }
    }
    void settle(CircuitBreaker::Outcome outcome, std::chrono::nanoseconds duration) {
        settled_ = true;
        breaker_.on_result(permit_, outcome, duration);
    }

  private:
    CircuitBreaker& breaker_;
    CircuitBreaker::Permit permit_;
    bool settled_ = false;
};

class InFlightGuard {
  public:
    explicit InFlightGuard(std::atomic<std::int64_t>& counter) : counter_(counter) {}
    InFlightGuard(const InFlightGuard&) = delete;
    InFlightGuard& operator=(const InFlightGuard&) = delete;
    ~InFlightGuard() { counter_.fetch_sub(1, std::memory_order_acq_rel); }

  private:
    std::atomic<std::int64_t>& counter_;
};

}  // namespace

struct ResilientProvider::AttemptResult {
    std::optional<LlmResult<Completion>> result;  ///< empty when `fault` or `cancelled`
    std::exception_ptr fault;
    bool cancelled = false;                ///< the caller's coroutine was cancelled
    std::chrono::nanoseconds duration{0};  ///< for the breaker's slow-call judgement
};

ResilientProvider::ResilientProvider(std::shared_ptr<Provider> inner,
                                     const ResilienceSettings& settings, const Clock& clock)
    : inner_(std::move(inner)),
      settings_(settings),
      clock_(clock),
      breaker_(std::string(inner_->name()), settings.breaker, clock),
      budget_(settings.retry_budget_ratio, settings.retry_budget_min_per_s, clock) {}

std::string_view ResilientProvider::name() const { return inner_->name(); }

std::string ResilientProvider::model() const { return inner_->model(); }

Task<LlmResult<Completion>> ResilientProvider::complete(const CompletionRequest& request) {
    co_return co_await call(request, nullptr);
}

Task<LlmResult<Completion>> ResilientProvider::stream(const CompletionRequest& request,
                                                      DeltaSink on_delta) {
    co_return co_await call(request, &on_delta);
}

Task<LlmResult<Completion>> ResilientProvider::call(const CompletionRequest& request,
                                                    const DeltaSink* on_delta) {
    calls_.fetch_add(1, std::memory_order_relaxed);
    const auto max = static_cast<std::int64_t>(settings_.max_concurrent);
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= max) {
        in_flight_.fetch_sub(1, std::memory_order_acq_rel);
        rejected_by_bulkhead_.fetch_add(1, std::memory_order_relaxed);
        co_return make_provider_error(
            FailureKind::bulkhead_full,
            fmt::format("{} calls to {} already in flight", settings_.max_concurrent, name()),
            kDefaultRetryAfter);
    }
    InFlightGuard in_flight(in_flight_);

    const SteadyTime deadline = steady_clock::now() + settings_.deadline;
    std::atomic<bool> delivered{false};
    auto cancelled_error = [this] {
        cancelled_.fetch_add(1, std::memory_order_relaxed);
        return make_provider_error(FailureKind::cancelled, "the caller went away",
                                   kDefaultRetryAfter);
    };

    for (int attempt = 0;; ++attempt) {
        // Checked before every co_await of a nested coroutine, which would throw once cancelled.
        // (Named locals: GCC 12 miscompiles some uses of a co_await expression's value.)
        const asio::cancellation_state before_attempt =
            co_await asio::this_coro::cancellation_state;
        if (cancelled(before_attempt)) {
            co_return cancelled_error();
        }
        const auto permit = breaker_.try_acquire();
        if (!permit) {
            rejected_by_breaker_.fetch_add(1, std::memory_order_relaxed);
            co_return make_provider_error(
                FailureKind::circuit_open,
                fmt::format("the circuit breaker for {} is open", breaker_.name()),
                breaker_.retry_after());
        }
        PermitGuard guard(breaker_, *permit);
        if (attempt == 0) {
            budget_.deposit();
        }
        attempts_.fetch_add(1, std::memory_order_relaxed);

        // Not a conditional expression: GCC mishandles co_await inside `?:`.
        AttemptResult r;
        if (on_delta != nullptr) {
            r = co_await attempt_stream(request, *on_delta, deadline, delivered);
        } else {
            r = co_await attempt_complete(request, deadline);
        }
        if (r.cancelled) {
            guard.settle(CircuitBreaker::Outcome::ignored, r.duration);
            co_return cancelled_error();
        }
        if (r.fault) {
            guard.settle(CircuitBreaker::Outcome::failure, r.duration);
            std::rethrow_exception(r.fault);
        }
        LlmResult<Completion>& result = *r.result;
        if (result.has_value()) {
            guard.settle(CircuitBreaker::Outcome::success, r.duration);
            successes_.fetch_add(1, std::memory_order_relaxed);
            co_return std::move(result);
        }
        ProviderError error = std::move(result.error());
        guard.settle(CircuitBreaker::outcome_for(error.kind), r.duration);
        if (error.kind == FailureKind::cancelled) {
            cancelled_.fetch_add(1, std::memory_order_relaxed);
            if (!error.retry_after) {
                error.retry_after = kDefaultRetryAfter;
            }
            co_return error;
        }

        if (!error.retryable() || attempt >= settings_.max_retries || delivered.load()) {
            co_return finish_error(std::move(error));
        }
        const auto now = steady_clock::now();
        if (error.retry_after && now + *error.retry_after >= deadline) {
            // The provider asks for more patience than this call has left: say so at once.
            co_return finish_error(std::move(error));
        }
        const milliseconds wait =
            std::max(error.retry_after.value_or(milliseconds(0)),
                     full_jitter_backoff(attempt, settings_.backoff_base, settings_.backoff_max));
        if (now + wait >= deadline) {
            co_return finish_error(std::move(error));
        }
        if (!budget_.try_spend()) {
            budget_exhausted_.fetch_add(1, std::memory_order_relaxed);
            co_return finish_error(std::move(error));
        }
        retries_.fetch_add(1, std::memory_order_relaxed);
        const asio::cancellation_state before_sleep = co_await asio::this_coro::cancellation_state;
        if (cancelled(before_sleep)) {
            co_return cancelled_error();
        }
        const boost::system::error_code slept = co_await sleep_until(now + wait);
        if (slept) {
            co_return cancelled_error();
        }
    }
}

Task<ResilientProvider::AttemptResult> ResilientProvider::attempt_complete(
    const CompletionRequest& request, SteadyTime deadline) {
    AttemptResult r;
    const auto started = clock_.steady_now();
    const SteadyTime attempt_end = steady_clock::now() + settings_.attempt_timeout;
    const SteadyTime timeout_at = std::min(attempt_end, deadline);
    try {
        auto race = co_await (guarded(inner_->complete(request)) || sleep_until(timeout_at));
        if (race.index() == 0) {
            InnerDone& done = std::get<0>(race);
            r.result = std::move(done.result);
            r.fault = done.fault;
        } else if (std::get<1>(race)) {
            r.cancelled = true;  // our timer was cancelled: only the caller does that
        } else {
            r.result.emplace(make_provider_error(
                FailureKind::timeout, timeout_at == deadline
                                          ? fmt::format("{}: deadline of {} ms exceeded", name(),
                                                        settings_.deadline.count())
                                          : fmt::format("{}: no answer within {} ms", name(),
                                                        settings_.attempt_timeout.count())));
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != asio::error::operation_aborted) {
            throw;
        }
        r.cancelled = true;  // cancelled just as the race began
    }
    r.duration = clock_.steady_now() - started;
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (cancelled(state)) {
        r.cancelled = true;  // the inner call's answer (cancelled or aborted) is moot
    }
    if (r.cancelled) {
        r.fault = nullptr;
    }
    co_return r;
}

Task<ResilientProvider::AttemptResult> ResilientProvider::attempt_stream(
    const CompletionRequest& request, const DeltaSink& on_delta, SteadyTime deadline,
    std::atomic<bool>& delivered) {
    AttemptResult r;
    const auto started = clock_.steady_now();
    StreamWatch watch(std::min(steady_clock::now() + settings_.first_token_timeout, deadline));
    const milliseconds stall = settings_.stall_timeout;
    const Clock& clock = clock_;
    DeltaSink sink = [&watch, &on_delta, &delivered, &clock, started, stall,
                      deadline](std::string_view delta) {
        return forward_delta(watch, on_delta, delivered, clock, started, stall, deadline, delta);
    };
    try {
        auto race = co_await (guarded(inner_->stream(request, sink)) || watchdog(watch, deadline));
        if (race.index() == 0) {
            InnerDone& done = std::get<0>(race);
            r.result = std::move(done.result);
            r.fault = done.fault;
        } else {
            switch (std::get<1>(race)) {
                case WatchEnd::aborted:
                    r.cancelled = true;
                    break;
                case WatchEnd::first_token:
                    r.result.emplace(make_provider_error(
                        FailureKind::timeout, fmt::format("{}: no first token within {} ms", name(),
                                                          settings_.first_token_timeout.count())));
                    break;
                case WatchEnd::stall:
                    r.result.emplace(make_provider_error(
                        FailureKind::timeout,
                        fmt::format("{}: stream stalled for {} ms", name(), stall.count())));
                    break;
                case WatchEnd::deadline:
                    r.result.emplace(make_provider_error(
                        FailureKind::timeout, fmt::format("{}: deadline of {} ms exceeded", name(),
                                                          settings_.deadline.count())));
                    break;
            }
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != asio::error::operation_aborted) {
            throw;
        }
        r.cancelled = true;
    }
    // A stream's slowness is its time to first delta: a long answer is not a slow provider.
    const bool ok = r.result && r.result->has_value();
    r.duration = ok && watch.got_first.load() ? std::chrono::nanoseconds(watch.first_after.load())
                                              : clock_.steady_now() - started;
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (cancelled(state)) {
        r.cancelled = true;
    }
    if (r.cancelled) {
        r.fault = nullptr;
    }
    co_return r;
}

ProviderError ResilientProvider::finish_error(ProviderError e) {
    failures_[static_cast<std::size_t>(e.kind)].fetch_add(1, std::memory_order_relaxed);
    if (!e.retry_after) {
        // Until the breaker half-opens if this failure opened it, else a second.
        e.retry_after = breaker_.retry_after();
    }
    return e;
}

std::vector<CircuitBreaker::Snapshot> ResilientProvider::breakers() const {
    return {breaker_.snapshot()};
}

ResilienceStats ResilientProvider::stats() const {
    ResilienceStats s;
    s.calls = calls_.load(std::memory_order_relaxed);
    s.attempts = attempts_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    s.successes = successes_.load(std::memory_order_relaxed);
    s.cancelled = cancelled_.load(std::memory_order_relaxed);
    s.rejected_by_breaker = rejected_by_breaker_.load(std::memory_order_relaxed);
    s.rejected_by_bulkhead = rejected_by_bulkhead_.load(std::memory_order_relaxed);
    s.retry_budget_exhausted = budget_exhausted_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kFailureKindCount; ++i) {
        s.failures[i] = failures_[i].load(std::memory_order_relaxed);
    }
    s.in_flight = in_flight_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace confidant::llm
