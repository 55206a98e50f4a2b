#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

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
        co_return co_await boost::asio::co_spawn(
            pool_.get_executor(), [fn = std::move(f)]() mutable -> Task<R> { co_return fn(); },
            boost::asio::use_awaitable);
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
