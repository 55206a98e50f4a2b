#include "ratelimit/local_rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/clock.hpp"

namespace confidant::ratelimit {
namespace {

using namespace std::chrono_literals;

TEST(LocalRateLimiter, AllowsBurstUpToLimitThenRefuses) {
    ManualClock clock;
    LocalRateLimiter rl(clock);
    for (long i = 0; i < 5; ++i) {
        auto d = rl.hit_sync("ip:1", 5, 10s);
        EXPECT_TRUE(d.allowed) << i;
        EXPECT_EQ(d.remaining, 4 - i);
        EXPECT_EQ(d.retry_after_s, 0);
    }
    auto refused = rl.hit_sync("ip:1", 5, 10s);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0);
    EXPECT_EQ(refused.retry_after_s, 2);  // one slot frees every 10 s / 5
    // Other keys are independent.
    EXPECT_TRUE(rl.hit_sync("ip:2", 5, 10s).allowed);
}

TEST(LocalRateLimiter, RefusedHitsDoNotCountAndSlotsRefill) {
    ManualClock clock;
    LocalRateLimiter rl(clock);
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(rl.hit_sync("k", 3, 60s).allowed);
    }
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(rl.hit_sync("k", 3, 60s).allowed);
    }
    clock.advance(19s);
    auto d = rl.hit_sync("k", 3, 60s);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_s, 1);  // 1 s left, rounded up to a whole second
    clock.advance(1s);
    EXPECT_TRUE(rl.hit_sync("k", 3, 60s).allowed);
    EXPECT_FALSE(rl.hit_sync("k", 3, 60s).allowed);
    clock.advance(60s);
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(rl.hit_sync("k", 3, 60s).allowed) << i;
    }
    EXPECT_FALSE(rl.hit_sync("k", 3, 60s).allowed);
}

TEST(LocalRateLimiter, RetryAfterIsAtLeastOneSecond) {
    ManualClock clock;
    LocalRateLimiter rl(clock);
    for (int i = 0; i < 1000; ++i) {
        rl.hit_sync("k", 1000, 1s);
    }
    auto d = rl.hit_sync("k", 1000, 1s);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.retry_after_s, 1);  // 1 ms, rounded up
    auto zero = rl.hit_sync("z", 0, 30s);
    EXPECT_FALSE(zero.allowed);
    EXPECT_GE(zero.retry_after_s, 1);
}

TEST(LocalRateLimiter, ExpiredEntriesAreSwept) {
    ManualClock clock;
    LocalRateLimiter rl(clock);
    for (int i = 0; i < 100; ++i) {
        rl.hit_sync("key" + std::to_string(i), 1, 5s);  // TAT = t0 + 5 s
    }
    EXPECT_EQ(rl.size(), 100u);
    clock.advance(1s);
    rl.sweep();
    EXPECT_EQ(rl.size(), 100u);  // still limiting
    clock.advance(10s);
    rl.sweep();
    EXPECT_EQ(rl.size(), 0u);
}

TEST(LocalRateLimiter, ConcurrentHitsNeverExceedTheLimit) {
    LocalRateLimiter rl;  // real clock: 100 per hour cannot refill during the test
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                if (rl.hit_sync("shared", 100, 3600s).allowed) {
                    ++allowed;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(allowed.load(), 100);
}

}  // namespace
}  // namespace confidant::ratelimit
