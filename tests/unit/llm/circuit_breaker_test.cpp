#include "llm/resilience/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string_view>
#include <vector>

#include "core/clock.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;
using Outcome = CircuitBreaker::Outcome;
using State = CircuitBreaker::State;

CircuitBreakerSettings small_settings() {
    CircuitBreakerSettings s;
    s.window_size = 10;
    s.minimum_calls = 4;
    s.failure_rate_threshold = 0.5;
    s.slow_call_rate_threshold = 0.8;
    s.slow_call_duration = 10s;
    s.open_duration = 30s;
    s.half_open_max_calls = 3;
    return s;
}

void record(CircuitBreaker& b, Outcome outcome, std::chrono::nanoseconds d = 1ms) {
    auto permit = b.try_acquire();
    ASSERT_TRUE(permit.has_value());
    b.on_result(*permit, outcome, d);
}

void open_breaker(CircuitBreaker& b) {
    for (int i = 0; i < 4; ++i) {
        record(b, Outcome::failure);
    }
    ASSERT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, OpensAfterFailureRate) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    record(b, Outcome::success);
    record(b, Outcome::success);
    record(b, Outcome::success);
    record(b, Outcome::failure);  // 1/4
    EXPECT_EQ(b.state(), State::closed);
    record(b, Outcome::failure);  // 2/5
    EXPECT_EQ(b.state(), State::closed);
    record(b, Outcome::failure);  // 3/6 = 0.5: the threshold
    EXPECT_EQ(b.state(), State::open);
    const auto s = b.snapshot();
    EXPECT_EQ(s.state, "open");
    EXPECT_EQ(s.calls, 6);
    EXPECT_DOUBLE_EQ(s.failure_rate, 0.5);
    EXPECT_DOUBLE_EQ(s.slow_call_rate, 0.0);
}

TEST(CircuitBreaker, StaysClosedBelowMinimumCalls) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    for (int i = 0; i < 3; ++i) {
        record(b, Outcome::failure);
    }
    EXPECT_EQ(b.state(), State::closed);
    const auto s = b.snapshot();
    EXPECT_EQ(s.calls, 3);
    EXPECT_DOUBLE_EQ(s.failure_rate, 1.0);
    EXPECT_FALSE(s.opened_at.has_value());
    EXPECT_FALSE(s.retry_at.has_value());
    record(b, Outcome::failure);
    EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, SlidingWindowForgetsOldOutcomes) {
    ManualClock clock;
    auto settings = small_settings();
    settings.window_size = 4;
    settings.failure_rate_threshold = 0.75;
    CircuitBreaker b("gemini", settings, clock);
    record(b, Outcome::failure);
    record(b, Outcome::failure);
    record(b, Outcome::success);
    record(b, Outcome::success);  // 2/4
    EXPECT_DOUBLE_EQ(b.snapshot().failure_rate, 0.5);
    record(b, Outcome::success);  // the first failure leaves the window: 1/4
    record(b, Outcome::success);  // 0/4
    const auto s = b.snapshot();
    EXPECT_EQ(s.calls, 4);
    EXPECT_DOUBLE_EQ(s.failure_rate, 0.0);
    record(b, Outcome::failure);
    record(b, Outcome::failure);
    EXPECT_EQ(b.state(), State::closed);  // 2/4 < 0.75
    record(b, Outcome::failure);          // 3/4
    EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, FailsFastWhileOpen) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    open_breaker(b);
    EXPECT_FALSE(b.try_acquire().has_value());
    EXPECT_EQ(b.retry_after(), 30s);
    clock.advance(10s);
    EXPECT_FALSE(b.try_acquire().has_value());
    EXPECT_EQ(b.retry_after(), 20s);
    clock.advance(19'500ms);
    EXPECT_EQ(b.retry_after(), 1s);  // never less than a second
    EXPECT_FALSE(b.try_acquire().has_value());
}

TEST(CircuitBreaker, SnapshotReportsOpenedAtAndRetryAt) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    const auto opened = clock.system_now();
    open_breaker(b);
    const auto s = b.snapshot();
    EXPECT_EQ(s.name, "gemini");
    ASSERT_TRUE(s.opened_at.has_value());
    ASSERT_TRUE(s.retry_at.has_value());
    EXPECT_EQ(*s.opened_at, opened);
    EXPECT_EQ(*s.retry_at, opened + 30s);
}

