#include "ratelimit/redis_rate_limiter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "redis/pool.hpp"
#include "support/redis_server.hpp"

namespace confidant::ratelimit {
namespace {

using namespace std::chrono_literals;
using redis::Pool;
using redis::RedisSettings;
using test::IoThreads;
using test::RedisServer;

RedisSettings fast_settings(const RedisServer& server) { return test::fast_redis_settings(server); }

TEST(RedisRateLimiter, TwoInstancesShareOneLimit) {
    RedisServer server;
    IoThreads io;
    // Two pools and two limiters: like two server processes.
    Pool pool_a(io.executor(), fast_settings(server));
    Pool pool_b(io.executor(), fast_settings(server));
    RedisRateLimiter a(pool_a);
    RedisRateLimiter b(pool_b);
    int allowed = 0;
    long last_remaining = -1;
    io.run([&]() -> Task<void> {
        for (int i = 0; i < 30; ++i) {
            auto& rl = (i % 2 == 0) ? a : b;
            auto d = co_await rl.hit("user:7", 10, 60s);
            if (d.allowed) {
                ++allowed;
                last_remaining = d.remaining;
                EXPECT_EQ(d.retry_after_s, 0);
            } else {
                EXPECT_GE(d.retry_after_s, 1);
                EXPECT_LE(d.retry_after_s, 6);  // one slot frees every 6 s
                EXPECT_EQ(d.remaining, 0);
            }
        }
        // Another key is independent.
        EXPECT_TRUE((co_await a.hit("user:8", 10, 60s)).allowed);
        auto pttl = co_await pool_a.call("PTTL", "confidant:rl:user:7");
        EXPECT_TRUE(pttl && pttl->integer() > 50'000 && pttl->integer() <= 60'000)
            << (pttl ? pttl->to_debug_string() : "failed");
        co_await pool_a.close();
        co_await pool_b.close();
    }());
    EXPECT_EQ(allowed, 10);
    EXPECT_EQ(last_remaining, 0);
    EXPECT_EQ(a.fallbacks() + b.fallbacks(), 0u);
}

TEST(RedisRateLimiter, RemainingCountsDown) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisRateLimiter rl(pool);
    io.run([&]() -> Task<void> {
        for (long i = 0; i < 3; ++i) {
            auto d = co_await rl.hit("k", 3, 1s);  // 333.33 ms per slot: float edge case
            EXPECT_TRUE(d.allowed) << i;
            EXPECT_EQ(d.remaining, 2 - i);
        }
        auto refused = co_await rl.hit("k", 3, 1s);
        EXPECT_FALSE(refused.allowed);
        EXPECT_EQ(refused.retry_after_s, 1);
        // The script survives SCRIPT FLUSH (EVALSHA → NOSCRIPT → EVAL).
        EXPECT_TRUE(co_await pool.call("SCRIPT", "FLUSH"));
        auto other = co_await rl.hit("k2", 3, 1s);
        EXPECT_TRUE(other.allowed);
        EXPECT_EQ(other.remaining, 2);
        co_await pool.close();
    }());
    EXPECT_EQ(rl.fallbacks(), 0u);
}

TEST(RedisRateLimiter, FallsBackToLocalLimitingWhenRedisIsDown) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisRateLimiter rl(pool);
    io.run([&]() -> Task<void> { EXPECT_TRUE((co_await rl.hit("warm", 5, 60s)).allowed); }());
    server.stop();
    io.run([&]() -> Task<void> {
        int allowed = 0;
        for (int i = 0; i < 8; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            auto d = co_await rl.hit("ip:9", 5, 60s);
            if (i > 0) {
                // After the first call has found the outage, no call waits.
                EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms) << i;
            }
            if (d.allowed) {
                ++allowed;
            } else {
                EXPECT_GE(d.retry_after_s, 1);
            }
        }
        EXPECT_EQ(allowed, 5);  // still limited, locally
    }());
    EXPECT_FALSE(pool.is_up());
    EXPECT_GE(rl.fallbacks(), 7u);
    server.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pool.is_up() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(pool.is_up());
    const auto before = rl.fallbacks();
    io.run([&]() -> Task<void> {
        EXPECT_TRUE((co_await rl.hit("fresh", 5, 60s)).allowed);
        co_await pool.close();
    }());
    EXPECT_EQ(rl.fallbacks(), before);
}

}  // namespace
}  // namespace confidant::ratelimit
