// The PostgreSQL driver's cost per round trip on loopback, against a throw-away cluster started
// here (tests/support/pg_server.hpp): one statement per call, ten statements pipelined in one
// call against the same ten as separate calls, and 64 callers sharing a pool of 8. The loops
// run inside a coroutine on the I/O thread, so the times are wall-clock (UseRealTime).
#include <benchmark/benchmark.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "storage/postgres/pool.hpp"
#include "support/io_threads.hpp"
#include "support/pg_server.hpp"

namespace {

namespace asio = boost::asio;
using namespace confidant;
using namespace confidant::storage::pg;
using namespace std::chrono_literals;

struct World {
    test::PgServer server;
    test::IoThreads io{1};
    std::unique_ptr<Pool> pool;

    World() {
        PoolSettings s;
        s.conninfo = server.url();
        s.size = 8;
        s.max_overflow = 0;
        pool = std::make_unique<Pool>(io.executor(), s);
        if (!io.run(pool->prefill())) {
            throw std::runtime_error("prefill failed");
        }
    }
};

World& world() {
    static World w;
    return w;
}

Task<void> select_one(benchmark::State& state, Pool& pool) {
    const Statement st{"bench_one", "SELECT $1::int8", Params(std::int64_t{1})};
    for (auto _ : state) {
        auto r = co_await pool.run_one(st);
        if (!r || !r->ok()) {
            state.SkipWithError("call failed");
            break;
        }
    }
}

Task<void> ten(benchmark::State& state, Pool& pool, bool pipelined) {
    std::vector<Statement> batch;
    for (int i = 0; i < 10; ++i) {
        batch.push_back(Statement{"bench_ten", "SELECT $1::int8 + 1", Params(i)});
    }
    for (auto _ : state) {
        if (pipelined) {
            auto r = co_await pool.run(batch);
            if (!r) {
                state.SkipWithError("call failed");
                break;
            }
        } else {
            auto lease = co_await pool.acquire();
            if (!lease) {
                state.SkipWithError("acquire failed");
                break;
            }
            for (const auto& st : batch) {
                auto r = co_await lease->run_one(st);
                if (!r) {
                    state.SkipWithError("call failed");
                    break;
                }
            }
        }
    }
    state.SetItemsProcessed(state.iterations() * 10);
}

Task<void> caller(Pool& pool, std::atomic<std::int64_t>& left) {
    const Statement st{"bench_one", "SELECT $1::int8", Params(std::int64_t{1})};
    while (left.fetch_sub(1) > 0) {
        co_await pool.run_one(st);
    }
}

Task<void> concurrent(benchmark::State& state, Pool& pool) {
    constexpr int kCallers = 64;
    constexpr int kCalls = 6400;
    auto ex = co_await asio::this_coro::executor;
    for (auto _ : state) {
        std::atomic<std::int64_t> left{kCalls};
        std::atomic<int> running{kCallers};
        asio::steady_timer done(ex, asio::steady_timer::time_point::max());
        for (int i = 0; i < kCallers; ++i) {
            asio::co_spawn(ex, caller(pool, left), [&](std::exception_ptr) {
                if (--running == 0) {
                    done.cancel();
                }
            });
        }
        co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    state.SetItemsProcessed(state.iterations() * kCalls);
}

void PgSelectOne(benchmark::State& state) {
    auto& w = world();
    w.io.run(select_one(state, *w.pool));
}
BENCHMARK(PgSelectOne)->UseRealTime();

void PgTenPipelined(benchmark::State& state) {
    auto& w = world();
    w.io.run(ten(state, *w.pool, true));
}
BENCHMARK(PgTenPipelined)->UseRealTime();

void PgTenSequential(benchmark::State& state) {
    auto& w = world();
    w.io.run(ten(state, *w.pool, false));
}
BENCHMARK(PgTenSequential)->UseRealTime();

void PgConcurrent64(benchmark::State& state) {
    auto& w = world();
    w.io.run(concurrent(state, *w.pool));
}
BENCHMARK(PgConcurrent64)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
