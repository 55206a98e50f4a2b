#include "llm/resilience/resilient_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "llm/offline/offline_provider.hpp"
#include "test_support.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;
using namespace testing;
using std::chrono::steady_clock;

/// Small real timeouts; the breaker and the budget out of the way unless a test wants them.
ResilienceSettings fast_settings() {
    ResilienceSettings s;
    s.attempt_timeout = 2s;
    s.deadline = 10s;
    s.first_token_timeout = 2s;
    s.stall_timeout = 2s;
    s.max_retries = 2;
    s.backoff_base = 1ms;
    s.backoff_max = 5ms;
    s.retry_budget_ratio = 1.0;
    s.retry_budget_min_per_s = 100.0;
    s.breaker.window_size = 100;
    s.breaker.minimum_calls = 100;
    s.max_concurrent = 64;
    return s;
}

struct Fixture {
    explicit Fixture(ResilienceSettings s = fast_settings())
        : fake(std::make_shared<ScriptedProvider>(&clock)), provider(fake, s, clock) {}

    LlmResult<Completion> complete() { return run(io, provider.complete(req)); }
    LlmResult<Completion> stream(std::vector<std::string>& got) {
        DeltaSink sink = [&got](std::string_view d) -> Task<void> {
            got.emplace_back(d);
            co_return;
        };
        return run(io, provider.stream(req, sink));
    }

    boost::asio::io_context io;
    ManualClock clock;
    std::shared_ptr<ScriptedProvider> fake;
    ResilientProvider provider;
    CompletionRequest req = request();
};

std::uint64_t failures(const ResilienceStats& s, FailureKind kind) {
    return s.failures[static_cast<std::size_t>(kind)];
}

std::uint64_t total_failures(const ResilienceStats& s) {
    std::uint64_t n = 0;
    for (auto v : s.failures) {
        n += v;
    }
    return n;
}

TEST(ResilientProvider, PassesThroughASuccess) {
    Fixture f;
    f.fake->push(Step{.result = completion("hi there")});
    auto r = f.complete();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->text, "hi there");
    EXPECT_EQ(f.provider.name(), "fake");
    EXPECT_EQ(f.provider.model(), "fake-model");
    const auto s = f.provider.stats();
    EXPECT_EQ(s.calls, 1u);
    EXPECT_EQ(s.attempts, 1u);
    EXPECT_EQ(s.successes, 1u);
    EXPECT_EQ(s.in_flight, 0);
}

TEST(ResilientProvider, RetriesOn503ThenSucceeds) {
    Fixture f;
    f.fake->push(Step{.result = provider_error(FailureKind::unavailable, 503)});
    f.fake->push(Step{.result = completion("second time lucky")});
    auto r = f.complete();
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->text, "second time lucky");
    EXPECT_EQ(f.fake->calls(), 2);
    const auto s = f.provider.stats();
    EXPECT_EQ(s.retries, 1u);
    EXPECT_EQ(s.attempts, 2u);
    EXPECT_EQ(total_failures(s), 0u);
}

TEST(ResilientProvider, RetriesRateLimitedUpToMaxRetries) {
    Fixture f;
    for (int i = 0; i < 5; ++i) {
        f.fake->push(Step{.result = provider_error(FailureKind::rate_limited, 429)});
    }
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::rate_limited);
    EXPECT_EQ(f.fake->calls(), 3) << "one attempt and max_retries = 2 retries";
    ASSERT_TRUE(r.error().retry_after.has_value());
    EXPECT_GE(*r.error().retry_after, 1s);
    EXPECT_EQ(failures(f.provider.stats(), FailureKind::rate_limited), 1u);
}

TEST(ResilientProvider, DoesNotRetryRejected) {
    Fixture f;
    f.fake->push(Step{.result = provider_error(FailureKind::rejected, 400)});
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::rejected);
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_TRUE(r.error().retry_after.has_value());
    EXPECT_EQ(f.fake->calls(), 1);
    EXPECT_EQ(f.provider.stats().retries, 0u);
    EXPECT_EQ(f.provider.breaker().snapshot().calls, 0) << "a 400 is the caller's fault";
}

