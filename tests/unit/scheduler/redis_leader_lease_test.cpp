#include "scheduler/redis/redis_leader_lease.hpp"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>

#include "harness.hpp"
#include "redis/pool.hpp"
#include "support/redis_server.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono_literals;
using confidant::test::IoThreads;
using confidant::test::RedisServer;
using redis::Pool;

constexpr const char* kKey = "confidant:scheduler:leader";

Task<std::string> value_of(Pool& pool) {
    auto r = co_await pool.call("GET", kKey);
    co_return r && r->as_string() ? *r->as_string() : std::string("(none)");
}

Task<long long> pttl_of(Pool& pool) {
    auto r = co_await pool.call("PTTL", kKey);
    co_return r ? r->integer() : -100;
}

/// Waits (real time, at most 3 s) until the key has expired in Redis.
Task<bool> until_gone(Pool& pool) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (int i = 0; i < 300; ++i) {
        auto r = co_await pool.call("EXISTS", kKey);
        if (r && r->integer() == 0) {
            co_return true;
        }
        timer.expires_after(10ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
    co_return false;
}

TEST(RedisLeaderLease, AcquireRenewRefuseAndRelease) {
    RedisServer server;
    IoThreads io(1);
    Pool pool(io.executor(), confidant::test::fast_redis_settings(server));
    RedisLeaderLease a(pool, "a", 30s);
    RedisLeaderLease b(pool, "b", 30s);
    EXPECT_NE(a.token(), RedisLeaderLease(pool, "a", 30s).token()) << "a token per object";
    EXPECT_EQ(a.token().rfind("a:", 0), 0u);
    EXPECT_EQ(a.period(), 30s);
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await a.acquire_or_renew());
        EXPECT_EQ(co_await value_of(pool), a.token());
        const auto ttl = co_await pttl_of(pool);
        EXPECT_GT(ttl, 29'000);
        EXPECT_LE(ttl, 30'000);
        // A second holder is refused and changes nothing.
        EXPECT_FALSE(co_await b.acquire_or_renew());
        EXPECT_EQ(co_await value_of(pool), a.token());
        // Renewing pushes the expiry out again.
        co_await pool.call("PEXPIRE", kKey, "5000");
        EXPECT_TRUE(co_await a.acquire_or_renew());
        EXPECT_GT(co_await pttl_of(pool), 29'000);
        // b's release does not touch a's lease; a's own does.
        co_await b.release();
        EXPECT_EQ(co_await value_of(pool), a.token());
        co_await a.release();
        EXPECT_EQ(co_await value_of(pool), "(none)");
        EXPECT_TRUE(co_await b.acquire_or_renew());
        EXPECT_EQ(co_await value_of(pool), b.token());
        co_await pool.close();
    }());
}

TEST(RedisLeaderLease, ExpiryLetsAnotherTakeOverAndTheStaleHolderCannotUndoIt) {
    RedisServer server;
    IoThreads io(1);
    Pool pool(io.executor(), confidant::test::fast_redis_settings(server));
    RedisLeaderLease a(pool, "a", 200ms);  // a short lease that really expires in Redis
    RedisLeaderLease b(pool, "b", 30s);
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await a.acquire_or_renew());
        EXPECT_FALSE(co_await b.acquire_or_renew());
        EXPECT_TRUE(co_await until_gone(pool)) << "the lease did not expire";
        EXPECT_TRUE(co_await b.acquire_or_renew());
        // a comes back: it can neither renew nor release b's lease.
        EXPECT_FALSE(co_await a.acquire_or_renew());
        co_await a.release();
        EXPECT_EQ(co_await value_of(pool), b.token());
        EXPECT_GT(co_await pttl_of(pool), 29'000);
        co_await pool.close();
    }());
}

TEST(RedisLeaderLease, UnreachableRedisMeansNotTheLeader) {
    RedisServer server;
    IoThreads io(1);
    Pool pool(io.executor(), confidant::test::fast_redis_settings(server));
    RedisLeaderLease a(pool, "a", 30s);
    EXPECT_TRUE(io.run(a.acquire_or_renew()));
    server.stop();
    EXPECT_FALSE(io.run(a.acquire_or_renew()));
    io.run(a.release());  // logs, does not throw
    server.start();       // an empty Redis: the lease is free again
    EXPECT_TRUE(test::Harness::eventually([&] { return io.run(a.acquire_or_renew()); }));
    io.run(pool.close());
}

TEST(RedisLeaderLease, TwoSchedulersOnOneRedisLeaseRunEachTickOnce) {
    RedisServer server;
    test::Harness h(test::utc(2025, 6, 1, 12, 0, 0), 2);
    Pool pool_a(h.io.executor(), confidant::test::fast_redis_settings(server));
    Pool pool_b(h.io.executor(), confidant::test::fast_redis_settings(server));
    RedisLeaderLease lease_a(pool_a, "a", 30s);
    RedisLeaderLease lease_b(pool_b, "b", 30s);
    test::Calls calls;
    auto& a =
        h.make("a", {test::job("beat", Trigger::every(1s), test::recording(calls))}, &lease_a);
    auto& b =
        h.make("b", {test::job("beat", Trigger::every(1s), test::recording(calls))}, &lease_b);
    h.start(a);
    h.start(b);
    for (int step = 0; step < 20; ++step) {
        h.clock.advance(500ms);
        h.io.run(a.tick());
        h.io.run(b.tick());
        h.settle(a);
        h.settle(b);
    }
    EXPECT_EQ(calls.per_tick().size(), 10u);
    for (const auto& [tick, n] : calls.per_tick()) {
        EXPECT_EQ(n, 1) << test::str(tick);
    }
    EXPECT_NE(h.status(a).leader, h.status(b).leader);
    // The leader's stop() releases the lease at once; the other takes it at its next attempt.
    Scheduler& leader = h.status(a).leader ? a : b;
    Scheduler& other = &leader == &a ? b : a;
    h.io.run(leader.stop());
    h.clock.advance(1s);
    h.io.run(other.tick());
    EXPECT_TRUE(h.status(other).leader);
    h.io.run(other.stop());
    h.io.run(pool_a.close());
    h.io.run(pool_b.close());
}

}  // namespace
}  // namespace confidant::scheduler
