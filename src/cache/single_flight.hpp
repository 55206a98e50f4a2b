#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/task.hpp"

namespace confidant::cache {

/// Collapses concurrent loads of the same key into one.
///
/// The first caller of run(key, ...) for a key not in flight becomes the leader and runs its
/// loader on its own executor; every caller that arrives for that key before the leader finishes
/// waits and then receives a copy of the leader's result, or the leader's exception rethrown.
/// Exactly one loader runs per flight; its key is free again as soon as it completes (results
/// are not cached here: that is the Cache's job).
///
/// Thread-safe: callers may run on different threads, io_contexts or strands; each waiter is
/// resumed on its own executor (through a per-waiter concurrent_channel bound to it).
/// If the leader is cancelled, its cancellation error is what the waiters get. If the leader's
/// coroutine frame is destroyed before finishing (its io_context torn down), waiters get a
/// std::runtime_error. A waiter cannot be cancelled individually; it waits for the leader, so
/// loaders should carry their own timeouts.
template <class T>
class SingleFlight {
  public:
    SingleFlight() = default;
    SingleFlight(const SingleFlight&) = delete;
    SingleFlight& operator=(const SingleFlight&) = delete;

    /// Runs `loader` unless a load of `key` is already in flight, in which case joins it.
    Task<T> run(std::string key, std::function<Task<T>()> loader) {
        auto executor = co_await boost::asio::this_coro::executor;
        std::shared_ptr<Channel> channel;
        std::shared_ptr<Call> call;
        {
            std::lock_guard lock(mu_);
            auto it = calls_.find(key);
            if (it != calls_.end()) {
                // Capacity 1: the leader's send never blocks, whether or not we wait yet.
                channel = std::make_shared<Channel>(executor, 1);
                it->second->waiters.push_back(channel);
            } else {
                call = std::make_shared<Call>();
                calls_.emplace(key, call);
            }
        }
        if (channel) {
            auto [ec, outcome] =
                co_await channel->async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) {
                throw boost::system::system_error(ec, "single-flight wait");
            }
            if (outcome->error) {
                std::rethrow_exception(outcome->error);
            }
            co_return *outcome->value;
        }

        Leader leader{this, std::move(key), std::move(call)};
        auto outcome = std::make_shared<Outcome>();
        try {
            outcome->value.emplace(co_await loader());
        } catch (...) {
            outcome->error = std::current_exception();
        }
        leader.finish(outcome);
        if (outcome->error) {
            std::rethrow_exception(outcome->error);
        }
        // Waiters may be copying from *outcome on other threads right now: copy, don't move.
        co_return *outcome->value;
    }

    /// Keys with a load in flight.
    std::size_t in_flight() const {
        std::lock_guard lock(mu_);
        return calls_.size();
    }

    /// Callers waiting on the in-flight load of `key` (the leader not counted); for tests.
    std::size_t waiters(const std::string& key) const {
        std::lock_guard lock(mu_);
        auto it = calls_.find(key);
        return it == calls_.end() ? 0 : it->second->waiters.size();
    }

  private:
    struct Outcome {
        std::optional<T> value;
        std::exception_ptr error;
    };
    using Channel = boost::asio::experimental::concurrent_channel<void(
        boost::system::error_code, std::shared_ptr<const Outcome>)>;
    struct Call {
        std::vector<std::shared_ptr<Channel>> waiters;
    };

    // Publishes the outcome exactly once, even if the leader's frame is destroyed mid-load.
    class Leader {
      public:
        Leader(SingleFlight* owner, std::string key, std::shared_ptr<Call> call)
            : owner_(owner), key_(std::move(key)), call_(std::move(call)) {}
        Leader(const Leader&) = delete;
        Leader& operator=(const Leader&) = delete;
        ~Leader() {
            if (call_) {
                auto outcome = std::make_shared<Outcome>();
                outcome->error = std::make_exception_ptr(
                    std::runtime_error("single-flight leader abandoned: " + key_));
                finish(std::move(outcome));
            }
        }

        void finish(std::shared_ptr<const Outcome> outcome) {
            std::vector<std::shared_ptr<Channel>> waiters;
            {
                std::lock_guard lock(owner_->mu_);
                auto it = owner_->calls_.find(key_);
                if (it != owner_->calls_.end() && it->second == call_) {
                    owner_->calls_.erase(it);
                }
                waiters.swap(call_->waiters);
            }
            call_.reset();
            for (auto& w : waiters) {
                w->try_send(boost::system::error_code{}, outcome);
            }
        }

      private:
        SingleFlight* owner_;
        std::string key_;
        std::shared_ptr<Call> call_;
    };

    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace confidant::cache