TEST(ResilientProvider, DoesNotRetryQuotaExhausted) {
    Fixture f;
    f.fake->push(Step{.result = provider_error(FailureKind::quota_exhausted, 429, 3600s)});
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::quota_exhausted);
    EXPECT_EQ(r.error().retry_after, std::optional(std::chrono::milliseconds(3600s)));
    EXPECT_EQ(f.fake->calls(), 1);
    EXPECT_EQ(f.provider.stats().retries, 0u);
}

TEST(ResilientProvider, RetryWaitsForTheRetryAfterHint) {
    Fixture f;  // backoff_max is 5 ms: only the hint can make it wait 150 ms
    f.fake->push(Step{.result = provider_error(FailureKind::rate_limited, 429, 150ms)});
    f.fake->push(Step{.result = completion("after the hint")});
    const auto start = steady_clock::now();
    auto r = f.complete();
    const auto elapsed = steady_clock::now() - start;
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(f.fake->calls(), 2);
    EXPECT_GE(elapsed, 150ms);
}

TEST(ResilientProvider, GivesUpAtOnceWhenTheHintOverrunsTheDeadline) {
    auto s = fast_settings();
    s.deadline = 3s;
    Fixture f(s);
    f.fake->push(Step{.result = provider_error(FailureKind::rate_limited, 429, 60s)});
    f.fake->push(Step{.result = completion("never asked")});
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::rate_limited);
    EXPECT_EQ(r.error().retry_after, std::optional(std::chrono::milliseconds(60s)));
    EXPECT_EQ(f.fake->calls(), 1);
    EXPECT_EQ(f.provider.stats().retries, 0u);
}

TEST(ResilientProvider, RetryBudgetExhaustedMeansNoMoreRetries) {
    auto s = fast_settings();
    s.retry_budget_ratio = 0.5;  // a retry per two calls, and nothing per second
    s.retry_budget_min_per_s = 0.0;
    Fixture f(s);
    for (int i = 0; i < 10; ++i) {
        f.fake->push(Step{.result = provider_error(FailureKind::unavailable, 503)});
    }
    for (int call = 0; call < 3; ++call) {
        auto r = f.complete();
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, FailureKind::unavailable);
    }
    // Call 1: 0.5 tokens, no retry. Call 2: 1.0, one retry, then empty. Call 3: 0.5, no retry.
    EXPECT_EQ(f.fake->calls(), 4);
    const auto stats = f.provider.stats();
    EXPECT_EQ(stats.retries, 1u);
    EXPECT_EQ(stats.retry_budget_exhausted, 3u);
    EXPECT_EQ(failures(stats, FailureKind::unavailable), 3u);
}

TEST(ResilientProvider, AttemptTimeoutFires) {
    auto s = fast_settings();
    s.attempt_timeout = 50ms;
    s.max_retries = 0;
    Fixture f(s);
    f.fake->push(Step{.delay = 5s});
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::timeout);
    EXPECT_EQ(f.fake->aborted(), 1) << "the losing inner call is cancelled";
    EXPECT_EQ(f.fake->in_progress(), 0);
    EXPECT_EQ(failures(f.provider.stats(), FailureKind::timeout), 1u);
    const auto snap = f.provider.breaker().snapshot();
    EXPECT_EQ(snap.calls, 1);
    EXPECT_DOUBLE_EQ(snap.failure_rate, 1.0);
}

TEST(ResilientProvider, TimedOutAttemptIsRetried) {
    auto s = fast_settings();
    s.attempt_timeout = 50ms;
    Fixture f(s);
    f.fake->push(Step{.delay = 5s});
    f.fake->push(Step{.result = completion("quick")});
    auto r = f.complete();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->text, "quick");
    EXPECT_EQ(f.fake->calls(), 2);
    EXPECT_EQ(f.fake->aborted(), 1);
}

TEST(ResilientProvider, OverallDeadlineBoundsRetries) {
    auto s = fast_settings();
    s.attempt_timeout = 2s;
    s.deadline = 100ms;
    s.max_retries = 5;
    Fixture f(s);
    for (int i = 0; i < 5; ++i) {
        f.fake->push(Step{.delay = 5s});
    }
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::timeout);
    EXPECT_EQ(f.fake->calls(), 1) << "no time left for a retry";
}

