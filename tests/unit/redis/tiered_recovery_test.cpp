// TieredCache over a real redis-server that persists (AOF, fsync always) and is killed with
// SIGKILL: invalidations made while it is down are replayed when it comes back with its data,
// before the instance reads L2 again, and every instance drops its L1 when its subscriber
// reconnects.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/local/local_cache.hpp"
#include "cache/redis/redis_cache.hpp"
#include "cache/redis/redis_invalidation_bus.hpp"
#include "cache/tiered/tiered_cache.hpp"
#include "redis/pool.hpp"
#include "redis/subscriber.hpp"
#include "support/redis_server.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using test::IoThreads;
using test::RedisServer;

/// One Confidant instance's cache stack, as app/redis_parts.cpp wires it.
struct Instance {
    Instance(boost::asio::any_io_executor ex, const redis::RedisSettings& rs,
             TieredCacheSettings ts)
        : pool(ex, rs), subscriber(ex, rs, pool), l2(pool), bus(subscriber), tiered(ts, l1, l2, &bus) {}

    Task<void> close() {
        co_await tiered.close();
        co_await subscriber.close();
        co_await pool.close();
    }

    redis::Pool pool;
    redis::Subscriber subscriber;
    RedisCache l2;
    RedisInvalidationBus bus;
    LocalCache l1{{.max_entries = 1000}};
    TieredCache tiered;
};

