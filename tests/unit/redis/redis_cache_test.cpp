#include "cache/redis/redis_cache.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "redis/pool.hpp"
#include "support/redis_server.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using redis::Pool;
using redis::RedisSettings;
using test::IoThreads;
using test::RedisServer;

RedisSettings fast_settings(const RedisServer& server) { return test::fast_redis_settings(server); }

TEST(RedisCache, GetSetDelUnderPrefixWithTtl) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool);
    io.run([&]() -> Task<void> {
        EXPECT_EQ(co_await cache.get("profile:1"), std::nullopt);
        co_await cache.set("profile:1", "alice", 120s);
        EXPECT_EQ(co_await cache.get("profile:1"), std::optional<std::string>("alice"));
        // Stored as `<generation>|<value>`, the generation being the generation key's content.
        auto raw = co_await pool.call("GET", "confidant:profile:1");
        auto generation = co_await pool.call("GET", cache.generation_key());
        EXPECT_EQ(cache.generation_key(), "cache-generation:confidant:");
        EXPECT_TRUE(generation && generation->str().size() == 16);
        EXPECT_TRUE(raw && generation && raw->str() == generation->str() + "|alice");
        auto ttl = co_await pool.call("TTL", "confidant:profile:1");
        EXPECT_TRUE(ttl && ttl->integer() > 100 && ttl->integer() <= 120);
        co_await cache.set("no-ttl-given", "x", 0s);  // default TTL, never persistent
        auto ttl2 = co_await pool.call("TTL", "confidant:no-ttl-given");
        EXPECT_TRUE(ttl2 && ttl2->integer() > 500 && ttl2->integer() <= 600);
        co_await cache.del("profile:1");
        EXPECT_EQ(co_await cache.get("profile:1"), std::nullopt);
        auto st = co_await cache.stats();
        EXPECT_EQ(st.status, "active");
        EXPECT_EQ(st.backend, "redis");
        EXPECT_EQ(st.hits, 1u);
        EXPECT_EQ(st.misses, 2u);
        EXPECT_EQ(st.total_keys, 2);  // no-ttl-given and the generation key
        EXPECT_GT(st.used_memory_bytes, 0);
        EXPECT_FALSE(st.used_memory_human.empty());
        EXPECT_GE(st.active_connections, 1);
        co_await pool.close();
    }());
}

TEST(RedisCache, DelPatternScansAndDeletesExactlyTheMatchingKeys) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool);
    io.run([&]() -> Task<void> {
        // 2,000 keys of ours: 1,000 user:*, 1,000 session:*; plus keys outside our prefix.
        std::vector<std::vector<std::string>> cmds;
        for (int i = 0; i < 1000; ++i) {
            cmds.push_back({"SET", "confidant:user:" + std::to_string(i), "u", "EX", "600"});
            cmds.push_back({"SET", "confidant:session:" + std::to_string(i), "s", "EX", "600"});
        }
        cmds.push_back({"SET", "user:1", "foreign"});
        cmds.push_back({"SET", "other:confidant:user:1", "foreign"});
        cmds.push_back({"SET", "confidant:users", "not matched by user:*"});
        auto r = co_await pool.pipeline(std::move(cmds));
        EXPECT_TRUE(r && r->size() == 2003);

        const auto deleted = co_await cache.del_pattern("user:*");
        EXPECT_EQ(deleted, 1000);
        auto size = co_await pool.call("DBSIZE");
        EXPECT_TRUE(size && size->integer() == 1003);
        auto foreign = co_await pool.call("EXISTS", "user:1", "other:confidant:user:1",
                                          "confidant:users", "confidant:session:999");
        EXPECT_TRUE(foreign && foreign->integer() == 4);
        EXPECT_EQ(co_await cache.del_pattern("user:*"), 0);
        EXPECT_EQ(co_await cache.del_pattern("session:1??"), 100);
        co_await pool.close();
    }());
}

TEST(RedisCache, PrefixGlobCharactersAreLiteral) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool, RedisCacheSettings{.key_prefix = "app[1]:"});
    io.run([&]() -> Task<void> {
        co_await cache.set("k", "v", 60s);
        EXPECT_TRUE(co_await pool.call("SET", "app1:k", "not ours"));
        EXPECT_EQ(co_await cache.del_pattern("*"), 1);
        auto exists = co_await pool.call("EXISTS", "app1:k");
        EXPECT_TRUE(exists && exists->integer() == 1);
        co_await pool.close();
    }());
}

