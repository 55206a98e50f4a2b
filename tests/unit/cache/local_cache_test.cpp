#include "cache/local/local_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache_sim/trace.hpp"
#include "test_util.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using testing::run_sync;

std::string key_of(std::size_t i) { return "key:" + std::to_string(i); }

TEST(LocalCache, GetSetEraseAndUpdate) {
    LocalCache cache({.max_entries = 100, .shards = 4});
    EXPECT_FALSE(cache.get_sync("a").has_value());
    cache.set_sync("a", "1", 60s);
    EXPECT_EQ(cache.get_sync("a"), std::optional<std::string>("1"));
    cache.set_sync("a", "22", 60s);
    EXPECT_EQ(cache.get_sync("a"), std::optional<std::string>("22"));
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.tier_stats().bytes, 1 + 2 + LocalCache::kEntryOverhead);
    EXPECT_TRUE(cache.erase("a"));
    EXPECT_FALSE(cache.erase("a"));
    EXPECT_FALSE(cache.get_sync("a").has_value());
    EXPECT_EQ(cache.tier_stats().bytes, 0u);

    const auto t = cache.tier_stats();
    EXPECT_EQ(t.hits, 2u);
    EXPECT_EQ(t.misses, 2u);
}

TEST(LocalCache, BinaryKeysAndValues) {
    LocalCache cache;
    const std::string key("k\0ey", 4);
    const std::string value("v\0\xff", 3);
    cache.set_sync(key, value, 60s);
    EXPECT_EQ(cache.get_sync(key), std::optional<std::string>(value));
    EXPECT_FALSE(cache.get_sync("k").has_value());
}

TEST(LocalCache, BoundedByEntries) {
    for (std::size_t shards : {1u, 4u, 16u}) {
        LocalCache cache({.max_entries = 100, .shards = shards});
        for (std::size_t i = 0; i < 5000; ++i) {
            cache.set_sync(key_of(i), "v", 60s);
            // A fresh entry lands in the admission window: readable right away.
            ASSERT_EQ(cache.get_sync(key_of(i)), std::optional<std::string>("v"));
        }
        EXPECT_LE(cache.size(), 100u) << shards;
        EXPECT_GE(cache.size(), 50u) << shards;  // and it is actually used
        const auto t = cache.tier_stats();
        EXPECT_EQ(t.entries, cache.size());
        EXPECT_GT(t.evictions + t.rejections, 0u);
    }
}

