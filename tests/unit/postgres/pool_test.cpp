#include "storage/postgres/pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pg_fixture.hpp"

namespace confidant::storage::pg {
namespace {

namespace asio = boost::asio;
using namespace testing;
using test::IoThreads;

Task<Lease> acquire_ok(Pool& pool) {
    auto l = co_await pool.acquire();
    if (!l) {
        throw std::runtime_error("acquire failed: " + l.error().message);
    }
    co_return std::move(*l);
}

Task<std::int64_t> select_int(Pool& pool, std::string_view sql, Params params = {}) {
    const Statement st{"", sql, std::move(params)};
    auto r = co_await pool.run_one(st);
    if (!r) {
        throw std::runtime_error("pool call failed: " + r.error().message);
    }
    if (!r->ok()) {
        throw std::runtime_error("statement failed: " + r->describe_error());
    }
    co_return r->get<std::int64_t>(0, 0);
}

Task<int> backend_pid(Lease& lease) {
    // Named: GCC 12 destroys a temporary bound to a reference twice inside co_await.
    const Statement st{"", "SELECT pg_backend_pid()"};
    auto r = co_await lease.run_one(st);
    co_return r && r->ok() ? r->get<int>(0, 0) : -1;
}

Task<int> acquire_and_pid(Pool& pool) {
    auto l = co_await acquire_ok(pool);
    co_return co_await backend_pid(l);
}

/// Polls `cond` every 10 ms for up to `limit`; true once it holds.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return cond();
}

TEST(PgPool, ReusesOneConnectionForSequentialCalls) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(4));
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(io.run(select_int(pool, "SELECT $1::int8", Params(i))), i);
    }
    const auto s = pool.stats();
    EXPECT_EQ(s.created, 1u);
    EXPECT_EQ(s.open, 1u);
    EXPECT_EQ(s.idle, 1u);
    EXPECT_EQ(s.in_use, 0u);
    EXPECT_EQ(s.acquires, 10u);
    EXPECT_TRUE(pool.is_up());
}

TEST(PgPool, BadConninfoThrowsNamingTheVariable) {
    IoThreads io;
    auto s = fast_settings();
    s.conninfo = "postgresql://h/db?sslmode=maybe";
    try {
        Pool pool(io.executor(), s);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()).rfind("DATABASE_URL: ", 0), 0u) << e.what();
    }
}

TEST(PgPool, PrefillOpensSizeConnections) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(3));
    auto r = io.run(pool.prefill());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(pool.stats().open, 3u);
    EXPECT_EQ(pool.stats().idle, 3u);
}

TEST(PgPool, AcquireTimesOutWhenExhausted) {
    IoThreads io;
    auto settings = fast_settings(2, 0);
    settings.acquire_timeout = 300ms;
    Pool pool(io.executor(), settings);
    auto a = io.run(acquire_ok(pool));
    auto b = io.run(acquire_ok(pool));
    const auto t0 = std::chrono::steady_clock::now();
    auto c = io.run(pool.acquire());
    const auto took = since(t0);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, PgErrc::pool_timeout);
    EXPECT_EQ(to_error(c.error()).code, ErrorCode::not_ready);
    EXPECT_GE(took, 280ms);
    EXPECT_LT(took, 2000ms);
    EXPECT_EQ(pool.stats().acquire_timeouts, 1u);
    EXPECT_EQ(pool.stats().waiting, 0u);
    a.release();
    auto d = io.run(pool.acquire());
    EXPECT_TRUE(d);
}

TEST(PgPool, WaiterGetsTheConnectionHandedBack) {
    IoThreads io;
    auto settings = fast_settings(1, 0);
    settings.acquire_timeout = 5000ms;
    Pool pool(io.executor(), settings);
    auto held = io.run(acquire_ok(pool));
    const int pid = io.run(backend_pid(held));
    auto fut = asio::co_spawn(io.io(), acquire_and_pid(pool), asio::use_future);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
    const auto t0 = std::chrono::steady_clock::now();
    held.release();
    ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(fut.get(), pid);
    EXPECT_LT(since(t0), 1000ms);
    EXPECT_EQ(pool.stats().created, 1u);
}