TEST(ResilientProvider, BreakerOpensAndFailsFastWithoutCallingTheInnerProvider) {
    auto s = fast_settings();
    s.max_retries = 0;
    s.breaker.window_size = 4;
    s.breaker.minimum_calls = 4;
    Fixture f(s);
    for (int i = 0; i < 4; ++i) {
        f.fake->push(Step{.result = provider_error(FailureKind::unavailable, 503)});
    }
    for (int i = 0; i < 4; ++i) {
        EXPECT_FALSE(f.complete().has_value());
    }
    ASSERT_EQ(f.provider.breaker().state(), CircuitBreaker::State::open);
    f.clock.advance(10s);
    auto r = f.complete();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::circuit_open);
    EXPECT_EQ(r.error().retry_after, std::optional(std::chrono::milliseconds(20s)));
    EXPECT_EQ(f.fake->calls(), 4) << "the open breaker did not touch the provider";
    EXPECT_EQ(f.provider.stats().rejected_by_breaker, 1u);
    const auto snaps = f.provider.breakers();
    ASSERT_EQ(snaps.size(), 1u);
    EXPECT_EQ(snaps[0].name, "fake");
    EXPECT_EQ(snaps[0].state, "open");
    EXPECT_TRUE(snaps[0].retry_at.has_value());
}

TEST(ResilientProvider, HalfOpensAfterOpenDurationAndClosesAfterSuccessfulTrials) {
    auto s = fast_settings();
    s.max_retries = 0;
    s.breaker.window_size = 4;
    s.breaker.minimum_calls = 4;
    Fixture f(s);
    for (int i = 0; i < 4; ++i) {
        f.fake->push(Step{.result = provider_error(FailureKind::timeout)});
    }
    for (int i = 0; i < 4; ++i) {
        EXPECT_FALSE(f.complete().has_value());
    }
    EXPECT_EQ(f.complete().error().kind, FailureKind::circuit_open);
    f.clock.advance(30s);
    EXPECT_EQ(f.provider.breakers()[0].state, "half_open");
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(f.complete().has_value());
    }
    EXPECT_EQ(f.provider.breakers()[0].state, "closed");
    EXPECT_EQ(f.fake->calls(), 7);
}

TEST(ResilientProvider, ReopensOnAFailedTrial) {
    auto s = fast_settings();
    s.max_retries = 0;
    s.breaker.window_size = 4;
    s.breaker.minimum_calls = 4;
    Fixture f(s);
    for (int i = 0; i < 5; ++i) {
        f.fake->push(Step{.result = provider_error(FailureKind::unavailable, 500)});
    }
    for (int i = 0; i < 4; ++i) {
        EXPECT_FALSE(f.complete().has_value());
    }
    f.clock.advance(30s);
    auto trial = f.complete();
    ASSERT_FALSE(trial.has_value());
    EXPECT_EQ(trial.error().kind, FailureKind::unavailable);
    EXPECT_EQ(f.fake->calls(), 5);
    EXPECT_EQ(f.provider.breakers()[0].state, "open");
    auto r = f.complete();
    EXPECT_EQ(r.error().kind, FailureKind::circuit_open);
    EXPECT_EQ(f.fake->calls(), 5);
}

TEST(ResilientProvider, SlowCallsOpenTheBreaker) {
    auto s = fast_settings();
    s.breaker.window_size = 4;
    s.breaker.minimum_calls = 4;
    s.breaker.slow_call_duration = 10s;
    Fixture f(s);
    for (int i = 0; i < 4; ++i) {
        f.fake->push(Step{.advance_clock = 11s});  // successful, but slow on the injected clock
    }
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(f.complete().has_value());
    }
    const auto snap = f.provider.breakers()[0];
    EXPECT_EQ(snap.state, "open");
    EXPECT_DOUBLE_EQ(snap.slow_call_rate, 1.0);
    EXPECT_DOUBLE_EQ(snap.failure_rate, 0.0);
    EXPECT_EQ(f.complete().error().kind, FailureKind::circuit_open);
    EXPECT_EQ(f.fake->calls(), 4);
}

TEST(ResilientProvider, StreamDeltasReachTheSink) {
    Fixture f;
    f.fake->push(Step{.deltas = {"Hel", "lo", " there"}});
    std::vector<std::string> got;
    auto r = f.stream(got);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(got, (std::vector<std::string>{"Hel", "lo", " there"}));
    EXPECT_EQ(r->text, "Hello there");
}

