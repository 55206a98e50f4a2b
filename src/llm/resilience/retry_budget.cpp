#include "llm/resilience/retry_budget.hpp"

#include <algorithm>

namespace confidant::llm {

RetryBudget::RetryBudget(double ratio, double min_per_s, const Clock& clock)
    : ratio_(std::max(0.0, ratio)),
      min_per_s_(std::max(0.0, min_per_s)),
      cap_(std::max(10.0, 10.0 * std::max(0.0, min_per_s))),
      clock_(clock),
      balance_(std::min(cap_, min_per_s_)),
      last_refill_(clock.steady_now()) {}

void RetryBudget::refill_locked() const {
    const auto now = clock_.steady_now();
    if (now <= last_refill_) {
        return;
    }
    const double seconds = std::chrono::duration<double>(now - last_refill_).count();
    balance_ = std::min(cap_, balance_ + seconds * min_per_s_);
    last_refill_ = now;
}

void RetryBudget::deposit() {
    std::lock_guard lock(mutex_);
    refill_locked();
    balance_ = std::min(cap_, balance_ + ratio_);
}

bool RetryBudget::try_spend() {
    std::lock_guard lock(mutex_);
    refill_locked();
    // A small epsilon: five deposits of 0.2 must buy one retry despite rounding.
    if (balance_ < 1.0 - 1e-9) {
        return false;
    }
    balance_ = std::max(0.0, balance_ - 1.0);
    return true;
}

double RetryBudget::balance() const {
    std::lock_guard lock(mutex_);
    refill_locked();
    return balance_;
}

}  // namespace confidant::llm
