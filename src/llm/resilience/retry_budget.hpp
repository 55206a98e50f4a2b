#pragma once

#include <chrono>
#include <mutex>

#include "core/clock.hpp"

namespace confidant::llm {

/// A token bucket that bounds retries so an outage does not multiply the load on a provider.
/// Each first attempt deposits `ratio` tokens and each retry spends one, so retries add at most
/// `ratio` to the call rate; `min_per_s` tokens also trickle in every second so a quiet service
/// can still retry. The balance is capped at ten seconds' worth of `min_per_s` (at least 10),
/// and starts at one second's worth. Thread-safe; time from the injected `Clock`.
class RetryBudget {
  public:
    RetryBudget(double ratio, double min_per_s, const Clock& clock = Clock::real());
    RetryBudget(const RetryBudget&) = delete;
    RetryBudget& operator=(const RetryBudget&) = delete;

    /// A first attempt is about to be made.
    void deposit();
    /// Spends one token for a retry; false (and nothing spent) when the budget is empty.
    bool try_spend();
    /// The current balance (after refill), for tests and metrics.
    double balance() const;

  private:
    void refill_locked() const;

    const double ratio_;
    const double min_per_s_;
    const double cap_;
    const Clock& clock_;
    mutable std::mutex mutex_;
    mutable double balance_;
    mutable std::chrono::steady_clock::time_point last_refill_;
};

}  // namespace confidant::llm
