#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/task.hpp"

namespace confidant {

/// A small pool of threads for work that blocks (SQLite, argon2id, espeak-ng), so that I/O
/// threads never do. `run()` hops to the pool, runs `f`, and resumes the awaiting coroutine on
/// its own executor; exceptions from `f` propagate to the awaiter. Thread-safe.
class BlockingPool {
  public:
    BlockingPool(std::size_t threads, std::string name)
        : pool_(threads == 0 ? 1 : threads),
          name_(std::move(name)),
          size_(threads == 0 ? 1 : threads) {}
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;
    ~BlockingPool() { stop(); }

    template <class F>
    Task<std::invoke_result_t<F&>> run(F f) {
        using R = std::invoke_result_t<F&>;
        // A plain post there and back: no coroutine is spawned on the pool. The awaiting
        // coroutine's executor is held with outstanding work until the answer is posted back.
        if constexpr (std::is_void_v<R>) {
            auto with_value = [fn = std::move(f)]() mutable {
                fn();
                return std::monostate{};
            };
            co_await run(std::move(with_value));
        } else {
            const auto executor = co_await boost::asio::this_coro::executor;
            auto home =
                boost::asio::prefer(executor, boost::asio::execution::outstanding_work.tracked);
            auto initiate = [this, &f, &home](auto handler) {
                boost::asio::post(pool_, [f = std::move(f), home = std::move(home),
                                          handler = std::move(handler)]() mutable {
                    std::exception_ptr error;
                    std::optional<R> result;
                    try {
                        result.emplace(f());
                    } catch (...) {
                        error = std::current_exception();
                    }
                    boost::asio::post(home, [handler = std::move(handler), error,
                                             result = std::move(result)]() mutable {
                        std::move(handler)(error, std::move(result));
                    });
                });
            };
            std::optional<R> result =
                co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                     void(std::exception_ptr, std::optional<R>)>(
                    initiate, boost::asio::use_awaitable);
            co_return std::move(*result);
        }
    }

    /// Queues `f` on the pool and returns at once; `f` must not throw.
    template <class F>
    void post(F f) {
        boost::asio::post(pool_, std::move(f));
    }

    /// Waits for queued work to finish and joins the threads. Idempotent.
    void stop() {
        pool_.stop();
        pool_.join();
    }

    const std::string& name() const noexcept { return name_; }
    std::size_t size() const noexcept { return size_; }

  private:
    boost::asio::thread_pool pool_;
    std::string name_;
    std::size_t size_;
};

}  // namespace confidant