TEST(RedisCache, DegradesWithoutErrorsOrWaitsWhenRedisIsDown) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool);
    io.run([&]() -> Task<void> {
        co_await cache.set("a", "1", 60s);
        EXPECT_TRUE(co_await cache.get("a"));
    }());
    server.stop();
    // The first call notices the outage; everything after is immediate.
    io.run([&]() -> Task<void> { EXPECT_EQ(co_await cache.get("a"), std::nullopt); }());
    ASSERT_FALSE(pool.is_up());
    io.run([&]() -> Task<void> {
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(co_await cache.get("a"), std::nullopt);
        co_await cache.set("b", "2", 60s);
        co_await cache.del("a");
        EXPECT_EQ(co_await cache.del_pattern("*"), 0);
        auto st = co_await cache.stats();
        EXPECT_EQ(st.status, "degraded");
        EXPECT_EQ(st.backend, "redis");
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms);
    }());
    EXPECT_GE(cache.errors(), 4u);
    server.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pool.is_up() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(pool.is_up());
    io.run([&]() -> Task<void> {
        co_await cache.set("c", "3", 60s);
        EXPECT_EQ(co_await cache.get("c"), std::optional<std::string>("3"));
        EXPECT_EQ((co_await cache.stats()).status, "active");
        co_await pool.close();
    }());
}

TEST(RedisCache, InvalidateAllMakesEveryEntryUnreadableInOneWrite) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool);
    RedisCache other_instance(pool);
    io.run([&]() -> Task<void> {
        for (int i = 0; i < 100; ++i) {
            co_await cache.set("k" + std::to_string(i), "v", 600s);
        }
        EXPECT_EQ(co_await other_instance.get("k7"), std::optional<std::string>("v"));
        EXPECT_TRUE(co_await cache.invalidate_all());
        // Both instances see it at once: the generation is read with every entry.
        EXPECT_EQ(co_await cache.get("k7"), std::nullopt);
        EXPECT_EQ(co_await other_instance.get("k8"), std::nullopt);
        EXPECT_EQ(cache.stale_reads(), 1u);
        EXPECT_EQ(other_instance.stale_reads(), 1u);
        // The old entries are left to expire; nothing was scanned or deleted.
        auto size = co_await pool.call("DBSIZE");
        EXPECT_TRUE(size && size->integer() == 101);
        auto commands = co_await pool.call("INFO", "commandstats");
        EXPECT_TRUE(commands && commands->str().find("cmdstat_scan") == std::string::npos);
        EXPECT_TRUE(commands && commands->str().find("cmdstat_unlink") == std::string::npos);
        // New writes are tagged with the new generation.
        co_await other_instance.set("k7", "v2", 600s);
        EXPECT_EQ(co_await cache.get("k7"), std::optional<std::string>("v2"));
        co_await pool.close();
    }());
}

TEST(RedisCache, LostGenerationKeyMeansMissesNeverOldValues) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool);
    io.run([&]() -> Task<void> {
        co_await cache.set("k", "old", 600s);
        auto g1 = co_await pool.call("GET", cache.generation_key());
        // The generation key is evicted or lost: the entry must not be served...
        EXPECT_TRUE(co_await pool.call("DEL", cache.generation_key()));
        EXPECT_EQ(co_await cache.get("k"), std::nullopt);
        // ...nor after the next write creates a new generation.
        co_await cache.set("other", "x", 600s);
        auto g2 = co_await pool.call("GET", cache.generation_key());
        EXPECT_TRUE(g1 && g2 && g2->is_string() && g1->str() != g2->str());
        EXPECT_EQ(co_await cache.get("k"), std::nullopt);
        EXPECT_EQ(co_await cache.get("other"), std::optional<std::string>("x"));
        // A value someone else wrote without a tag is a miss too.
        EXPECT_TRUE(co_await pool.call("SET", "confidant:foreign", "plain"));
        EXPECT_EQ(co_await cache.get("foreign"), std::nullopt);
        co_await pool.close();
    }());
}

TEST(RedisCache, CheckedDeletionsReportFailures) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    RedisCache cache(pool, RedisCacheSettings{.unlink_batch = 2});
    io.run([&]() -> Task<void> {
        for (const char* k : {"a", "b", "c", "d", "e"}) {
            co_await cache.set(k, "v", 600s);
        }
        EXPECT_TRUE(co_await cache.try_del("a"));
        EXPECT_TRUE(co_await cache.try_del("absent"));  // acknowledged, nothing to delete
        std::vector<std::string> many{"b", "c", "d"};
        EXPECT_TRUE(co_await cache.try_del_many(many));  // two UNLINKs
        EXPECT_EQ(co_await cache.get("c"), std::nullopt);
        EXPECT_EQ(co_await cache.get("e"), std::optional<std::string>("v"));
        EXPECT_EQ(co_await cache.try_del_pattern("e"), std::optional<std::int64_t>(1));
    }());
    server.kill();
    io.run([&]() -> Task<void> {
        EXPECT_FALSE(co_await cache.try_del("x"));  // notices the outage
        EXPECT_FALSE(co_await cache.try_del("x"));  // fails fast
        std::vector<std::string> many{"x", "y"};
        EXPECT_FALSE(co_await cache.try_del_many(many));
        EXPECT_EQ(co_await cache.try_del_pattern("*"), std::nullopt);
        EXPECT_FALSE(co_await cache.invalidate_all());
        co_await pool.close();
    }());
}

}  // namespace
}  // namespace confidant::cache
