#include "cache/cached.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cache/codec.hpp"
#include "cache/local/local_cache.hpp"
#include "test_util.hpp"

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;
using testing::run_sync;

enum class Kind { a = 3 };

TEST(Cached, MakeKey) {
    EXPECT_EQ(Cached::make_key("user"), "user");
    EXPECT_EQ(Cached::make_key("user", 42), "user:42");
    EXPECT_EQ(Cached::make_key("user:profile", 42, std::string("en")), "user:profile:42:en");
    EXPECT_EQ(Cached::make_key("m", -7, std::int64_t{1} << 40, true, Kind::a),
              "m:-7:1099511627776:1:3");
    EXPECT_EQ(Cached::make_key("p", "lit", std::string_view("sv")), "p:lit:sv");
    EXPECT_NE(Cached::make_key("p", "a:b", "c"), Cached::make_key("p", "a", "b:c"));
    EXPECT_EQ(Cached::make_key("p", "a:b"), "p:a%3Ab");
    EXPECT_EQ(Cached::make_key("p", "50%"), "p:50%25");
    EXPECT_EQ(Cached::make_key("p", "x*?[]\\y"), "p:x%2A%3F%5B%5D%5Cy");
    EXPECT_NE(Cached::make_key("p", "%3A"), Cached::make_key("p", ":"));
}

struct Fixture {
    ManualClock clock;
    LocalCache cache{{.max_entries = 1000, .shards = 1}, clock};
    SingleFlight<std::string> flight;
};

TEST(Cached, LoadsOnceThenHits) {
    Fixture f;
    Cached cached(f.cache, f.flight, {}, f.clock);
    int loads = 0;
    auto loader = [&]() -> Task<std::string> { co_return "v" + std::to_string(++loads); };
    run_sync([&]() -> Task<void> {
        EXPECT_EQ(co_await cached.get_or_load("k", 60s, loader), "v1");
        EXPECT_EQ(co_await cached.get_or_load("k", 60s, loader), "v1");
    }());
    EXPECT_EQ(loads, 1);
    f.clock.advance(61s);
    EXPECT_EQ(run_sync(cached.get_or_load("k", 60s, loader)), "v2");
}

TEST(Cached, ConcurrentMissesLoadOnce) {
    Fixture f;
    // Real clock: this test runs on two threads and ManualClock is not thread-safe.
    LocalCache shared_cache({.max_entries = 1000});
    Cached cached_mt(shared_cache, f.flight);
    constexpr int kCallers = 100;
    std::atomic<int> loads{0};
    std::atomic<int> good{0};
    boost::asio::io_context ioc(2);
    for (int i = 0; i < kCallers; ++i) {
        boost::asio::co_spawn(
            ioc,
            [&]() -> Task<void> {
                auto v = co_await cached_mt.get_or_load("hot", 60s, [&]() -> Task<std::string> {
                    loads.fetch_add(1);
                    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
                    const auto deadline = std::chrono::steady_clock::now() + 60s;
                    while (f.flight.waiters("hot") < kCallers - 1 &&
                           std::chrono::steady_clock::now() < deadline) {
                        timer.expires_after(1ms);
                        co_await timer.async_wait(boost::asio::use_awaitable);
                    }
                    co_return std::string("profile");
                });
                if (v == "profile") {
                    good.fetch_add(1);
                }
            },
            [](std::exception_ptr e) { ASSERT_FALSE(e); });
    }
    std::thread t([&] { ioc.run(); });
    ioc.run();
    t.join();
    EXPECT_EQ(loads.load(), 1);
    EXPECT_EQ(good.load(), kCallers);
}

TEST(Cached, EarlyRefreshRunsTheLoaderOnceInTheBackground) {
    Fixture f;
    Cached cached(f.cache, f.flight, {.early_refresh_fraction = 0.1}, f.clock);
    int loads = 0;
    auto loader = [&]() -> Task<std::string> { co_return "v" + std::to_string(++loads); };

    boost::asio::io_context ioc;
    std::vector<std::string> seen;
    boost::asio::co_spawn(
        ioc,
        [&]() -> Task<void> {
            seen.push_back(co_await cached.get_or_load("k", 100s, loader));  // miss: v1
            f.clock.advance(50s);
            seen.push_back(co_await cached.get_or_load("k", 100s, loader));  // plain hit
            EXPECT_EQ(cached.refreshes_in_flight(), 0u);
            f.clock.advance(45s);  // 5 s left of 100: inside the last 10%
            for (int i = 0; i < 20; ++i) {
                seen.push_back(co_await cached.get_or_load("k", 100s, loader));
            }
            EXPECT_EQ(cached.refreshes_in_flight(), 1u);
            // Let the background refresh run.
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
            while (cached.refreshes_in_flight() != 0) {
                timer.expires_after(1ms);
                co_await timer.async_wait(boost::asio::use_awaitable);
            }
            seen.push_back(co_await cached.get_or_load("k", 100s, loader));
            f.clock.advance(60s);  // past the old expiry, within the refreshed one
            seen.push_back(co_await cached.get_or_load("k", 100s, loader));
        },
        [](std::exception_ptr e) { ASSERT_FALSE(e); });
    ioc.run();
    EXPECT_EQ(loads, 2);
    ASSERT_EQ(seen.size(), 24u);
    for (std::size_t i = 0; i < 22; ++i) {
        EXPECT_EQ(seen[i], "v1") << i << " loads=" << loads;  // the current value meanwhile
    }
    EXPECT_EQ(seen[22], "v2");
    EXPECT_EQ(seen[23], "v2");
}