TEST(ResilientProvider, StreamStallAfterAFirstDeltaTimesOutWithoutRetry) {
    auto s = fast_settings();
    s.stall_timeout = 50ms;
    s.first_token_timeout = 5s;
    Fixture f(s);
    f.fake->push(Step{.deltas = {"partial "}, .stall_after_deltas = 5s});
    f.fake->push(Step{.deltas = {"must not be sent"}});
    std::vector<std::string> got;
    auto r = f.stream(got);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::timeout);
    EXPECT_TRUE(r.error().retry_after.has_value());
    EXPECT_EQ(got, std::vector<std::string>{"partial "});
    EXPECT_EQ(f.fake->calls(), 1) << "a delta reached the caller: no retry";
    EXPECT_EQ(f.fake->aborted(), 1);
    const auto snap = f.provider.breakers()[0];
    EXPECT_EQ(snap.calls, 1);
    EXPECT_DOUBLE_EQ(snap.failure_rate, 1.0);
}

TEST(ResilientProvider, StreamFirstTokenTimeoutIsRetried) {
    auto s = fast_settings();
    s.first_token_timeout = 50ms;
    Fixture f(s);
    f.fake->push(Step{.delay = 5s, .deltas = {"never"}});
    f.fake->push(Step{.deltas = {"fresh ", "start"}});
    std::vector<std::string> got;
    auto r = f.stream(got);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(got, (std::vector<std::string>{"fresh ", "start"}));
    EXPECT_EQ(f.fake->calls(), 2);
    EXPECT_EQ(f.fake->aborted(), 1);
    EXPECT_EQ(f.provider.stats().retries, 1u);
}

TEST(ResilientProvider, StreamSlownessIsTheTimeToFirstToken) {
    auto s = fast_settings();
    s.breaker.slow_call_duration = 10s;
    Fixture f(s);
    // A long answer that starts at once is not slow; a late first token is.
    f.fake->push(Step{.deltas = {"a", "b"}, .advance_clock_after_first_delta = 60s});
    f.fake->push(Step{.deltas = {"c"}, .advance_clock = 11s});
    std::vector<std::string> got;
    ASSERT_TRUE(f.stream(got).has_value());
    EXPECT_DOUBLE_EQ(f.provider.breakers()[0].slow_call_rate, 0.0);
    ASSERT_TRUE(f.stream(got).has_value());
    EXPECT_DOUBLE_EQ(f.provider.breakers()[0].slow_call_rate, 0.5);
}

TEST(ResilientProvider, SlowConsumerIsNotAStall) {
    auto s = fast_settings();
    s.stall_timeout = 50ms;
    Fixture f(s);
    f.fake->push(Step{.deltas = {"one ", "two"}});
    std::vector<std::string> got;
    DeltaSink sink = [&got](std::string_view d) -> Task<void> {
        got.emplace_back(d);
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 200ms);
        co_await t.async_wait(boost::asio::use_awaitable);
    };
    auto r = run(f.io, f.provider.stream(f.req, sink));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(got, (std::vector<std::string>{"one ", "two"}));
}