TEST(PgPool, OverflowGrowsUnderLoadAndShrinksWhenIdle) {
    IoThreads io;
    auto settings = fast_settings(2, 3);
    settings.acquire_timeout = 200ms;
    settings.overflow_idle = 200ms;
    Pool pool(io.executor(), settings);
    std::vector<Lease> leases;
    for (int i = 0; i < 5; ++i) {
        leases.push_back(io.run(acquire_ok(pool)));
    }
    EXPECT_EQ(pool.stats().open, 5u);
    EXPECT_EQ(pool.stats().in_use, 5u);
    auto sixth = io.run(pool.acquire());
    ASSERT_FALSE(sixth);
    EXPECT_EQ(sixth.error().code, PgErrc::pool_timeout);
    leases.clear();
    EXPECT_EQ(pool.stats().idle, 5u);
    EXPECT_TRUE(eventually([&] { return pool.stats().open == 2; }));
    const auto s = pool.stats();
    EXPECT_EQ(s.open, 2u);
    EXPECT_EQ(s.idle, 2u);
    EXPECT_EQ(s.idle_closed, 3u);
    // The base connections stay.
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(pool.stats().open, 2u);
    EXPECT_EQ(io.run(select_int(pool, "SELECT 5")), 5);
}

TEST(PgPool, RecycleReplacesOldConnections) {
    IoThreads io;
    auto settings = fast_settings(1, 0);
    settings.recycle = 300ms;
    Pool pool(io.executor(), settings);
    int first = 0;
    {
        auto l = io.run(acquire_ok(pool));
        first = io.run(backend_pid(l));
    }
    std::this_thread::sleep_for(400ms);
    auto l = io.run(acquire_ok(pool));
    const int second = io.run(backend_pid(l));
    EXPECT_NE(first, second);
    EXPECT_GE(pool.stats().recycled, 1u);
    EXPECT_EQ(pool.stats().open, 1u);
}

TEST(PgPool, DeadIdleConnectionIsReplacedWithoutAnError) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(1, 0));
    int pid = 0;
    {
        auto l = io.run(acquire_ok(pool));
        pid = io.run(backend_pid(l));
    }
    server().psql("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    ASSERT_TRUE(eventually([&] {
        return server().psql("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                             std::to_string(pid)) == "0";
    }));
    // The next caller gets a live connection, not the dead one.
    EXPECT_EQ(io.run(select_int(pool, "SELECT 7")), 7);
    const auto s = pool.stats();
    EXPECT_EQ(s.broken, 1u);
    EXPECT_EQ(s.created, 2u);
    EXPECT_EQ(s.open, 1u);
}

TEST(PgPool, CallTimeoutDropsTheConnectionAndThePoolServesOn) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(2, 0));
    const Statement sleep{"", "SELECT pg_sleep(5)"};
    const auto t0 = std::chrono::steady_clock::now();
    auto r = io.run(pool.run(std::span<const Statement>(&sleep, 1), 200ms));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, PgErrc::timeout);
    EXPECT_LT(since(t0), 2000ms);
    EXPECT_EQ(io.run(select_int(pool, "SELECT 8")), 8);
    EXPECT_EQ(pool.stats().broken, 1u);
}

TEST(PgPool, ConnectionHandedBackInATransactionIsRolledBack) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(1, 0));
    server().psql("DROP TABLE IF EXISTS pool_tx; CREATE TABLE pool_tx (k text PRIMARY KEY)");
    {
        auto l = io.run(acquire_ok(pool));
        std::vector<Statement> b;
        b.push_back(Statement{"", "BEGIN"});
        b.push_back(Statement{"", "INSERT INTO pool_tx VALUES ('left open')"});
        auto r = io.run(l.run(b));
        ASSERT_TRUE(r);
        EXPECT_EQ(l.connection().transaction_status(), TxStatus::in_transaction);
    }
    auto l = io.run(acquire_ok(pool));
    EXPECT_EQ(l.connection().transaction_status(), TxStatus::idle);
    auto n = io.run(l.run_one(Statement{"", "SELECT count(*) FROM pool_tx"}));
    ASSERT_TRUE(n && n->ok());
    EXPECT_EQ(n->get<std::int64_t>(0, 0), 0);
    EXPECT_EQ(pool.stats().created, 1u);
}

