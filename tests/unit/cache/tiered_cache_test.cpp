#include "cache/tiered/tiered_cache.hpp"

#include <gtest/gtest.h>

#include "cache/tiered/local_invalidation_bus.hpp"
#include "test_util.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using testing::run_sync;

// Two instances sharing one L2 (a LocalCache standing in for Redis) and one bus.
struct TwoInstances {
    ManualClock clock;
    LocalCache l2{{.max_entries = 10'000}, clock};
    LocalCache l1_a{{.max_entries = 1000}, clock};
    LocalCache l1_b{{.max_entries = 1000}, clock};
    LocalInvalidationBus bus;
    TieredCache a{{.l1_ttl = 5s, .instance_id = "a"}, l1_a, l2, &bus};
    TieredCache b{{.l1_ttl = 5s, .instance_id = "b"}, l1_b, l2, &bus};
};

std::optional<std::string> get(Cache& c, std::string_view key) { return run_sync(c.get(key)); }

TEST(TieredCache, ReadsThroughAndFillsL1) {
    TwoInstances t;
    run_sync(t.a.set("k", "v1", 60s));
    EXPECT_EQ(t.l2.get_sync("k"), std::optional<std::string>("v1"));
    EXPECT_EQ(t.a.get_l1("k"), std::optional<std::string>("v1"));
    EXPECT_FALSE(t.b.get_l1("k").has_value());
    EXPECT_EQ(get(t.b, "k"), std::optional<std::string>("v1"));    // from L2
    EXPECT_EQ(t.b.get_l1("k"), std::optional<std::string>("v1"));  // and now in B's L1
    EXPECT_FALSE(get(t.b, "absent").has_value());
}

TEST(TieredCache, DelOnOneInstanceDropsTheOthersL1) {
    TwoInstances t;
    run_sync(t.a.set("user:1", "old", 60s));
    ASSERT_EQ(get(t.b, "user:1"), std::optional<std::string>("old"));
    // Change L2 behind both instances' backs: B keeps serving its L1 copy...
    t.l2.set_sync("user:1", "new", 60s);
    EXPECT_EQ(get(t.b, "user:1"), std::optional<std::string>("old"));
    // ...until A deletes the key, which reaches B through the bus.
    const auto before = t.b.remote_invalidations();  // A's set published one already
    run_sync(t.a.del("user:1"));
    EXPECT_FALSE(t.b.get_l1("user:1").has_value());
    EXPECT_FALSE(get(t.b, "user:1").has_value());
    EXPECT_EQ(t.b.remote_invalidations(), before + 1);
    EXPECT_EQ(t.a.remote_invalidations(), 0u);  // its own message is ignored
}

TEST(TieredCache, DelPatternReachesOtherInstances) {
    TwoInstances t;
    for (const char* k : {"user:1", "user:2", "chat:1"}) {
        run_sync(t.a.set(k, "v", 60s));
        ASSERT_TRUE(get(t.b, k).has_value());
    }
    EXPECT_EQ(run_sync(t.a.del_pattern("user:*")), 2);
    EXPECT_FALSE(t.b.get_l1("user:1").has_value());
    EXPECT_FALSE(t.b.get_l1("user:2").has_value());
    EXPECT_TRUE(t.b.get_l1("chat:1").has_value());
    EXPECT_FALSE(t.a.get_l1("user:1").has_value());
}

TEST(TieredCache, SetOnOneInstanceDropsTheOthersStaleCopy) {
    TwoInstances t;
    run_sync(t.a.set("k", "v1", 60s));
    ASSERT_EQ(get(t.b, "k"), std::optional<std::string>("v1"));
    run_sync(t.a.set("k", "v2", 60s));
    EXPECT_EQ(get(t.b, "k"), std::optional<std::string>("v2"));
}

TEST(TieredCache, L1CopiesExpireAfterL1Ttl) {
    TwoInstances t;
    LocalCache l1_solo({.max_entries = 100}, t.clock);
    TieredCache solo({.l1_ttl = 5s}, l1_solo, t.l2);  // no bus
    run_sync(solo.set("k", "v1", 60s));
    t.l2.set_sync("k", "v2", 60s);
    EXPECT_EQ(get(solo, "k"), std::optional<std::string>("v1"));
    t.clock.advance(6s);
    EXPECT_EQ(get(solo, "k"), std::optional<std::string>("v2"));
    // A TTL shorter than l1_ttl caps the L1 copy too.
    run_sync(solo.set("short", "s", 2s));
    t.clock.advance(3s);
    EXPECT_FALSE(solo.get_l1("short").has_value());
    EXPECT_FALSE(solo.instance_id().empty());
}

TEST(TieredCache, StatsCombineTiers) {
    TwoInstances t;
    run_sync(t.a.set("k", "v", 60s));
    get(t.a, "k");     // L1 hit
    get(t.a, "k");     // L1 hit
    get(t.b, "k");     // L1 miss, L2 hit
    get(t.b, "nope");  // L1 miss, L2 miss
    const CacheStats s = run_sync(t.b.stats());
    EXPECT_EQ(s.l1.hits, 0u);
    EXPECT_EQ(s.l1.misses, 2u);
    EXPECT_EQ(s.l1.entries, 1u);
    EXPECT_EQ(s.hits, 1u);    // B's L1 hits (0) + L2 hits (1: B's read of k)
    EXPECT_EQ(s.misses, 1u);  // L2 misses
    const CacheStats sa = run_sync(t.a.stats());
    EXPECT_EQ(sa.l1.hits, 2u);
    EXPECT_EQ(sa.hits, 3u);
    EXPECT_EQ(sa.total_keys, 1);
}

TEST(TieredCache, MalformedBusMessagesAreIgnored) {
    TwoInstances t;
    run_sync(t.a.set("k", "v", 60s));
    run_sync(t.bus.publish("garbage"));
    run_sync(t.bus.publish("x zap k"));
    run_sync(t.bus.publish("x del"));
    EXPECT_TRUE(t.a.get_l1("k").has_value());
    run_sync(t.bus.publish("x del k"));
    EXPECT_FALSE(t.a.get_l1("k").has_value());
}

TEST(TieredCache, BusCallbackOutlivingTheCacheIsHarmless) {
    LocalInvalidationBus bus;
    LocalCache l1({.max_entries = 10});
    LocalCache l2({.max_entries = 10});
    { TieredCache gone({.instance_id = "gone"}, l1, l2, &bus); }
    // The dead cache's subscription is a no-op: it no longer touches the L1 it borrowed
    // (ASan would also flag a use of the destroyed object here)...
    l1.set_sync("k", "kept", 60s);
    run_sync(bus.publish("other del k"));
    run_sync(bus.publish("other clr *"));
    EXPECT_EQ(l1.get_sync("k"), std::optional<std::string>("kept"));
    // ...while a live cache subscribed to the same bus still gets every message.
    LocalCache l1_live({.max_entries = 10});
    TieredCache live({.instance_id = "live"}, l1_live, l2, &bus);
    run_sync(live.set("k", "v", 60s));
    run_sync(bus.publish("other del k"));
    EXPECT_FALSE(live.get_l1("k").has_value());
    EXPECT_EQ(live.remote_invalidations(), 1u);
    EXPECT_EQ(l1.get_sync("k"), std::optional<std::string>("kept"));
}

}  // namespace
}  // namespace confidant::cache
