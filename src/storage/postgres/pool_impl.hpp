#pragma once

// Internal to confidant_pg: the pool's state and its parts (pool_impl.cpp hands connections
// out and back; pool_upkeep.cpp grows, shrinks and reconnects).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/postgres/conninfo.hpp"
#include "storage/postgres/pool.hpp"

namespace confidant::storage::pg {

namespace pool_detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using ConnPtr = std::shared_ptr<Connection>;
using ConnResult = PgResult<ConnPtr>;

/// A suspended acquire() waiting for a connection, type-erased (Boost 1.81 has no
/// any_completion_handler). Completion is posted to the waiter's own executor, whose work
/// is tracked meanwhile.
struct WaitHandler {
    virtual ~WaitHandler() = default;
    virtual void complete(ConnResult r) = 0;
};

template <class Handler>
struct WaitHandlerImpl final : WaitHandler {
    explicit WaitHandlerImpl(Handler h)
        : handler(std::move(h)),
          work(asio::prefer(asio::get_associated_executor(handler),
                            asio::execution::outstanding_work.tracked)) {}
    void complete(ConnResult r) override {
        auto ex = work;
        asio::post(ex, [h = std::move(handler), r = std::move(r)]() mutable {
            std::move(h)(std::move(r));
        });
    }
    Handler handler;
    asio::any_io_executor work;
};

struct Waiter {
    Waiter(const asio::strand<asio::any_io_executor>& s, Clock::time_point d)
        : timer(s), deadline(d) {}
    asio::steady_timer timer;  // pool strand only
    Clock::time_point deadline;
    // Guarded by Impl::mu_.
    bool queued = true;
    std::optional<ConnResult> result;
    std::unique_ptr<WaitHandler> handler;
};

/// A completion to run once the pool's mutex is released.
struct Delivery {
    std::unique_ptr<WaitHandler> handler;
    std::optional<ConnResult> result;
    void operator()() {
        if (handler) {
            handler->complete(std::move(*result));
        }
    }
};

}  // namespace pool_detail

struct Pool::Impl : std::enable_shared_from_this<Impl> {
    using Clock = pool_detail::Clock;
    using ConnPtr = pool_detail::ConnPtr;
    using ConnResult = pool_detail::ConnResult;
    using Delivery = pool_detail::Delivery;
    using Waiter = pool_detail::Waiter;
    enum class Drop { broken, recycled };

    /// Throws std::invalid_argument when the connection string is malformed.
    Impl(boost::asio::any_io_executor ex, PoolSettings s);

    std::size_t max_open() const { return settings_.size + settings_.max_overflow; }
    bool expired(const Connection& c, Clock::time_point now) const {
        return settings_.recycle.count() > 0 && now - c.created_at() >= settings_.recycle;
    }

    // Handing connections out and back (pool_impl.cpp). "Under mu_" = the caller holds it.
    Task<PgResult<Lease>> acquire(std::shared_ptr<Impl> self);
    /// Under mu_: the most recently used idle connection on `ctx`, else the most recent;
    /// those past `recycle` are moved to `to_close`.
    ConnPtr take_idle(const void* ctx, std::vector<ConnPtr>& to_close);
    /// Under mu_: `c` (counted in in_use_) goes to the first waiter, or back to idle_.
    Delivery hand_over(ConnPtr c);
    /// Under mu_: resolves `w` with `r`.
    Delivery deliver(const std::shared_ptr<Waiter>& w, ConnResult r);
    Task<ConnResult> wait_for(std::shared_ptr<Waiter> w);
    void expire(const std::shared_ptr<Waiter>& w);
    ConnResult adopt_new(const std::shared_ptr<Impl>& self, ConnResult r);
    void drop(const std::shared_ptr<Impl>& self, ConnPtr c, Drop why);
    void release(const std::shared_ptr<Impl>& self, ConnPtr c);
    void give_back(ConnPtr c);
    Task<void> roll_back(std::shared_ptr<Impl> self, ConnPtr c);
    void shutdown();
    PoolStats stats() const;
    static void close_all(std::vector<ConnPtr>& conns);

    // Growing, shrinking, recovering (pool_upkeep.cpp).
    void replenish(const std::shared_ptr<Impl>& self, std::size_t n);
    Task<void> open_in_background(std::shared_ptr<Impl> self);
    void mark_down(const std::shared_ptr<Impl>& self, const PgError& why);
    Task<void> reconnect_loop(std::shared_ptr<Impl> self);
    /// Under mu_.
    void maybe_start_reaper();
    Task<void> reap_loop(std::shared_ptr<Impl> self);
    Task<PgResult<void>> prefill(std::shared_ptr<Impl> self);

    struct Idle {
        ConnPtr conn;
        Clock::time_point since;
    };

    boost::asio::any_io_executor ex_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;
    PoolSettings settings_;
    ConnInfo info_;
    std::string describe_;
    boost::asio::steady_timer reconnect_timer_;  // strand_ only
    boost::asio::steady_timer reaper_timer_;     // strand_ only

    mutable std::mutex mu_;
    std::vector<Idle> idle_;  // back = most recently handed back
    std::deque<std::shared_ptr<Waiter>> waiters_;
    std::size_t open_ = 0;
    std::size_t in_use_ = 0;
    std::size_t connecting_ = 0;
    bool up_ = true;
    bool reconnecting_ = false;
    bool reaping_ = false;
    bool closed_ = false;
    std::uint64_t created_ = 0;
    std::uint64_t recycled_ = 0;
    std::uint64_t idle_closed_ = 0;
    std::uint64_t broken_ = 0;
    std::uint64_t connect_errors_ = 0;
    std::uint64_t acquire_timeouts_ = 0;
    std::uint64_t unavailable_ = 0;
    std::atomic<std::uint64_t> acquires_{0};
    std::atomic<bool> up_flag_{true};
};

}  // namespace confidant::storage::pg
