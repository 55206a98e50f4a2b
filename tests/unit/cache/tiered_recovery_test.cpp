// TieredCache when L2 and the bus fail: pending invalidations, their replay, the L2 read
// suspension, the overflow fallback and the L1 drop on resubscription. L2 is a LocalCache
// behind a switch (FlakyCache), the bus a LocalInvalidationBus behind another (FlakyBus); the
// same behaviour against a real redis-server is in tests/unit/redis/tiered_recovery_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <mutex>
#include <vector>

#include "cache/tiered/local_invalidation_bus.hpp"
#include "cache/tiered/tiered_cache.hpp"
#include "test_util.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using testing::run_sync;

/// A LocalCache standing in for Redis: while `down`, reads miss, writes are dropped and the
/// checked deletions report failure (the entries stay, as in a Redis that comes back with its
/// data).
class FlakyCache final : public Cache {
  public:
    LocalCache store{{.max_entries = 10'000}};
    std::atomic<bool> down{false};
    std::atomic<int> invalidate_all_calls{0};

    Task<std::optional<std::string>> get(std::string_view key) override {
        if (down) {
            co_return std::nullopt;
        }
        co_return store.get_sync(key);
    }
    Task<void> set(std::string_view key, std::string value, std::chrono::seconds ttl) override {
        if (!down) {
            store.set_sync(key, std::move(value), ttl);
        }
        co_return;
    }
    Task<void> del(std::string_view key) override {
        co_await try_del(key);
    }
    Task<std::int64_t> del_pattern(std::string_view pattern) override {
        co_return (co_await try_del_pattern(pattern)).value_or(0);
    }
    Task<CacheStats> stats() override { co_return CacheStats{}; }
    Task<bool> try_del(std::string_view key) override {
        if (down) {
            co_return false;
        }
        store.erase(key);
        co_return true;
    }
    Task<std::optional<std::int64_t>> try_del_pattern(std::string_view pattern) override {
        if (down) {
            co_return std::nullopt;
        }
        co_return static_cast<std::int64_t>(store.erase_matching(pattern));
    }
    Task<bool> invalidate_all() override {
        if (down) {
            co_return false;
        }
        ++invalidate_all_calls;
        store.clear();
        co_return true;
    }
};

/// A LocalInvalidationBus that drops messages (and says so) while `down`, and can pretend to
/// have resubscribed.
class FlakyBus final : public InvalidationBus {
  public:
    std::atomic<bool> down{false};
    std::vector<std::string> sent;

    Task<bool> publish(std::string_view message) override {
        if (down) {
            co_return false;
        }
        sent.emplace_back(message);
        co_return co_await inner_.publish(message);
    }
    void subscribe(std::function<void(std::string_view)> on_message) override {
        inner_.subscribe(std::move(on_message));
    }
    void on_resubscribed(std::function<void()> callback) override {
        std::lock_guard lock(mu_);
        resubscribed_.push_back(std::move(callback));
    }
    void resubscribe() {
        std::lock_guard lock(mu_);
        for (const auto& cb : resubscribed_) {
            cb();
        }
    }

  private:
    LocalInvalidationBus inner_;
    std::mutex mu_;
    std::vector<std::function<void()>> resubscribed_;
};

TieredCacheSettings settings(std::string id) {
    return {.l1_ttl = 300s,
            .instance_id = std::move(id),
            .max_pending_invalidations = 100,
            .replay_interval = 5ms};
}

// Two instances sharing one flaky L2 and one flaky bus: "Redis" is both.
struct Cluster {
    FlakyCache l2;
    FlakyBus bus;
    LocalCache l1_a{{.max_entries = 1000}};
    LocalCache l1_b{{.max_entries = 1000}};
    TieredCache a;
    TieredCache b;
    explicit Cluster(TieredCacheSettings sa = settings("a"), TieredCacheSettings sb = settings("b"))
        : a(sa, l1_a, l2, &bus), b(sb, l1_b, l2, &bus) {}
    void redis_down() {
        l2.down = true;
        bus.down = true;
    }
    void redis_up() {
        l2.down = false;
        bus.down = false;
    }
};

Task<void> sleep_for(std::chrono::milliseconds d) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

// Polls `pred` (while the io_context runs the replay task) for up to `timeout`.
Task<bool> eventually(std::function<bool()> pred, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) {
            co_return false;
        }
        co_await sleep_for(1ms);
    }
    co_return true;
}