TEST(CircuitBreaker, HalfOpensAfterOpenDurationAndClosesAfterSuccessfulTrials) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    open_breaker(b);
    clock.advance(30s);
    EXPECT_EQ(b.state(), State::half_open);
    EXPECT_EQ(b.snapshot().state, "half_open");
    std::vector<CircuitBreaker::Permit> trials;
    for (int i = 0; i < 3; ++i) {
        auto p = b.try_acquire();
        ASSERT_TRUE(p.has_value());
        EXPECT_TRUE(p->trial);
        trials.push_back(*p);
    }
    EXPECT_FALSE(b.try_acquire().has_value()) << "only half_open_max_calls trials";
    b.on_result(trials[0], Outcome::success, 1ms);
    b.on_result(trials[1], Outcome::success, 1ms);
    EXPECT_EQ(b.state(), State::half_open);
    b.on_result(trials[2], Outcome::success, 1ms);
    EXPECT_EQ(b.state(), State::closed);
    const auto s = b.snapshot();
    EXPECT_EQ(s.calls, 0) << "the window starts afresh";
    EXPECT_FALSE(s.opened_at.has_value());
    EXPECT_TRUE(b.try_acquire().has_value());
}

TEST(CircuitBreaker, ReopensOnFailedTrial) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    open_breaker(b);
    clock.advance(31s);
    auto t1 = b.try_acquire();
    auto t2 = b.try_acquire();
    ASSERT_TRUE(t1 && t2);
    b.on_result(*t1, Outcome::success, 1ms);
    const auto reopened = clock.system_now();
    b.on_result(*t2, Outcome::failure, 1ms);
    EXPECT_EQ(b.state(), State::open);
    EXPECT_FALSE(b.try_acquire().has_value());
    const auto s = b.snapshot();
    EXPECT_EQ(*s.opened_at, reopened);
    EXPECT_EQ(*s.retry_at, reopened + 30s);
    EXPECT_EQ(b.retry_after(), 30s);
}

TEST(CircuitBreaker, OpensOnSlowCallRate) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    record(b, Outcome::success, 11s);
    record(b, Outcome::success, 1s);
    record(b, Outcome::success, 10s);  // exactly slow_call_duration is slow
    record(b, Outcome::success, 12s);  // 3/4 = 0.75
    EXPECT_EQ(b.state(), State::closed);
    record(b, Outcome::success, 20s);  // 4/5 = 0.8
    EXPECT_EQ(b.state(), State::open);
    const auto s = b.snapshot();
    EXPECT_DOUBLE_EQ(s.slow_call_rate, 0.8);
    EXPECT_DOUBLE_EQ(s.failure_rate, 0.0);
}

TEST(CircuitBreaker, SlowTrialsReopen) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    open_breaker(b);
    clock.advance(30s);
    for (int i = 0; i < 3; ++i) {
        record(b, Outcome::success, 15s);
    }
    EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, IgnoredOutcomesDoNotCount) {
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::rejected), Outcome::ignored);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::cancelled), Outcome::ignored);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::timeout), Outcome::failure);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::unavailable), Outcome::failure);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::rate_limited), Outcome::failure);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::quota_exhausted), Outcome::failure);
    EXPECT_EQ(CircuitBreaker::outcome_for(FailureKind::protocol), Outcome::failure);

    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    for (int i = 0; i < 10; ++i) {
        record(b, Outcome::ignored, 20s);
    }
    EXPECT_EQ(b.state(), State::closed);
    EXPECT_EQ(b.snapshot().calls, 0);
}

TEST(CircuitBreaker, IgnoredTrialFreesItsSlot) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    open_breaker(b);
    clock.advance(30s);
    auto t1 = b.try_acquire();
    auto t2 = b.try_acquire();
    auto t3 = b.try_acquire();
    ASSERT_TRUE(t1 && t2 && t3);
    ASSERT_FALSE(b.try_acquire().has_value());
    b.on_result(*t3, Outcome::ignored, 1ms);  // the client went away
    auto t4 = b.try_acquire();
    ASSERT_TRUE(t4.has_value());
    b.on_result(*t1, Outcome::success, 1ms);
    b.on_result(*t2, Outcome::success, 1ms);
    EXPECT_EQ(b.state(), State::half_open);
    b.on_result(*t4, Outcome::success, 1ms);
    EXPECT_EQ(b.state(), State::closed);
}

TEST(CircuitBreaker, IgnoresResultsAdmittedUnderAnEarlierState) {
    ManualClock clock;
    CircuitBreaker b("gemini", small_settings(), clock);
    auto early = b.try_acquire();  // a slow call started while closed
    ASSERT_TRUE(early.has_value());
    open_breaker(b);
    clock.advance(30s);
    auto trial = b.try_acquire();
    ASSERT_TRUE(trial.has_value());
    b.on_result(*early, Outcome::failure, 40s);  // must not reopen the half-open breaker
    EXPECT_EQ(b.state(), State::half_open);
    b.on_result(*trial, Outcome::success, 1ms);
    EXPECT_EQ(b.state(), State::half_open);
}

TEST(CircuitBreaker, ClampsNonsenseSettings) {
    ManualClock clock;
    CircuitBreakerSettings s;
    s.window_size = 0;
    s.minimum_calls = 0;
    s.half_open_max_calls = 0;
    CircuitBreaker b("x", s, clock);
    record(b, Outcome::failure);
    EXPECT_EQ(b.state(), State::open);
}

}  // namespace
}  // namespace confidant::llm
