#include "llm/resilience/circuit_breaker.hpp"

#include <algorithm>
#include <utility>

namespace confidant::llm {
namespace {

CircuitBreakerSettings sanitize(CircuitBreakerSettings s) {
    s.window_size = std::max(1, s.window_size);
    s.minimum_calls = std::clamp(s.minimum_calls, 1, s.window_size);
    s.half_open_max_calls = std::max(1, s.half_open_max_calls);
    s.open_duration = std::max(s.open_duration, std::chrono::milliseconds(0));
    return s;
}

}  // namespace

const char* to_string(CircuitBreaker::State state) noexcept {
    switch (state) {
        case CircuitBreaker::State::closed:
            return "closed";
        case CircuitBreaker::State::open:
            return "open";
        case CircuitBreaker::State::half_open:
            return "half_open";
    }
    return "closed";
}

CircuitBreaker::CircuitBreaker(std::string name, const CircuitBreakerSettings& settings,
                               const Clock& clock)
    : name_(std::move(name)),
      settings_(sanitize(settings)),
      clock_(clock),
      window_(static_cast<std::size_t>(settings_.window_size), 0) {}

CircuitBreaker::Outcome CircuitBreaker::outcome_for(FailureKind kind) noexcept {
    switch (kind) {
        case FailureKind::timeout:
        case FailureKind::unavailable:
        case FailureKind::rate_limited:
        case FailureKind::quota_exhausted:
        case FailureKind::protocol:
            return Outcome::failure;
        case FailureKind::rejected:
        case FailureKind::cancelled:
        case FailureKind::circuit_open:
        case FailureKind::bulkhead_full:
            return Outcome::ignored;
    }
    return Outcome::failure;
}

std::optional<CircuitBreaker::Permit> CircuitBreaker::try_acquire() {
    std::lock_guard lock(mutex_);
    if (state_ == State::open) {
        if (clock_.steady_now() < open_until_) {
            return std::nullopt;
        }
        state_ = State::half_open;
        ++epoch_;
        trials_admitted_ = 0;
        trials_succeeded_ = 0;
        trials_slow_ = 0;
    }
    if (state_ == State::half_open) {
        if (trials_admitted_ >= settings_.half_open_max_calls) {
            return std::nullopt;
        }
        ++trials_admitted_;
        return Permit{epoch_, true};
    }
    return Permit{epoch_, false};
}

void CircuitBreaker::on_result(Permit permit, Outcome outcome, std::chrono::nanoseconds duration) {
    std::lock_guard lock(mutex_);
    if (permit.epoch != epoch_) {
        return;  // admitted under an earlier state: says nothing about this one
    }
    const bool slow = duration >= settings_.slow_call_duration;
    if (state_ == State::half_open) {
        if (!permit.trial) {
            return;
        }
        if (outcome == Outcome::ignored) {
            --trials_admitted_;  // give the slot to another trial
            return;
        }
        if (outcome == Outcome::failure) {
            open_locked();
            return;
        }
        ++trials_succeeded_;
        trials_slow_ += slow ? 1 : 0;
        if (trials_succeeded_ >= settings_.half_open_max_calls) {
            const double slow_rate = static_cast<double>(trials_slow_) / trials_succeeded_;
            if (slow_rate >= settings_.slow_call_rate_threshold) {
                open_locked();
            } else {
                close_locked();
            }
        }
        return;
    }
    if (state_ != State::closed || outcome == Outcome::ignored) {
        return;
    }
    record_locked(static_cast<std::uint8_t>((outcome == Outcome::failure ? kFailed : 0) |
                                            (slow ? kSlow : 0)));
    if (calls_ < settings_.minimum_calls) {
        return;
    }
    const double failure_rate = static_cast<double>(failures_) / calls_;
    const double slow_rate = static_cast<double>(slow_) / calls_;
    if (failure_rate >= settings_.failure_rate_threshold ||
        slow_rate >= settings_.slow_call_rate_threshold) {
        open_locked();
    }
}

void CircuitBreaker::record_locked(std::uint8_t flags) {
    if (calls_ == settings_.window_size) {
        const std::uint8_t evicted = window_[next_];
        failures_ -= (evicted & kFailed) ? 1 : 0;
        slow_ -= (evicted & kSlow) ? 1 : 0;
    } else {
        ++calls_;
    }
    window_[next_] = flags;
    failures_ += (flags & kFailed) ? 1 : 0;
    slow_ += (flags & kSlow) ? 1 : 0;
    next_ = (next_ + 1) % window_.size();
}

void CircuitBreaker::open_locked() {
    state_ = State::open;
    ++epoch_;
    open_until_ = clock_.steady_now() + settings_.open_duration;
    opened_at_ = clock_.system_now();
    retry_at_ = opened_at_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                 settings_.open_duration);
}

void CircuitBreaker::close_locked() {
    state_ = State::closed;
    ++epoch_;
    reset_window_locked();
}

void CircuitBreaker::reset_window_locked() {
    std::fill(window_.begin(), window_.end(), std::uint8_t{0});
    next_ = 0;
    calls_ = 0;
    failures_ = 0;
    slow_ = 0;
}

CircuitBreaker::State CircuitBreaker::effective_state_locked() const {
    if (state_ == State::open && clock_.steady_now() >= open_until_) {
        return State::half_open;
    }
    return state_;
}

CircuitBreaker::State CircuitBreaker::state() const {
    std::lock_guard lock(mutex_);
    return effective_state_locked();
}

std::chrono::milliseconds CircuitBreaker::retry_after() const {
    using std::chrono::milliseconds;
    std::lock_guard lock(mutex_);
    milliseconds wait{0};
    if (state_ == State::open) {
        // Round up so a client never comes back a moment too early.
        const auto left = open_until_ - clock_.steady_now();
        wait = std::chrono::ceil<milliseconds>(left);
    }
    return std::max(wait, milliseconds(std::chrono::seconds(1)));
}

CircuitBreaker::Snapshot CircuitBreaker::snapshot() const {
    std::lock_guard lock(mutex_);
    Snapshot s;
    s.name = name_;
    const State state = effective_state_locked();
    s.state = to_string(state);
    s.calls = calls_;
    if (calls_ > 0) {
        s.failure_rate = static_cast<double>(failures_) / calls_;
        s.slow_call_rate = static_cast<double>(slow_) / calls_;
    }
    if (state != State::closed) {
        s.opened_at = opened_at_;
        s.retry_at = retry_at_;
    }
    return s;
}

}  // namespace confidant::llm