TEST(TieredCacheRecovery, FailedDeletionIsReplayedBeforeL2IsReadAgain) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        co_await c.a.set("user:1", "old", 600s);
        EXPECT_EQ(co_await c.b.get("user:1"), std::optional<std::string>("old"));  // B's L1

        c.redis_down();
        co_await c.a.del("user:1");  // reaches neither L2 nor B
        EXPECT_EQ(c.l2.store.get_sync("user:1"), std::optional<std::string>("old"));
        auto r = c.a.recovery();
        EXPECT_EQ(r.pending, 1u);
        EXPECT_TRUE(r.l2_reads_suspended);
        EXPECT_EQ(r.deferred, 1u);
        EXPECT_FALSE(c.a.get_l1("user:1").has_value());
        // Attempts fail while the outage lasts.
        EXPECT_TRUE(co_await eventually([&] { return c.a.recovery().replay_failures >= 2; }));

        // "Redis" is back with the old value; A's replay has not run yet (its task sleeps on
        // this same thread), and A must not read the old value from L2 meanwhile.
        c.redis_up();
        EXPECT_EQ(c.l2.store.get_sync("user:1"), std::optional<std::string>("old"));
        EXPECT_EQ(co_await c.a.get("user:1"), std::nullopt);
        EXPECT_GE(c.a.recovery().l2_reads_skipped, 1u);

        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        r = c.a.recovery();
        EXPECT_EQ(r.pending, 0u);
        EXPECT_EQ(r.replays, 1u);
        EXPECT_EQ(r.replayed, 1u);
        EXPECT_FALSE(c.l2.store.get_sync("user:1").has_value());  // deleted from L2...
        EXPECT_FALSE(c.b.get_l1("user:1").has_value());           // ...and published to B
        EXPECT_EQ(co_await c.b.get("user:1"), std::nullopt);
        // Reads reach L2 again.
        co_await c.a.set("user:1", "new", 600s);
        c.l1_a.clear();
        EXPECT_EQ(co_await c.a.get("user:1"), std::optional<std::string>("new"));
        EXPECT_EQ(c.a.recovery().l2_reads_skipped, 1u);
    }());
}

TEST(TieredCacheRecovery, FailedPublishIsReplayedToo) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        co_await c.a.set("k", "old", 600s);
        EXPECT_TRUE(co_await c.b.get("k"));
        c.bus.down = true;  // L2 takes the deletion, the message is lost
        co_await c.a.del("k");
        EXPECT_FALSE(c.l2.store.get_sync("k").has_value());
        EXPECT_EQ(c.b.get_l1("k"), std::optional<std::string>("old"));
        EXPECT_EQ(c.a.recovery().pending, 1u);
        c.bus.down = false;
        EXPECT_TRUE(co_await eventually([&] { return !c.b.get_l1("k").has_value(); }));
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
    }());
}

TEST(TieredCacheRecovery, PatternsAreReplayed) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        for (const char* k : {"hist:1", "hist:2", "user:1"}) {
            co_await c.a.set(k, "v", 600s);
            EXPECT_TRUE(co_await c.b.get(k));
        }
        c.redis_down();
        EXPECT_EQ(co_await c.a.del_pattern("hist:*"), 0);
        EXPECT_EQ(c.a.recovery().pending, 1u);
        c.redis_up();
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        EXPECT_FALSE(c.l2.store.get_sync("hist:1").has_value());
        EXPECT_FALSE(c.l2.store.get_sync("hist:2").has_value());
        EXPECT_TRUE(c.l2.store.get_sync("user:1").has_value());
        EXPECT_FALSE(c.b.get_l1("hist:2").has_value());
        EXPECT_TRUE(c.b.get_l1("user:1").has_value());
    }());
}

TEST(TieredCacheRecovery, RepeatedAndConcurrentDeletionsAreKeptOnce) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        c.redis_down();
        for (int i = 0; i < 3; ++i) {
            co_await c.a.del("same");
        }
        co_await c.a.del("other");
        auto r = c.a.recovery();
        EXPECT_EQ(r.pending, 2u);
        EXPECT_EQ(r.deferred, 4u);
        c.redis_up();
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        EXPECT_EQ(c.a.recovery().replayed, 2u);
        // One message per key, after the deletions (none were sent during the outage).
        auto sent = c.bus.sent;
        std::sort(sent.begin(), sent.end());
        EXPECT_EQ(sent, (std::vector<std::string>{"a del other", "a del same"}));
    }());
}

