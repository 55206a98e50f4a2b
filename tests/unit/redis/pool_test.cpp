#include "redis/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/redis_server.hpp"

namespace confidant::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::IoThreads;
using test::RedisServer;

RedisSettings fast_settings(const RedisServer& server) {
    RedisSettings s;
    s.url = server.url();
    s.max_connections = 4;
    s.connect_timeout = 500ms;
    s.command_timeout = 1000ms;
    s.acquire_timeout = 1000ms;
    s.retry_min_wait = 20ms;
    s.retry_max_wait = 100ms;
    s.down_probe_interval = 100ms;
    return s;
}

Task<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Reads `field:value` from an INFO reply.
std::string info_value(const std::string& info, const std::string& field) {
    auto pos = info.find(field + ":");
    if (pos == std::string::npos) {
        return {};
    }
    pos += field.size() + 1;
    return info.substr(pos, info.find('\r', pos) - pos);
}

// `calls=N` of cmdstat_ping (0 when absent).
long ping_calls(const std::string& info) {
    const auto v = info_value(info, "cmdstat_ping");
    if (v.rfind("calls=", 0) != 0) {
        return 0;
    }
    return std::stol(v.substr(6));
}

TEST(RedisPool, SetGetAndErrorReplies) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        auto set = co_await pool.call("SET", "greeting", "hello\r\nworld");
        EXPECT_TRUE(set);
        EXPECT_TRUE(set->is_status());
        EXPECT_EQ(set->str(), "OK");
        auto get = co_await pool.call("GET", "greeting");
        EXPECT_TRUE(get && get->is_string());
        EXPECT_EQ(get->str(), "hello\r\nworld");
        auto missing = co_await pool.call("GET", "nope");
        EXPECT_TRUE(missing && missing->is_nil());
        // An error reply is a value, not a failure, and leaves the connection usable.
        auto wrong = co_await pool.call("LPUSH", "greeting", "x");
        EXPECT_TRUE(wrong);
        EXPECT_TRUE(wrong->is_error_with("WRONGTYPE")) << wrong->to_debug_string();
        auto again = co_await pool.call("GET", "greeting");
        EXPECT_TRUE(again && again->str() == "hello\r\nworld");
        co_await pool.close();
    }());
    EXPECT_EQ(pool.stats().errors, 0u);
}

TEST(RedisPool, PipelineIsOneRoundTripInOrder) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        std::vector<std::vector<std::string>> cmds;
        cmds.push_back({"SET", "n", "10"});
        cmds.push_back({"INCRBY", "n", "5"});
        cmds.push_back({"GET", "n"});
        cmds.push_back({"RPUSH", "l", "a", "b", "c"});
        cmds.push_back({"LRANGE", "l", "0", "-1"});
        cmds.push_back({"NOSUCHCOMMAND"});
        cmds.push_back({"DEL", "n"});
        auto r = co_await pool.pipeline(std::move(cmds));
        EXPECT_TRUE(r);
        if (!r) {
            co_return;
        }
        EXPECT_EQ(r->size(), 7u);
        EXPECT_EQ((*r)[0].str(), "OK");
        EXPECT_EQ((*r)[1].integer(), 15);
        EXPECT_EQ((*r)[2].str(), "15");
        EXPECT_EQ((*r)[3].integer(), 3);
        EXPECT_EQ((*r)[4].elements().size(), 3u);
        EXPECT_EQ((*r)[4].elements()[2].str(), "c");
        EXPECT_TRUE((*r)[5].is_error());
        EXPECT_EQ((*r)[6].integer(), 1);
        // Empty pipeline: no round trip, no error.
        std::vector<std::vector<std::string>> none;
        auto empty = co_await pool.pipeline(std::move(none));
        EXPECT_TRUE(empty && empty->empty());
        co_await pool.close();
    }());
}

TEST(RedisPool, LargeValuesAndBinaryData) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>(i * 131 % 256);
    }
    io.run([&]() -> Task<void> {
        auto set = co_await pool.call("SET", "big", big);
        EXPECT_TRUE(set && set->str() == "OK");
        auto get = co_await pool.call("GET", "big");
        EXPECT_TRUE(get && get->is_string());
        EXPECT_TRUE(get->str() == big);
        co_await pool.close();
    }());
}

