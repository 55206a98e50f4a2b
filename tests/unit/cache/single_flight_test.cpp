#include "cache/single_flight.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace confidant::cache {
namespace {

using namespace std::chrono_literals;

// Suspends until `flight` has `n` waiters on `key`; throws after a generous deadline so a bug
// fails the test instead of hanging it.
Task<void> wait_for_waiters(SingleFlight<std::string>& flight, const std::string& key,
                            std::size_t n) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (flight.waiters(key) < n) {
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("waiters never arrived");
        }
        timer.expires_after(1ms);
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
}

void run_on_threads(boost::asio::io_context& ioc, int threads) {
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&ioc] { ioc.run(); });
    }
    for (auto& t : pool) {
        t.join();
    }
}

TEST(SingleFlight, FiveHundredCallersOneLoad) {
    constexpr std::size_t kCallers = 500;
    SingleFlight<std::string> flight;
    boost::asio::io_context ioc(2);
    std::atomic<int> loads{0};
    std::atomic<int> errors{0};
    std::vector<std::string> results(kCallers);
    for (std::size_t i = 0; i < kCallers; ++i) {
        boost::asio::co_spawn(
            ioc,
            [&, i]() -> Task<void> {
                results[i] = co_await flight.run("cold", [&]() -> Task<std::string> {
                    loads.fetch_add(1);
                    co_await wait_for_waiters(flight, "cold", kCallers - 1);
                    co_return std::string("loaded value");
                });
            },
            [&](std::exception_ptr e) {
                if (e) {
                    errors.fetch_add(1);
                }
            });
    }
    run_on_threads(ioc, 2);
    EXPECT_EQ(loads.load(), 1);
    EXPECT_EQ(errors.load(), 0);
    for (const auto& r : results) {
        ASSERT_EQ(r, "loaded value");
    }
    EXPECT_EQ(flight.in_flight(), 0u);
}

TEST(SingleFlight, ExceptionIsShared) {
    constexpr std::size_t kCallers = 50;
    SingleFlight<std::string> flight;
    boost::asio::io_context ioc(2);
    std::atomic<int> loads{0};
    std::atomic<int> caught{0};
    for (std::size_t i = 0; i < kCallers; ++i) {
        boost::asio::co_spawn(
            ioc,
            [&]() -> Task<void> {
                try {
                    co_await flight.run("k", [&]() -> Task<std::string> {
                        loads.fetch_add(1);
                        co_await wait_for_waiters(flight, "k", kCallers - 1);
                        throw std::invalid_argument("backend said no");
                        co_return std::string();
                    });
                } catch (const std::invalid_argument& e) {
                    if (std::string(e.what()) == "backend said no") {
                        caught.fetch_add(1);
                    }
                }
            },
            [](std::exception_ptr e) { ASSERT_FALSE(e); });
    }
    run_on_threads(ioc, 2);
    EXPECT_EQ(loads.load(), 1);
    EXPECT_EQ(caught.load(), static_cast<int>(kCallers));
}

TEST(SingleFlight, KeyIsFreeAgainAfterCompletionAndKeysAreIndependent) {
    SingleFlight<int> flight;
    boost::asio::io_context ioc;
    int loads = 0;
    boost::asio::co_spawn(
        ioc,
        [&]() -> Task<void> {
            auto loader = [&]() -> Task<int> { co_return ++loads; };
            EXPECT_EQ(co_await flight.run("a", loader), 1);
            EXPECT_EQ(co_await flight.run("a", loader), 2);
            EXPECT_EQ(co_await flight.run("b", loader), 3);
        },
        [](std::exception_ptr e) { ASSERT_FALSE(e); });
    ioc.run();
    EXPECT_EQ(loads, 3);
}

TEST(SingleFlight, WaitersResumeOnTheirOwnExecutor) {
    SingleFlight<std::string> flight;
    boost::asio::io_context leader_ctx;
    boost::asio::io_context waiter_ctx;
    auto waiter_strand = boost::asio::make_strand(waiter_ctx);
    std::thread::id leader_thread;
    std::thread::id waiter_thread;
    std::thread::id resumed_on;
    bool resumed_in_strand = false;
    std::string waiter_result;

    boost::asio::co_spawn(
        leader_ctx,
        [&]() -> Task<void> {
            co_await flight.run("k", [&]() -> Task<std::string> {
                co_await wait_for_waiters(flight, "k", 1);
                co_return std::string("v");
            });
        },
        [](std::exception_ptr e) { ASSERT_FALSE(e); });
    boost::asio::co_spawn(
        waiter_strand,
        [&]() -> Task<void> {
            // Join only once the leader is in flight.
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
            while (flight.in_flight() == 0) {
                timer.expires_after(1ms);
                co_await timer.async_wait(boost::asio::use_awaitable);
            }
            waiter_result = co_await flight.run("k", []() -> Task<std::string> {
                throw std::logic_error("a waiter's loader must not run");
                co_return std::string();
            });
            resumed_on = std::this_thread::get_id();
            resumed_in_strand = waiter_strand.running_in_this_thread();
        },
        [](std::exception_ptr e) { ASSERT_FALSE(e); });

    std::thread a([&] {
        leader_thread = std::this_thread::get_id();
        leader_ctx.run();
    });
    std::thread b([&] {
        waiter_thread = std::this_thread::get_id();
        waiter_ctx.run();
    });
    a.join();
    b.join();
    EXPECT_EQ(waiter_result, "v");
    EXPECT_EQ(resumed_on, waiter_thread);
    EXPECT_NE(resumed_on, leader_thread);
    EXPECT_TRUE(resumed_in_strand);
}

}  // namespace
}  // namespace confidant::cache