TEST(PgPool, UnreachableServerFailsFastAndReconnectsInTheBackground) {
    IoThreads io;
    auto settings = fast_settings(2, 0);
    settings.conninfo = "host=127.0.0.1 dbname=postgres user=postgres port=" +
                        std::to_string(test::PgServer::free_port());
    Pool pool(io.executor(), settings);
    auto first = io.run(pool.acquire());
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().code, PgErrc::connect_failed);
    EXPECT_FALSE(pool.is_up());
    const auto t0 = std::chrono::steady_clock::now();
    auto second = io.run(pool.acquire());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, PgErrc::unavailable);
    EXPECT_LT(since(t0), 100ms);
    EXPECT_TRUE(eventually([&] { return pool.stats().connect_errors >= 3; }));
    EXPECT_EQ(pool.stats().unavailable, 1u);
}

TEST(PgPool, RecoversWithinTwoSecondsOfAServerRestart) {
    IoThreads io;
    auto settings = fast_settings(4, 0);
    settings.acquire_timeout = 1000ms;
    Pool pool(io.executor(), settings);
    ASSERT_TRUE(io.run(pool.prefill()));

    // A call in flight when the server dies fails with a connection error.
    const Statement sleep{"", "SELECT pg_sleep(10)"};
    auto in_flight = asio::co_spawn(io.io(), pool.run_one(sleep), asio::use_future);
    ASSERT_TRUE(eventually([&] { return pool.stats().in_use == 1; }));
    std::this_thread::sleep_for(50ms);
    server().stop(test::PgServer::Mode::immediate);
    ASSERT_EQ(in_flight.wait_for(3s), std::future_status::ready);
    auto r = in_flight.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, PgErrc::broken) << r.error().message;

    // While it is down, callers get an error at once, not a hang.
    for (int i = 0; i < 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto down = io.run(pool.run_one(Statement{"", "SELECT 1"}));
        ASSERT_FALSE(down);
        EXPECT_TRUE(down.error().code == PgErrc::unavailable ||
                    down.error().code == PgErrc::connect_failed ||
                    down.error().code == PgErrc::broken)
            << to_string(down.error().code) << ": " << down.error().message;
        EXPECT_LT(since(t0), settings.acquire_timeout + 500ms);
    }
    EXPECT_TRUE(eventually([&] { return !pool.is_up(); }));

    server().start();
    const auto back = std::chrono::steady_clock::now();
    bool served = false;
    while (!served && since(back) < 5000ms) {
        auto ok = io.run(pool.run_one(Statement{"", "SELECT 1"}));
        served = ok && ok->ok();
        if (!served) {
            std::this_thread::sleep_for(20ms);
        }
    }
    EXPECT_TRUE(served);
    EXPECT_LT(since(back), 2000ms);
    EXPECT_TRUE(pool.is_up());
    // Every later call succeeds: no dead connection is handed out.
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(io.run(select_int(pool, "SELECT $1::int8", Params(i))), i);
    }
}