TEST(RedisPool, TwoHundredConcurrentCommandsOnTwoConnections) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.max_connections = 2;
    Pool pool(io.executor(), s);
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    io.run([&]() -> Task<void> {
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::future<void>> futures;
        for (int i = 0; i < 200; ++i) {
            futures.push_back(asio::co_spawn(
                ex,
                [&pool, &ok, &failed, i]() -> Task<void> {
                    auto key = "k" + std::to_string(i);
                    auto set = co_await pool.call("SET", key, std::to_string(i * 7));
                    auto incr = co_await pool.call("INCR", "counter");
                    auto get = co_await pool.call("GET", key);
                    if (set && incr && incr->is_integer() && get &&
                        get->str() == std::to_string(i * 7)) {
                        ++ok;
                    } else {
                        ++failed;
                    }
                },
                asio::use_future));
        }
        // Wait without blocking an I/O thread.
        for (auto& f : futures) {
            while (f.wait_for(0s) != std::future_status::ready) {
                co_await sleep_for(5ms);
            }
            f.get();
        }
        auto counter = co_await pool.call("GET", "counter");
        EXPECT_TRUE(counter && counter->str() == "200");
        co_await pool.close();
    }());
    EXPECT_EQ(ok.load(), 200);
    EXPECT_EQ(failed.load(), 0);
    const auto st = pool.stats();
    EXPECT_LE(st.connections_opened, 2u);
    EXPECT_GE(st.total_commands, 601u);
    EXPECT_EQ(st.errors, 0u);
}

TEST(RedisPool, SelectsDatabaseFromUrl) {
    RedisServer server;
    IoThreads io;
    auto s0 = fast_settings(server);
    auto s2 = fast_settings(server);
    s2.url = server.url(2);
    Pool db0(io.executor(), s0);
    Pool db2(io.executor(), s2);
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await db2.call("SET", "only-in-2", "x"));
        auto in0 = co_await db0.call("EXISTS", "only-in-2");
        auto in2 = co_await db2.call("EXISTS", "only-in-2");
        EXPECT_TRUE(in0 && in0->integer() == 0);
        EXPECT_TRUE(in2 && in2->integer() == 1);
        co_await db0.close();
        co_await db2.close();
    }());
}

TEST(RedisPool, RefusedAuthIsAConnectFailure) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.url = "redis://:wrong@127.0.0.1:" + std::to_string(server.port()) + "/0";
    Pool pool(io.executor(), s);
    io.run([&]() -> Task<void> {
        auto r = co_await pool.call("PING");
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().code, RedisErrc::connect_failed) << r.error().message;
            EXPECT_NE(r.error().message.find("AUTH"), std::string::npos) << r.error().message;
        }
        co_await pool.close();
    }());
    EXPECT_FALSE(pool.is_up());
}

TEST(RedisPool, HealthCheckPingsIdleConnectionBeforeReuse) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.max_connections = 1;
    s.health_check_interval = 1s;
    Pool pool(io.executor(), s);
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await pool.call("SET", "a", "1"));
        auto before = co_await pool.call("INFO", "commandstats");
        EXPECT_TRUE(before && before->is_string());
        EXPECT_EQ(pool.stats().health_checks, 0u);  // busy connections are not pinged
        co_await sleep_for(1300ms);
        auto after = co_await pool.call("INFO", "commandstats");
        EXPECT_TRUE(after && after->is_string());
        EXPECT_EQ(pool.stats().health_checks, 1u);
        // The server saw exactly one more PING: the one the pool sent before the second INFO.
        EXPECT_EQ(ping_calls(after->str()), ping_calls(before->str()) + 1)
            << info_value(after->str(), "cmdstat_ping");
        co_await pool.close();
    }());
}

TEST(RedisPool, RetriesAfterTimeoutAndSucceeds) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.command_timeout = 150ms;
    s.retry_min_wait = 50ms;
    s.retry_max_wait = 100ms;
    s.retry_attempts = 4;
    Pool pool(io.executor(), s);
    Pool admin(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await pool.call("SET", "k", "v"));
        auto pause = co_await admin.call("CLIENT", "PAUSE", "400");
        EXPECT_TRUE(pause && pause->str() == "OK");
        auto r = co_await pool.call("GET", "k");
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        EXPECT_TRUE(r && r->str() == "v");
        co_await pool.close();
        co_await admin.close();
    }());
    const auto st = pool.stats();
    EXPECT_GE(st.retries, 1u);
    EXPECT_EQ(st.errors, 0u);
    EXPECT_TRUE(st.up);
}

TEST(RedisPool, TimeoutWithoutRetryFails) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.command_timeout = 150ms;
    s.retry_on_timeout = false;
    Pool pool(io.executor(), s);
    Pool admin(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await pool.call("SET", "k", "v"));
        EXPECT_TRUE(co_await admin.call("CLIENT", "PAUSE", "500"));
        auto r = co_await pool.call("GET", "k");
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().code, RedisErrc::timeout);
        }
        co_await pool.close();
        co_await admin.close();
    }());
    EXPECT_EQ(pool.stats().retries, 0u);
    EXPECT_EQ(pool.stats().errors, 1u);
}