TieredCacheSettings tiered_settings(std::string id, std::size_t max_pending = 10'000) {
    return {.l1_ttl = 300s,  // long, so only invalidations can remove an L1 copy
            .instance_id = std::move(id),
            .max_pending_invalidations = max_pending,
            .replay_interval = 20ms};
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

using Value = std::optional<std::string>;

// Both subscribers connected. Subscriber::on_connected runs before connected() turns true, so
// the first-connection L1 drop (if the cache registered in time for it) is done: it cannot
// wipe what the test puts in L1 next. Returns the drops so far of each.
std::pair<std::uint64_t, std::uint64_t> wait_ready(Instance& a, Instance& b) {
    EXPECT_TRUE(wait_until([&] { return a.subscriber.connected() && b.subscriber.connected(); }));
    return {a.tiered.recovery().l1_flushes_resubscribed,
            b.tiered.recovery().l1_flushes_resubscribed};
}

// Writes `keys` through A, waits until B has heard A's `del` messages for them (set() publishes
// one, delivered asynchronously), then reads them through B: every key is in Redis and in both
// L1s.
void fill(IoThreads& io, Instance& a, Instance& b, std::vector<std::string> keys,
          const std::string& value) {
    const auto heard = b.tiered.remote_invalidations();
    io.run([&]() -> Task<void> {
        for (const auto& k : keys) {
            co_await a.tiered.set(k, value, 600s);
        }
    }());
    ASSERT_TRUE(wait_until([&] { return b.tiered.remote_invalidations() == heard + keys.size(); }));
    io.run([&]() -> Task<void> {
        for (const auto& k : keys) {
            EXPECT_EQ(co_await b.tiered.get(k), Value(value));
        }
    }());
    for (const auto& k : keys) {
        ASSERT_EQ(a.tiered.get_l1(k), Value(value));
        ASSERT_EQ(b.tiered.get_l1(k), Value(value));
    }
}

TEST(TieredCacheOverRedis, DeletionDuringAKillIsReplayedWhenRedisReturnsWithItsData) {
    RedisServer server(test::RedisServerOptions{.append_only = true});
    IoThreads io;
    const auto rs = test::fast_redis_settings(server, 1000ms);
    Instance a(io.executor(), rs, tiered_settings("a"));
    Instance b(io.executor(), rs, tiered_settings("b"));
    const auto [a_flushes, b_flushes] = wait_ready(a, b);
    fill(io, a, b, {"user:1"}, "old");
    fill(io, a, b, {"user:2"}, "kept");

    server.kill();
    io.run(a.tiered.del("user:1"));  // the profile changed in the store meanwhile
    EXPECT_EQ(a.tiered.recovery().pending, 1u);
    EXPECT_TRUE(a.tiered.recovery().l2_reads_suspended);
    EXPECT_EQ(b.tiered.get_l1("user:1"), Value("old"));  // B never heard of it (yet)
    EXPECT_EQ(io.run(a.tiered.get("user:1")), std::nullopt);

    server.start();  // same port and directory: the AOF brings user:1 = old back
    const auto back = std::chrono::steady_clock::now();
    // A never serves the old value, before or after its replay.
    bool a_saw_old = false;
    ASSERT_TRUE(wait_until([&] {
        a_saw_old = a_saw_old || io.run(a.tiered.get("user:1")).has_value();
        return !a.tiered.recovery().l2_reads_suspended;
    }));
    const auto replayed_after = std::chrono::steady_clock::now() - back;
    EXPECT_FALSE(a_saw_old);
    EXPECT_LT(replayed_after, 2s);
    const auto r = a.tiered.recovery();
    EXPECT_EQ(r.pending, 0u);
    EXPECT_EQ(r.replays, 1u);
    EXPECT_GE(r.replay_failures, 1u);  // attempts while Redis was dead
    // B reconnected (and dropped its L1) and heard the replayed deletion.
    ASSERT_TRUE(wait_until(
        [&] { return b.tiered.recovery().l1_flushes_resubscribed == b_flushes + 1; }));
    EXPECT_EQ(a.tiered.recovery().l1_flushes_resubscribed, a_flushes + 1);
    ASSERT_TRUE(wait_until([&] { return !b.tiered.get_l1("user:1").has_value(); }));
    io.run([&]() -> Task<void> {
        EXPECT_EQ(co_await a.l2.get("user:1"), std::nullopt);  // gone from Redis
        EXPECT_EQ(co_await b.tiered.get("user:1"), std::nullopt);
        // The untouched key did come back from disk: the outage really kept Redis's data.
        EXPECT_EQ(co_await b.l2.get("user:2"), Value("kept"));
        EXPECT_EQ(co_await b.tiered.get("user:2"), Value("kept"));
        co_await a.close();
        co_await b.close();
    }());
}

TEST(TieredCacheOverRedis, TooManyDeletionsDuringAnOutageBumpTheGeneration) {
    RedisServer server(test::RedisServerOptions{.append_only = true});
    IoThreads io;
    const auto rs = test::fast_redis_settings(server, 1000ms);
    Instance a(io.executor(), rs, tiered_settings("a", 2));
    Instance b(io.executor(), rs, tiered_settings("b"));
    wait_ready(a, b);
    fill(io, a, b, {"hist:1", "hist:2", "hist:3", "user:9"}, "old");
    server.kill();
    io.run([&]() -> Task<void> {
        for (const char* k : {"hist:1", "hist:2", "hist:3"}) {
            co_await a.tiered.del(k);
        }
    }());
    EXPECT_TRUE(a.tiered.recovery().overflowed);
    server.start();
    ASSERT_TRUE(wait_until([&] { return !a.tiered.recovery().l2_reads_suspended; }));
    EXPECT_EQ(a.tiered.recovery().full_invalidations, 1u);
    ASSERT_TRUE(wait_until([&] { return b.l1.size() == 0; }));
    io.run([&]() -> Task<void> {
        // Every entry of the old generation is unreadable in Redis, including the one nobody
        // deleted, so B (which dropped its L1) reads misses and goes to the store. A's own L1
        // copy of user:9 is still right: nobody changed it, and A's deletions had removed the
        // others from it.
        for (const char* k : {"hist:1", "hist:2", "hist:3", "user:9"}) {
            EXPECT_EQ(co_await b.tiered.get(k), std::nullopt) << k;
            EXPECT_EQ(co_await a.l2.get(k), std::nullopt) << k;
        }
        for (const char* k : {"hist:1", "hist:2", "hist:3"}) {
            EXPECT_EQ(co_await a.tiered.get(k), std::nullopt) << k;
        }
        EXPECT_GE(b.l2.stale_reads(), 4u);
        co_await b.tiered.set("user:9", "new", 600s);
        a.l1.clear();
        EXPECT_EQ(co_await a.tiered.get("user:9"), Value("new"));
        co_await a.close();
        co_await b.close();
    }());
}

TEST(TieredCacheOverRedis, SubscriberReconnectDropsTheWholeL1) {
    RedisServer server;
    IoThreads io;
    const auto rs = test::fast_redis_settings(server, 1000ms);
    Instance a(io.executor(), rs, tiered_settings("a"));
    Instance b(io.executor(), rs, tiered_settings("b"));
    const auto [a_flushes, b_flushes] = wait_ready(a, b);
    fill(io, a, b, {"user:1", "user:2", "hist:1"}, "v");
    EXPECT_EQ(b.l1.size(), 3u);
    server.stop();
    server.start();  // no persistence, no deletion anywhere: only the reconnection
    ASSERT_TRUE(wait_until([&] {
        return a.tiered.recovery().l1_flushes_resubscribed == a_flushes + 1 &&
               b.tiered.recovery().l1_flushes_resubscribed == b_flushes + 1;
    }));
    EXPECT_EQ(b.l1.size(), 0u);
    EXPECT_EQ(a.l1.size(), 0u);
    EXPECT_EQ(b.tiered.recovery().pending, 0u);
    io.run([&]() -> Task<void> {
        co_await a.close();
        co_await b.close();
    }());
}

}  // namespace
}  // namespace confidant::cache
