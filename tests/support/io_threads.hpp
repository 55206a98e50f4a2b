#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

namespace confidant::test {

/// An io_context run by `threads` threads for the life of the object (like the server's), and
/// a blocking `run()` that drives one coroutine to completion from the test thread.
class IoThreads {
  public:
    explicit IoThreads(int threads = 2) : guard_(io_.get_executor()) {
        for (int i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { io_.run(); });
        }
    }
    ~IoThreads() {
        guard_.reset();
        io_.stop();
        for (auto& t : threads_) {
            t.join();
        }
    }
    boost::asio::io_context& io() noexcept { return io_; }
    boost::asio::any_io_executor executor() { return io_.get_executor(); }

    /// Runs `task` on the io_context and waits (up to 60 s) for its result; rethrows.
    template <class T>
    T run(boost::asio::awaitable<T> task) {
        auto fut = boost::asio::co_spawn(io_, std::move(task), boost::asio::use_future);
        if (fut.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
            throw std::runtime_error("IoThreads::run: task did not finish within 60 s");
        }
        return fut.get();
    }

  private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
};

}  // namespace confidant::test