TEST(Cached, LoaderExceptionPropagatesAndCachesNothing) {
    Fixture f;
    Cached cached(f.cache, f.flight, {}, f.clock);
    int calls = 0;
    EXPECT_THROW(run_sync(cached.get_or_load("k", 60s,
                                             [&]() -> Task<std::string> {
                                                 ++calls;
                                                 throw std::runtime_error("db down");
                                                 co_return std::string();
                                             })),
                 std::runtime_error);
    EXPECT_EQ(f.cache.size(), 0u);
    EXPECT_EQ(run_sync(cached.get_or_load("k", 60s,
                                          [&]() -> Task<std::string> {
                                              ++calls;
                                              co_return "ok";
                                          })),
              "ok");
    EXPECT_EQ(calls, 2);
}

TEST(Cached, NotFoundIsNotCachedByDefault) {
    Fixture f;
    Cached cached(f.cache, f.flight, {}, f.clock);
    int calls = 0;
    auto loader = [&]() -> Task<std::optional<std::string>> {
        ++calls;
        co_return std::nullopt;
    };
    EXPECT_FALSE(run_sync(cached.get_or_load_optional("missing", 60s, loader)).has_value());
    EXPECT_FALSE(run_sync(cached.get_or_load_optional("missing", 60s, loader)).has_value());
    EXPECT_EQ(calls, 2);
}

TEST(Cached, NotFoundCachedBrieflyWhenConfigured) {
    Fixture f;
    Cached cached(f.cache, f.flight, {.negative_ttl = 5s}, f.clock);
    int calls = 0;
    auto loader = [&]() -> Task<std::optional<std::string>> {
        ++calls;
        co_return std::nullopt;
    };
    EXPECT_FALSE(run_sync(cached.get_or_load_optional("missing", 60s, loader)).has_value());
    EXPECT_FALSE(run_sync(cached.get_or_load_optional("missing", 60s, loader)).has_value());
    EXPECT_EQ(calls, 1);
    f.clock.advance(6s);
    EXPECT_FALSE(run_sync(cached.get_or_load_optional("missing", 60s, loader)).has_value());
    EXPECT_EQ(calls, 2);
}

TEST(Cached, OtherSchemaVersionOrForeignBytesReadAsMiss) {
    Fixture f;
    Cached v1(f.cache, f.flight, {.schema_version = 1}, f.clock);
    Cached v2(f.cache, f.flight, {.schema_version = 2}, f.clock);
    int calls = 0;
    auto loader = [&]() -> Task<std::string> { co_return "shape" + std::to_string(++calls); };
    EXPECT_EQ(run_sync(v1.get_or_load("k", 60s, loader)), "shape1");
    EXPECT_EQ(run_sync(v2.get_or_load("k", 60s, loader)), "shape2");  // v1's bytes: a miss
    EXPECT_EQ(run_sync(v2.get_or_load("k", 60s, loader)), "shape2");
    EXPECT_EQ(calls, 2);

    f.cache.set_sync("raw", "{\"legacy\":true}", 60s);
    EXPECT_EQ(run_sync(v1.get_or_load("raw", 60s, loader)), "shape3");
    f.cache.set_sync("trunc", codec::encode(1, "V"), 60s);  // right version, broken envelope
    EXPECT_EQ(run_sync(v1.get_or_load("trunc", 60s, loader)), "shape4");
}

TEST(Cached, InvalidateAndInvalidatePattern) {
    Fixture f;
    Cached cached(f.cache, f.flight, {}, f.clock);
    int calls = 0;
    auto loader = [&]() -> Task<std::string> { co_return "v" + std::to_string(++calls); };
    run_sync([&]() -> Task<void> {
        co_await cached.get_or_load(Cached::make_key("user", 42), 60s, loader);
        co_await cached.get_or_load(Cached::make_key("user", 43), 60s, loader);
        co_await cached.get_or_load(Cached::make_key("chat", 42), 60s, loader);
        co_await cached.invalidate("user", 42);
        EXPECT_EQ(co_await cached.get_or_load(Cached::make_key("user", 42), 60s, loader), "v4");
        EXPECT_EQ(co_await cached.invalidate_pattern("user:*"), 2);
        EXPECT_EQ(co_await cached.get_or_load(Cached::make_key("chat", 42), 60s, loader), "v3");
    }());
    EXPECT_EQ(f.cache.size(), 1u);
}

}  // namespace
}  // namespace confidant::cache