TEST(PgPool, ManyCoroutinesOnTwoIoContexts) {
    // Like the server: one io_context per I/O thread, callers on both, one pool.
    asio::io_context ctx_a(1);
    asio::io_context ctx_b(1);
    auto guard_a = asio::make_work_guard(ctx_a);
    auto guard_b = asio::make_work_guard(ctx_b);
    std::thread ta([&] { ctx_a.run(); });
    std::thread tb([&] { ctx_b.run(); });
    server().psql("DROP TABLE IF EXISTS pool_conc; CREATE TABLE pool_conc (n bigint)");
    auto settings = fast_settings(4, 2);
    settings.acquire_timeout = 10000ms;
    {
        Pool pool(ctx_a.get_executor(), settings);
        std::atomic<int> wrong{0};
        std::atomic<int> failed{0};
        constexpr int kPerContext = 100;
        constexpr int kCalls = 10;
        auto worker = [&](int id) -> Task<void> {
            for (int i = 0; i < kCalls; ++i) {
                std::vector<Statement> b;
                b.push_back(Statement{"conc_ins", "INSERT INTO pool_conc VALUES ($1)", Params(id)});
                b.push_back(
                    Statement{"conc_sel", "SELECT $1::int8 * 1000 + $2::int8", Params(id, i)});
                auto r = co_await pool.run(b);
                if (!r || !(*r)[0].ok() || !(*r)[1].ok()) {
                    ++failed;
                } else if ((*r)[1].get<std::int64_t>(0, 0) != id * 1000LL + i) {
                    ++wrong;
                }
            }
        };
        std::vector<std::future<void>> done;
        for (int i = 0; i < 2 * kPerContext; ++i) {
            auto& ctx = i % 2 == 0 ? ctx_a : ctx_b;
            done.push_back(asio::co_spawn(ctx, worker(i), asio::use_future));
        }
        for (auto& f : done) {
            ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
            f.get();
        }
        EXPECT_EQ(wrong.load(), 0);
        EXPECT_EQ(failed.load(), 0);
        const auto s = pool.stats();
        EXPECT_LE(s.created, 6u);
        EXPECT_EQ(s.in_use, 0u);
        EXPECT_EQ(s.broken, 0u);
        EXPECT_EQ(server().psql("SELECT count(*) FROM pool_conc"),
                  std::to_string(2 * kPerContext * kCalls));
        auto closing = asio::co_spawn(ctx_a, pool.close(), asio::use_future);
        closing.get();
    }
    guard_a.reset();
    guard_b.reset();
    ta.join();
    tb.join();
}

TEST(PgPool, CloseFailsWaitersAndLaterCalls) {
    IoThreads io;
    auto settings = fast_settings(1, 0);
    settings.acquire_timeout = 5000ms;
    Pool pool(io.executor(), settings);
    auto held = io.run(acquire_ok(pool));
    auto waiter = asio::co_spawn(io.io(), pool.acquire(), asio::use_future);
    ASSERT_TRUE(eventually([&] { return pool.stats().waiting == 1; }));
    io.run(pool.close());
    ASSERT_EQ(waiter.wait_for(2s), std::future_status::ready);
    auto w = waiter.get();
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, PgErrc::closed);
    auto later = io.run(pool.acquire());
    ASSERT_FALSE(later);
    EXPECT_EQ(later.error().code, PgErrc::closed);
    held.release();
    EXPECT_EQ(pool.stats().open, 0u);
}

TEST(PgPool, RendersPrometheusFigures) {
    IoThreads io;
    Pool pool(io.executor(), fast_settings(3, 2));
    EXPECT_EQ(io.run(select_int(pool, "SELECT 1")), 1);
    std::string out;
    pool.render(out);
    for (const char* line :
         {"db_pool_connections{state=\"in_use\"} 0\n", "db_pool_connections{state=\"idle\"} 1\n",
          "db_pool_size 3\n", "db_pool_max_overflow 2\n", "db_pool_waiting 0\n", "db_pool_up 1\n",
          "db_pool_connections_created_total 1\n", "db_pool_connections_recycled_total 0\n",
          "db_pool_errors_total{kind=\"broken\"} 0\n", "db_pool_acquire_timeouts_total 0\n",
          "# TYPE db_pool_acquires_total counter\n"}) {
        EXPECT_NE(out.find(line), std::string::npos) << line << " missing from:\n" << out;
    }
}

}  // namespace
}  // namespace confidant::storage::pg