TEST(TieredCacheRecovery, TooManyPendingFallBackToOneInvalidateAll) {
    auto sa = settings("a");
    sa.max_pending_invalidations = 3;
    Cluster c(sa);
    run_sync([&]() -> Task<void> {
        for (const char* k : {"k1", "k2", "untouched"}) {
            co_await c.a.set(k, "v", 600s);
            EXPECT_TRUE(co_await c.b.get(k));
        }
        c.redis_down();
        for (const char* k : {"k1", "k2", "k3", "k4"}) {
            co_await c.a.del(k);
        }
        auto r = c.a.recovery();
        EXPECT_TRUE(r.overflowed);
        EXPECT_EQ(r.pending, 0u);  // replaced by one invalidate_all
        EXPECT_TRUE(r.l2_reads_suspended);
        c.redis_up();
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        EXPECT_EQ(c.l2.invalidate_all_calls, 1);
        EXPECT_EQ(c.a.recovery().full_invalidations, 1u);
        EXPECT_EQ(c.l2.store.size(), 0u);
        // B dropped its whole L1 on the `clr` message, even the key nobody deleted.
        EXPECT_FALSE(c.b.get_l1("untouched").has_value());
        EXPECT_EQ(c.b.recovery().l1_flushes_remote, 1u);
        EXPECT_EQ(c.bus.sent.back(), "a clr *");
    }());
}

TEST(TieredCacheRecovery, LargeReplayPublishesOneClear) {
    auto sa = settings("a");
    sa.max_published_invalidations = 2;
    Cluster c(sa);
    run_sync([&]() -> Task<void> {
        co_await c.a.set("x", "v", 600s);
        EXPECT_TRUE(co_await c.b.get("x"));
        c.bus.sent.clear();
        c.redis_down();
        for (const char* k : {"k1", "k2", "k3"}) {
            co_await c.a.del(k);
        }
        c.redis_up();
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        EXPECT_EQ(c.bus.sent, (std::vector<std::string>{"a clr *"}));
        EXPECT_FALSE(c.b.get_l1("x").has_value());
        EXPECT_EQ(c.l2.invalidate_all_calls, 0);  // L2 got the three deletions only
        EXPECT_TRUE(c.l2.store.get_sync("x").has_value());
    }());
}

TEST(TieredCacheRecovery, ResubscriptionDropsTheWholeL1) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        for (const char* k : {"user:1", "hist:1", "turn:1:20000"}) {
            co_await c.a.set(k, "v", 600s);
            EXPECT_TRUE(co_await c.b.get(k));
        }
        EXPECT_EQ(c.l1_b.size(), 3u);
        // A deletion B never heard of (its subscription was down), then B resubscribes.
        c.l2.store.erase("user:1");
        c.bus.resubscribe();
        EXPECT_EQ(c.l1_b.size(), 0u);
        EXPECT_EQ(c.l1_a.size(), 0u);  // every instance on the bus
        EXPECT_EQ(c.b.recovery().l1_flushes_resubscribed, 1u);
        EXPECT_EQ(co_await c.b.get("user:1"), std::nullopt);
        EXPECT_EQ(co_await c.b.get("hist:1"), std::optional<std::string>("v"));  // from L2
        // Nothing was pending: L2 reads were never suspended.
        EXPECT_EQ(c.b.recovery().l2_reads_skipped, 0u);
    }());
}

TEST(TieredCacheRecovery, FailedInvalidateAllIsRetried) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        co_await c.a.set("k", "v", 600s);
        c.redis_down();
        EXPECT_FALSE(co_await c.a.invalidate_all());
        EXPECT_TRUE(c.a.recovery().overflowed);
        EXPECT_EQ(c.l1_a.size(), 0u);
        c.redis_up();
        EXPECT_TRUE(co_await eventually([&] { return !c.a.recovery().l2_reads_suspended; }));
        EXPECT_EQ(c.l2.invalidate_all_calls, 1);
        EXPECT_EQ(c.l2.store.size(), 0u);
        EXPECT_TRUE(co_await c.a.invalidate_all());
        EXPECT_EQ(c.l2.invalidate_all_calls, 2);
    }());
}

TEST(TieredCacheRecovery, CloseStopsTheReplayTask) {
    Cluster c;
    run_sync([&]() -> Task<void> {
        c.redis_down();
        co_await c.a.del("k");
        EXPECT_TRUE(c.a.recovery().l2_reads_suspended);
        const auto t0 = std::chrono::steady_clock::now();
        co_await c.a.close();
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
        // Abandoned, not applied: the run_sync io_context has no work left, so it returns.
        EXPECT_EQ(c.a.recovery().pending, 1u);
        EXPECT_EQ(c.a.recovery().replays, 0u);
    }());
}

}  // namespace
}  // namespace confidant::cache