TEST(RedisPool, CancelledCallLeavesConnectionAligned) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    s.max_connections = 1;
    s.command_timeout = 3000ms;
    Pool pool(io.executor(), s);
    io.run([&]() -> Task<void> {
        using namespace asio::experimental::awaitable_operators;
        EXPECT_TRUE(co_await pool.call("SET", "x", "1"));
        // BLPOP blocks the connection for 0.5 s; the caller gives up after 50 ms.
        auto raced = co_await (pool.call("BLPOP", "empty-list", "0.5") || sleep_for(50ms));
        EXPECT_EQ(raced.index(), 1u);
        // The next call pipelines behind the abandoned BLPOP on the same connection and must
        // get its own reply, not BLPOP's nil.
        auto get = co_await pool.call("GET", "x");
        EXPECT_TRUE(get && get->is_string()) << (get ? get->to_debug_string() : "failed");
        EXPECT_EQ(get->str(), "1");
        co_await pool.close();
    }());
    EXPECT_EQ(pool.stats().connections_opened, 1u);
}

TEST(RedisPool, OutageFailsFastThenRecoversOnSamePort) {
    RedisServer server;
    IoThreads io;
    auto s = fast_settings(server);
    Pool pool(io.executor(), s);
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await pool.call("SET", "k", "v"));
        co_return;
    }());
    ASSERT_TRUE(pool.is_up());

    server.stop();
    // The first call discovers the outage (its connection is dead, a reconnect is refused).
    io.run([&]() -> Task<void> {
        auto r = co_await pool.call("GET", "k");
        EXPECT_FALSE(r);
        co_return;
    }());
    EXPECT_FALSE(pool.is_up());
    EXPECT_FALSE(pool.stats().up);

    // From now on every call fails at once, without retries or waits.
    const auto retries_before = pool.stats().retries;
    io.run([&]() -> Task<void> {
        for (int i = 0; i < 20; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            auto r = co_await pool.call("GET", "k");
            const auto took = std::chrono::steady_clock::now() - t0;
            EXPECT_FALSE(r);
            if (!r) {
                EXPECT_EQ(r.error().code, RedisErrc::down) << r.error().message;
            }
            EXPECT_LT(took, 200ms) << "call " << i << " waited during an outage";
            co_await sleep_for(10ms);
        }
    }());
    EXPECT_EQ(pool.stats().retries, retries_before);

    server.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pool.is_up() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(pool.is_up()) << "pool did not come back up after the restart";
    io.run([&]() -> Task<void> {
        auto set = co_await pool.call("SET", "k", "again");
        EXPECT_TRUE(set && set->str() == "OK");
        auto get = co_await pool.call("GET", "k");
        EXPECT_TRUE(get && get->str() == "again");
        co_await pool.close();
    }());
    EXPECT_EQ(pool.stats().reconnects, 1u);
}

TEST(RedisPool, StartsDownWhenServerAbsentAndComesUp) {
    RedisServer server(/*start_now=*/false);
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        auto r = co_await pool.call("PING");
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().code, RedisErrc::connect_failed) << r.error().message;
        }
        co_return;
    }());
    EXPECT_FALSE(pool.is_up());
    server.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!pool.is_up() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(pool.is_up());
    io.run([&]() -> Task<void> {
        auto r = co_await pool.call("PING");
        EXPECT_TRUE(r && r->str() == "PONG");
        co_await pool.close();
    }());
}

TEST(RedisPool, EvalFallsBackToEvalOnNoscript) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    io.run([&]() -> Task<void> {
        const std::vector<std::string> keys{"ctr"};
        const std::vector<std::string> two{"2"}, three{"3"}, one{"1"};
        auto first = co_await pool.eval(script, keys, two);
        EXPECT_TRUE(first && first->integer() == 2);
        auto second = co_await pool.eval(script, keys, three);
        EXPECT_TRUE(second && second->integer() == 5);
        auto flush = co_await pool.call("SCRIPT", "FLUSH");
        EXPECT_TRUE(flush && flush->str() == "OK");
        auto third = co_await pool.eval(script, keys, one);
        EXPECT_TRUE(third && third->integer() == 6) << third->to_debug_string();
        auto exists = co_await pool.call("SCRIPT", "EXISTS", script.sha1());
        EXPECT_TRUE(exists && exists->elements().size() == 1 &&
                    exists->elements()[0].integer() == 1);
        co_await pool.close();
    }());
}

TEST(RedisPool, ClosedPoolFailsCalls) {
    RedisServer server;
    IoThreads io;
    Pool pool(io.executor(), fast_settings(server));
    io.run([&]() -> Task<void> {
        EXPECT_TRUE(co_await pool.call("PING"));
        co_await pool.close();
        auto r = co_await pool.call("PING");
        EXPECT_FALSE(r);
        if (!r) {
            EXPECT_EQ(r.error().code, RedisErrc::closed);
        }
    }());
    EXPECT_EQ(pool.stats().open_connections, 0u);
}

}  // namespace
}  // namespace confidant::redis
