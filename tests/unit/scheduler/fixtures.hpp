#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/task.hpp"
#include "scheduler/job.hpp"
#include "time_util.hpp"

namespace confidant::scheduler::test {

/// A manual clock that several threads may read while the test moves it. Steady time moves
/// with system time (set() only goes forward).
class TestClock final : public Clock {
  public:
    explicit TestClock(TimePoint start) : system_(start) {}

    std::chrono::steady_clock::time_point steady_now() const override {
        std::lock_guard lock(mutex_);
        return steady_;
    }
    std::chrono::system_clock::time_point system_now() const override {
        std::lock_guard lock(mutex_);
        return system_;
    }
    void advance(std::chrono::nanoseconds d) {
        std::lock_guard lock(mutex_);
        system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
        steady_ += d;
    }
    void set(TimePoint t) {
        std::lock_guard lock(mutex_);
        if (t < system_) {
            throw std::logic_error("TestClock::set: time only goes forward");
        }
        steady_ += t - system_;
        system_ = t;
    }

  private:
    mutable std::mutex mutex_;
    TimePoint system_;
    std::chrono::steady_clock::time_point steady_{std::chrono::hours(1000)};
};

/// Holds a handler until open(). Waiting polls a flag every 2 ms of real time through an Asio
/// timer, so a cancelled run (timeout, shutdown) ends at once with operation_aborted.
class Gate {
  public:
    void open() { open_ = true; }
    int waiting() const { return waiting_; }
    int cancelled() const { return cancelled_; }

    Task<void> wait() {
        ++waiting_;
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        while (!open_) {
            timer.expires_after(std::chrono::milliseconds(2));
            try {
                co_await timer.async_wait(boost::asio::use_awaitable);
            } catch (const boost::system::system_error&) {
                ++cancelled_;
                --waiting_;
                throw;
            }
        }
        --waiting_;
    }

  private:
    std::atomic<bool> open_{false};
    std::atomic<int> waiting_{0};
    std::atomic<int> cancelled_{0};
};

/// Every run a handler saw, from any thread.
class Calls {
  public:
    void add(const JobContext& ctx) {
        std::lock_guard lock(mutex_);
        runs_.push_back(ctx);
    }
    std::vector<JobContext> all() const {
        std::lock_guard lock(mutex_);
        return runs_;
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return runs_.size();
    }
    /// How many runs each scheduled time had.
    std::map<TimePoint, int> per_tick() const {
        std::lock_guard lock(mutex_);
        std::map<TimePoint, int> m;
        for (const auto& r : runs_) {
            ++m[r.scheduled_time];
        }
        return m;
    }
    std::vector<std::string> ticks() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> v;
        for (const auto& r : runs_) {
            v.push_back(str(r.scheduled_time));
        }
        return v;
    }

  private:
    mutable std::mutex mutex_;
    std::vector<JobContext> runs_;
};

/// A handler that records its run and returns.
inline std::function<Task<void>(JobContext&)> recording(Calls& calls) {
    return [&calls](JobContext& ctx) -> Task<void> {
        calls.add(ctx);
        co_return;
    };
}

/// A handler that records its run and then waits for the gate.
inline std::function<Task<void>(JobContext&)> gated(Calls& calls, Gate& gate) {
    return [&calls, &gate](JobContext& ctx) -> Task<void> {
        calls.add(ctx);
        co_await gate.wait();
    };
}

}  // namespace confidant::scheduler::test
