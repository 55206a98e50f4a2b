#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "llm/provider.hpp"
#include "llm/settings.hpp"

namespace confidant::llm {

/// A count-based circuit breaker (the Resilience4j model) around one provider.
///
/// CLOSED: every call is allowed; the outcomes of the last `window_size` calls are kept. Once
/// at least `minimum_calls` are in the window, the breaker opens when the failure rate reaches
/// `failure_rate_threshold` or the slow-call rate (calls lasting `slow_call_duration` or more,
/// failed or not) reaches `slow_call_rate_threshold`.
/// OPEN: every call is refused for `open_duration`.
/// HALF_OPEN: at most `half_open_max_calls` trial calls are let through. Any failed trial opens
/// the breaker again; when all trials have succeeded the breaker closes with an empty window,
/// unless the trials were slow at `slow_call_rate_threshold` or more (then it opens again).
///
/// What counts as a failure (`outcome_for`): timeout, unavailable, rate_limited, protocol and
/// quota_exhausted (the provider cannot serve us: failing fast spares it and the caller).
/// `rejected` (the request's own fault), `cancelled` (the client went away), and our own
/// refusals (`circuit_open`, `bulkhead_full`) are ignored: they say nothing about the provider.
///
/// Results of calls admitted before the last state change are ignored, so a slow call started
/// while CLOSED cannot close or reopen a breaker that has since moved on.
///
/// Thread-safe: one mutex, held for a few dozen instructions; no allocation or I/O on the call
/// path. Time comes from the injected `Clock`.
class CircuitBreaker {
  public:
    enum class State { closed, open, half_open };
    enum class Outcome {
        success,  ///< the call succeeded (slow or not, by its duration)
        failure,  ///< the call failed in a way that counts against the provider
        ignored,  ///< the call says nothing about the provider: only its permit is returned
    };

    /// Proof that a call was admitted; hand it back to `on_result` exactly once.
    struct Permit {
        std::uint64_t epoch = 0;  ///< the state generation that admitted the call
        bool trial = false;       ///< a HALF_OPEN trial call
    };

    /// The fields of `GET /admin/circuit_breakers`.
    struct Snapshot {
        std::string name;
        std::string_view state;       ///< "closed", "open", "half_open"
        double failure_rate = 0.0;    ///< 0..1 over the calls in the window
        double slow_call_rate = 0.0;  ///< 0..1 over the calls in the window
        int calls = 0;                ///< calls in the window
        std::optional<std::chrono::system_clock::time_point> opened_at;  ///< OPEN / HALF_OPEN
        std::optional<std::chrono::system_clock::time_point> retry_at;   ///< OPEN / HALF_OPEN
    };

    /// `clock` must outlive the breaker. Settings out of range are clamped (window ≥ 1, ...).
    CircuitBreaker(std::string name, const CircuitBreakerSettings& settings,
                   const Clock& clock = Clock::real());
    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    /// Admits a call, or nullopt when OPEN or when every HALF_OPEN trial slot is taken.
    /// Moves OPEN to HALF_OPEN once `open_duration` has passed.
    std::optional<Permit> try_acquire();

    /// Records the outcome of an admitted call. `duration` decides whether it was slow (for a
    /// stream: the time to its first delta).
    void on_result(Permit permit, Outcome outcome, std::chrono::nanoseconds duration);

    /// How the breaker judges a provider failure of this kind.
    static Outcome outcome_for(FailureKind kind) noexcept;

    /// The current state (OPEN reads as HALF_OPEN once `open_duration` has passed).
    State state() const;
    /// How long a refused caller should wait: until the end of OPEN, and at least one second.
    std::chrono::milliseconds retry_after() const;
    Snapshot snapshot() const;
    const std::string& name() const noexcept { return name_; }

  private:
    static constexpr std::uint8_t kFailed = 1;
    static constexpr std::uint8_t kSlow = 2;

    State effective_state_locked() const;
    void record_locked(std::uint8_t flags);
    void open_locked();
    void close_locked();
    void reset_window_locked();

    const std::string name_;
    const CircuitBreakerSettings settings_;
    const Clock& clock_;

    mutable std::mutex mutex_;
    State state_ = State::closed;
    std::uint64_t epoch_ = 0;
    std::vector<std::uint8_t> window_;  ///< ring of outcome flags, sized once
    std::size_t next_ = 0;
    int calls_ = 0;
    int failures_ = 0;
    int slow_ = 0;
    std::chrono::steady_clock::time_point open_until_{};
    std::chrono::system_clock::time_point opened_at_{};
    std::chrono::system_clock::time_point retry_at_{};
    int trials_admitted_ = 0;
    int trials_succeeded_ = 0;
    int trials_slow_ = 0;
};

const char* to_string(CircuitBreaker::State state) noexcept;

}  // namespace confidant::llm