TEST(LocalCache, BoundedByBytes) {
    LocalCache cache({.max_entries = 10'000, .max_bytes = 10'000, .shards = 1});
    const std::string value(500, 'x');
    for (std::size_t i = 0; i < 200; ++i) {
        cache.set_sync(key_of(i), value, 60s);
        ASSERT_LE(cache.tier_stats().bytes, 10'000u);
    }
    const std::size_t charge = key_of(100).size() + value.size() + LocalCache::kEntryOverhead;
    EXPECT_LE(cache.size(), 10'000u / charge);
    EXPECT_GE(cache.size(), 10'000u / charge - 2);

    // A value that can never fit is not stored, and drops an older value of the same key.
    cache.set_sync("big", "small", 60s);
    ASSERT_TRUE(cache.get_sync("big").has_value());
    cache.set_sync("big", std::string(20'000, 'y'), 60s);
    EXPECT_FALSE(cache.get_sync("big").has_value());
    EXPECT_LE(cache.tier_stats().bytes, 10'000u);
}

TEST(LocalCache, TtlExpiryWithInjectedClock) {
    ManualClock clock;
    LocalCache cache({.max_entries = 1000, .shards = 2, .default_ttl = 30s}, clock);
    cache.set_sync("short", "s", 10s);
    cache.set_sync("default", "d", 0s);
    clock.advance(9s);
    EXPECT_TRUE(cache.get_sync("short").has_value());
    clock.advance(2s);
    EXPECT_FALSE(cache.get_sync("short").has_value());
    EXPECT_EQ(cache.size(), 1u);  // reclaimed by the read
    EXPECT_TRUE(cache.get_sync("default").has_value());
    clock.advance(20s);
    EXPECT_FALSE(cache.get_sync("default").has_value());

    for (std::size_t i = 0; i < 50; ++i) {
        cache.set_sync(key_of(i), "v", 1s);
    }
    cache.set_sync("long", "l", 3600s);
    clock.advance(2s);
    EXPECT_EQ(cache.purge_expired(), 50u);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_FALSE(cache.erase(key_of(3)));
}

TEST(LocalCache, ExpiredEntriesAreSweptOnWrites) {
    ManualClock clock;
    LocalCache cache({.max_entries = 1000, .shards = 1}, clock);
    for (std::size_t i = 0; i < 100; ++i) {
        cache.set_sync(key_of(i), "v", 1s);
    }
    clock.advance(10s);
    cache.set_sync("fresh", "v", 60s);  // first write after the sweep interval sweeps
    EXPECT_EQ(cache.size(), 1u);
}

TEST(LocalCache, EraseMatching) {
    LocalCache cache({.max_entries = 1000, .shards = 8});
    for (int i = 0; i < 10; ++i) {
        cache.set_sync("user:" + std::to_string(i), "u", 60s);
    }
    for (int i = 0; i < 5; ++i) {
        cache.set_sync("chat:" + std::to_string(i), "c", 60s);
    }
    cache.set_sync("user*literal", "x", 60s);
    EXPECT_EQ(cache.erase_matching("user:[0-4]"), 5u);
    EXPECT_EQ(cache.erase_matching("user:*"), 5u);
    EXPECT_EQ(cache.erase_matching("user:*"), 0u);
    EXPECT_EQ(cache.size(), 6u);
    EXPECT_TRUE(cache.get_sync("chat:3").has_value());
    EXPECT_EQ(cache.erase_matching("user\\*literal"), 1u);
    EXPECT_EQ(run_sync(cache.del_pattern("*")), 5);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(LocalCache, AsyncInterfaceAndStats) {
    LocalCache cache({.max_entries = 1000});
    auto stats = run_sync([&]() -> Task<CacheStats> {
        co_await cache.set("k", "value", 60s);
        auto v = co_await cache.get("k");
        EXPECT_EQ(v, std::optional<std::string>("value"));
        EXPECT_FALSE((co_await cache.get("nope")).has_value());
        co_await cache.set("gone", "x", 60s);
        co_await cache.del("gone");
        co_return co_await cache.stats();
    }());
    EXPECT_EQ(stats.status, "local_only");
    EXPECT_EQ(stats.backend, "local");
    EXPECT_EQ(stats.total_keys, 1);
    EXPECT_EQ(stats.hits, 1u);
    EXPECT_EQ(stats.misses, 1u);
    EXPECT_EQ(stats.l1.entries, 1u);
    EXPECT_EQ(stats.used_memory_bytes,
              static_cast<std::int64_t>(1 + 5 + LocalCache::kEntryOverhead));
    EXPECT_DOUBLE_EQ(stats.hit_rate_percent(), 50.0);
}

TEST(LocalCache, FrequentKeysSurviveAScan) {
    LocalCache cache({.max_entries = 200, .shards = 1});
    for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < 100; ++i) {
            if (!cache.get_sync(key_of(i))) {
                cache.set_sync(key_of(i), "hot", 600s);
            }
        }
    }
    for (std::size_t i = 1000; i < 21'000; ++i) {  // one-hit wonders, 100x the capacity
        if (!cache.get_sync(key_of(i))) {
            cache.set_sync(key_of(i), "cold", 600s);
        }
    }
    std::size_t survivors = 0;
    for (std::size_t i = 0; i < 100; ++i) {
        survivors += cache.get_sync(key_of(i)).has_value() ? 1 : 0;
    }
    // A plain LRU keeps none of them; W-TinyLFU keeps (nearly) all.
    EXPECT_GE(survivors, 95u);
    EXPECT_LE(cache.size(), 200u);
}

double local_hit_rate(const std::vector<std::uint32_t>& trace, std::size_t capacity,
                      std::size_t shards) {
    LocalCache cache(
        {.max_entries = capacity, .max_bytes = std::size_t{1} << 30, .shards = shards});
    std::size_t hits = 0;
    std::string key;
    for (const auto k : trace) {
        key = bench::trace_key(k);
        if (cache.get_sync(key)) {
            ++hits;
        } else {
            cache.set_sync(key, "v", 3600s);
        }
    }
    return static_cast<double>(hits) / static_cast<double>(trace.size());
}

TEST(LocalCache, TinyLfuBeatsLruOnZipf) {
    const auto trace = bench::zipf_trace(300'000, 20'000, 0.99, 42);
    const std::size_t capacity = 2'000;
    bench::LruSimulator lru(capacity);
    std::size_t lru_hits = 0;
    for (const auto k : trace) {
        lru_hits += lru.access(k) ? 1 : 0;
    }
    const double lru_rate = static_cast<double>(lru_hits) / static_cast<double>(trace.size());
    const double one_shard = local_hit_rate(trace, capacity, 1);
    const double sharded = local_hit_rate(trace, capacity, 4);
    std::cout << "lru " << lru_rate << " tinylfu(1 shard) " << one_shard << " tinylfu(4 shards) "
              << sharded << "\n";
    EXPECT_GT(one_shard, lru_rate + 0.05);
    EXPECT_GT(sharded, lru_rate + 0.04);
}

TEST(LocalCache, ConcurrentHammering) {
    LocalCache cache({.max_entries = 500, .max_bytes = 200'000, .shards = 4});
    constexpr int kThreads = 4;
    constexpr int kOps = 40'000;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) + 1);
            for (int i = 0; i < kOps; ++i) {
                const auto k = rng() % 2000;
                const std::string key = key_of(k);
                const auto op = rng() % 100;
                if (op < 60) {
                    if (auto v = cache.get_sync(key); v && *v != "value-of-" + key) {
                        bad.fetch_add(1);
                    }
                } else if (op < 95) {
                    cache.set_sync(key, "value-of-" + key, 60s);
                } else if (op < 99) {
                    cache.erase(key);
                } else if (i % 500 == 0) {
                    cache.erase_matching("key:1?");
                    (void)cache.tier_stats();
                    cache.purge_expired();
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(bad.load(), 0);
    EXPECT_LE(cache.size(), 500u);
    const auto t = cache.tier_stats();
    EXPECT_LE(t.bytes, 200'000u);
    EXPECT_GT(t.hits, 0u);
}

TEST(LocalCache, HumanBytes) {
    EXPECT_EQ(human_bytes(0), "0B");
    EXPECT_EQ(human_bytes(1023), "1023B");
    EXPECT_EQ(human_bytes(1536), "1.50K");
    EXPECT_EQ(human_bytes(3u << 20), "3.00M");
}

}  // namespace
}  // namespace confidant::cache