TEST(ResilientProvider, BulkheadFullWhenMaxConcurrentExceeded) {
    auto s = fast_settings();
    s.max_concurrent = 2;
    Fixture f(s);
    f.fake->push(Step{.delay = 100ms});
    f.fake->push(Step{.delay = 100ms});
    std::vector<LlmResult<Completion>> results;
    for (int i = 0; i < 3; ++i) {
        boost::asio::co_spawn(
            f.io,
            [&]() -> Task<void> {
                auto r = co_await f.provider.complete(f.req);
                results.push_back(std::move(r));
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
    }
    f.io.run();
    ASSERT_EQ(results.size(), 3u);
    // The third call found two in flight and failed at once, before the others finished.
    ASSERT_FALSE(results[0].has_value());
    EXPECT_EQ(results[0].error().kind, FailureKind::bulkhead_full);
    EXPECT_TRUE(results[0].error().retry_after.has_value());
    EXPECT_TRUE(results[1].has_value());
    EXPECT_TRUE(results[2].has_value());
    EXPECT_EQ(f.fake->calls(), 2);
    const auto stats = f.provider.stats();
    EXPECT_EQ(stats.rejected_by_bulkhead, 1u);
    EXPECT_EQ(stats.in_flight, 0);
}

TEST(ResilientProvider, CancellationCancelsTheInnerCallAndIsNotAFailure) {
    auto s = fast_settings();
    s.breaker.window_size = 1;
    s.breaker.minimum_calls = 1;  // a single counted failure would open it
    Fixture f(s);
    f.fake->push(Step{.delay = 10s});
    auto r = run_cancelled_after(f.io, f.provider.complete(f.req), 50ms);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
    EXPECT_EQ(f.fake->aborted(), 1) << "the inner call saw operation_aborted";
    EXPECT_EQ(f.fake->in_progress(), 0);
    const auto stats = f.provider.stats();
    EXPECT_EQ(stats.cancelled, 1u);
    EXPECT_EQ(total_failures(stats), 0u);
    EXPECT_EQ(stats.retries, 0u);
    EXPECT_EQ(stats.in_flight, 0);
    const auto snap = f.provider.breakers()[0];
    EXPECT_EQ(snap.state, "closed");
    EXPECT_EQ(snap.calls, 0);
}

TEST(ResilientProvider, CancellationOfAStreamCancelsTheInnerCall) {
    Fixture f;
    f.fake->push(Step{.deltas = {"first "}, .stall_after_deltas = 10s});
    std::vector<std::string> got;
    DeltaSink sink = [&got](std::string_view d) -> Task<void> {
        got.emplace_back(d);
        co_return;
    };
    auto r = run_cancelled_after(f.io, f.provider.stream(f.req, sink), 50ms);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
    EXPECT_EQ(got, std::vector<std::string>{"first "});
    EXPECT_EQ(f.fake->aborted(), 1);
    EXPECT_EQ(total_failures(f.provider.stats()), 0u);
    EXPECT_EQ(f.provider.breakers()[0].calls, 0);
}

TEST(ResilientProvider, CancellationDuringBackoffStopsRetrying) {
    Fixture f;
    f.fake->push(Step{.result = provider_error(FailureKind::unavailable, 503, 5s)});
    f.fake->push(Step{.result = completion("too late")});
    auto r = run_cancelled_after(f.io, f.provider.complete(f.req), 50ms);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
    EXPECT_EQ(f.fake->calls(), 1);
}

TEST(ResilientProvider, InnerFaultPropagatesAndCountsAgainstTheBreaker) {
    Fixture f;
    f.fake->push(Step{.throw_fault = true});
    EXPECT_THROW(f.complete(), std::runtime_error);
    EXPECT_EQ(f.fake->calls(), 1);
    EXPECT_EQ(f.provider.breakers()[0].calls, 1);
    EXPECT_DOUBLE_EQ(f.provider.breakers()[0].failure_rate, 1.0);
    EXPECT_EQ(f.provider.stats().in_flight, 0);
}

TEST(ResilientProvider, ConcurrentCallsFromManyThreads) {
    boost::asio::io_context io;
    auto inner = std::make_shared<OfflineProvider>(OfflineSettings{.latency = 1ms});
    constexpr int kCalls = 400;
    auto settings = fast_settings();
    settings.max_concurrent = kCalls;
    ResilientProvider provider(inner, settings);
    const CompletionRequest req = request("many at once");
    std::atomic<int> ok{0};
    std::atomic<int> deltas{0};
    for (int i = 0; i < kCalls; ++i) {
        boost::asio::co_spawn(
            boost::asio::make_strand(io),
            [&, i]() -> Task<void> {
                LlmResult<Completion> r;
                if (i % 2 == 0) {
                    r = co_await provider.complete(req);
                } else {
                    DeltaSink sink = [&deltas](std::string_view) -> Task<void> {
                        ++deltas;
                        co_return;
                    };
                    r = co_await provider.stream(req, sink);
                }
                if (r.has_value()) {
                    ++ok;
                }
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
    }
    std::thread other([&io] { io.run(); });
    io.run();
    other.join();
    EXPECT_EQ(ok.load(), kCalls);
    EXPECT_GT(deltas.load(), kCalls / 2);
    const auto stats = provider.stats();
    EXPECT_EQ(stats.calls, static_cast<std::uint64_t>(kCalls));
    EXPECT_EQ(stats.successes, static_cast<std::uint64_t>(kCalls));
    EXPECT_EQ(stats.in_flight, 0);
    EXPECT_EQ(provider.breakers()[0].name, "offline");
}

}  // namespace
}  // namespace confidant::llm
