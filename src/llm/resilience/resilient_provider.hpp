#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "llm/provider.hpp"
#include "llm/resilience/circuit_breaker.hpp"
#include "llm/resilience/retry_budget.hpp"
#include "llm/settings.hpp"

namespace confidant::llm {

inline constexpr std::size_t kFailureKindCount =
    static_cast<std::size_t>(FailureKind::cancelled) + 1;

/// Counters for /metrics; every field is a running total except `in_flight`.
struct ResilienceStats {
    std::uint64_t calls = 0;     ///< complete() + stream() calls
    std::uint64_t attempts = 0;  ///< calls made to the inner provider
    std::uint64_t retries = 0;   ///< attempts after the first
    std::uint64_t successes = 0;
    std::uint64_t cancelled = 0;               ///< the caller went away (not a failure)
    std::uint64_t rejected_by_breaker = 0;     ///< returned `circuit_open`
    std::uint64_t rejected_by_bulkhead = 0;    ///< returned `bulkhead_full`
    std::uint64_t retry_budget_exhausted = 0;  ///< a retry was wanted but the budget was empty
    /// Calls that returned an error, by `FailureKind` index; `circuit_open`, `bulkhead_full` and
    /// `cancelled` stay 0 here (they have their own counters above).
    std::array<std::uint64_t, kFailureKindCount> failures{};
    std::int64_t in_flight = 0;
};

/// The decorator that keeps Confidant serving when its model provider is slow or down:
/// bulkhead → circuit breaker → retries (budgeted, exponential backoff with full jitter,
/// honouring the provider's retry hint) with a timeout per attempt and a deadline per call.
///
/// - Bulkhead: more than `max_concurrent` calls in flight → `bulkhead_full` at once.
/// - Breaker open (or every half-open trial slot taken) → `circuit_open` at once, without
///   touching the inner provider, with `retry_after` = time until the breaker half-opens (≥ 1 s).
/// - Retries only `ProviderError::retryable()` errors, at most `max_retries` times, each one
///   paid from the retry budget and each one asking the breaker again. It waits
///   max(hint, backoff); when the hint would overrun the deadline it gives up at once, returning
///   the error with the hint as `retry_after`.
/// - complete(): each attempt is raced against min(attempt_timeout, time left to the deadline).
/// - stream(): the first delta must come within `first_token_timeout` and each next one within
///   `stall_timeout` (time spent inside the caller's sink does not count), the whole stream
///   within the deadline; else the attempt fails with `timeout`. A stream is retried only while
///   no delta has reached the caller. The breaker judges slowness by the time to first delta.
/// - Every returned error carries `retry_after` (the provider's hint, the breaker's, or 1 s).
/// - Cancellation of the awaiting coroutine cancels the inner call; the call returns
///   `cancelled` (the caller is gone anyway) and it counts against neither breaker nor stats'
///   failures.
///
/// Timeouts use real Asio timers; the breaker, the retry budget and call durations use the
/// injected `Clock`. Thread-safe; never blocks a thread.
class ResilientProvider final : public Provider {
  public:
    /// `inner` is shared so the wiring (and tests) may keep a handle on it; `clock` must outlive
    /// this object. The breaker is named after `inner->name()`.
    ResilientProvider(std::shared_ptr<Provider> inner, const ResilienceSettings& settings,
                      const Clock& clock = Clock::real());

    std::string_view name() const override;
    std::string model() const override;
    Task<LlmResult<Completion>> complete(const CompletionRequest& request) override;
    Task<LlmResult<Completion>> stream(const CompletionRequest& request,
                                       DeltaSink on_delta) override;

    /// One snapshot per breaker (one today), for `GET /admin/circuit_breakers`.
    std::vector<CircuitBreaker::Snapshot> breakers() const;
    ResilienceStats stats() const;

    const CircuitBreaker& breaker() const noexcept { return breaker_; }
    const RetryBudget& retry_budget() const noexcept { return budget_; }

  private:
    struct AttemptResult;

    Task<LlmResult<Completion>> call(const CompletionRequest& request, const DeltaSink* on_delta);
    Task<AttemptResult> attempt_complete(const CompletionRequest& request,
                                         std::chrono::steady_clock::time_point deadline);
    Task<AttemptResult> attempt_stream(const CompletionRequest& request, const DeltaSink& on_delta,
                                       std::chrono::steady_clock::time_point deadline,
                                       std::atomic<bool>& delivered);
    ProviderError finish_error(ProviderError e);

    std::shared_ptr<Provider> inner_;
    const ResilienceSettings settings_;
    const Clock& clock_;
    CircuitBreaker breaker_;
    RetryBudget budget_;

    std::atomic<std::int64_t> in_flight_{0};
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> attempts_{0};
    std::atomic<std::uint64_t> retries_{0};
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> cancelled_{0};
    std::atomic<std::uint64_t> rejected_by_breaker_{0};
    std::atomic<std::uint64_t> rejected_by_bulkhead_{0};
    std::atomic<std::uint64_t> budget_exhausted_{0};
    std::array<std::atomic<std::uint64_t>, kFailureKindCount> failures_{};
};

}  // namespace confidant::llm
