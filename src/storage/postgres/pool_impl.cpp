// Handing connections out (acquire: idle, new, or wait) and back (release: reuse, roll back,
// recycle or drop), waiters and their timeouts, shutdown and figures.
#include "storage/postgres/pool_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <stdexcept>

#include "core/log_exception.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using pool_detail::Clock;
using pool_detail::ConnPtr;
using pool_detail::ConnResult;
using pool_detail::Delivery;
using pool_detail::Waiter;
using pool_detail::WaitHandlerImpl;

namespace {

ConnInfo parse_or_throw(const std::string& text) {
    auto r = parse_conninfo(text);
    if (!r) {
        throw std::invalid_argument(r.error());
    }
    return std::move(*r);
}

}  // namespace

Pool::Impl::Impl(asio::any_io_executor ex, PoolSettings s)
    : ex_(ex),
      strand_(asio::make_strand(ex)),
      settings_(std::move(s)),
      info_(parse_or_throw(settings_.conninfo)),
      describe_(info_.describe()),
      reconnect_timer_(strand_),
      reaper_timer_(strand_) {
    if (settings_.size == 0) {
        settings_.size = 1;
    }
}

// Under mu_. Most recently used idle connection on `ctx`, else the most recent. Old ones
// (recycle) are taken out into `to_close`.
ConnPtr Pool::Impl::take_idle(const void* ctx, std::vector<ConnPtr>& to_close) {
    const auto now = Clock::now();
    while (!idle_.empty()) {
        auto pick = idle_.end() - 1;
        for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
            if (it->conn->context() == ctx) {
                pick = std::prev(it.base());
                break;
            }
        }
        ConnPtr c = std::move(pick->conn);
        idle_.erase(pick);
        if (expired(*c, now)) {
            --open_;
            ++recycled_;
            to_close.push_back(std::move(c));
            continue;
        }
        return c;
    }
    return nullptr;
}

// Under mu_. `c` (counted in in_use_) goes to the first waiter, or back to idle_.
Delivery Pool::Impl::hand_over(ConnPtr c) {
    while (!waiters_.empty()) {
        auto w = std::move(waiters_.front());
        waiters_.pop_front();
        if (!w->queued) {
            continue;
        }
        return deliver(w, ConnResult(std::move(c)));
    }
    --in_use_;
    idle_.push_back(Idle{std::move(c), Clock::now()});
    maybe_start_reaper();
    return {};
}

// Under mu_. Resolves `w` with `r`; its timer is cancelled on the strand.
Delivery Pool::Impl::deliver(const std::shared_ptr<Waiter>& w, ConnResult r) {
    w->queued = false;
    asio::post(strand_, [w] { w->timer.cancel(); });
    Delivery d;
    if (w->handler) {
        d.handler = std::move(w->handler);
        d.result.emplace(std::move(r));
    } else {
        w->result.emplace(std::move(r));
    }
    return d;
}

Task<ConnResult> Pool::Impl::wait_for(std::shared_ptr<Waiter> w) {
    auto initiate = [this, &w](auto handler) {
        std::unique_lock<std::mutex> lock(mu_);
        auto h = std::make_unique<WaitHandlerImpl<decltype(handler)>>(std::move(handler));
        if (w->result) {
            auto r = std::move(*w->result);
            w->result.reset();
            lock.unlock();
            h->complete(std::move(r));
            return;
        }
        w->handler = std::move(h);
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(ConnResult)>(
        initiate, asio::use_awaitable);
}

void Pool::Impl::expire(const std::shared_ptr<Waiter>& w) {
    Delivery d;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!w->queued) {
            return;
        }
        std::erase(waiters_, w);
        ++acquire_timeouts_;
        d = deliver(w, PgError{PgErrc::pool_timeout,
                               "no database connection free within " +
                                   std::to_string(settings_.acquire_timeout.count()) + " ms (" +
                                   std::to_string(max_open()) + " in use)"});
    }
    d();
}

Task<PgResult<Lease>> Pool::Impl::acquire(std::shared_ptr<Impl> self) {
    const auto ex = co_await asio::this_coro::executor;
    const void* ctx = &asio::query(ex, asio::execution::context);
    const auto deadline = Clock::now() + settings_.acquire_timeout;
    acquires_.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
        std::vector<ConnPtr> to_close;
        ConnPtr c;
        std::shared_ptr<Waiter> w;
        bool open_new = false;
        std::optional<PgError> err;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) {
                err = PgError{PgErrc::closed, "pool closed"};
            } else if ((c = take_idle(ctx, to_close))) {
                ++in_use_;
            } else if (!up_) {
                ++unavailable_;
                err = PgError{PgErrc::unavailable,
                              describe_ + " is unreachable; reconnecting in the background"};
            } else if (open_ < max_open()) {
                ++open_;
                ++connecting_;
                open_new = true;
            } else {
                w = std::make_shared<Waiter>(strand_, deadline);
                waiters_.push_back(w);
                asio::post(strand_, [self, w] {
                    w->timer.expires_at(w->deadline);
                    w->timer.async_wait([self, w](boost::system::error_code ec) {
                        if (!ec) {
                            self->expire(w);
                        }
                    });
                });
            }
        }
        close_all(to_close);
        if (!to_close.empty()) {
            replenish(self, to_close.size());
        }
        if (err) {
            co_return *err;
        }
        if (open_new) {
            // Bounded by connect_timeout alone: acquire_timeout is about waiting for a
            // free connection, and a connect cut short by it would look like an outage.
            auto r = co_await Connection::open(ex, info_, settings_.connect_timeout);
            auto added = adopt_new(self, std::move(r));
            if (!added) {
                co_return added.error();
            }
            co_return Lease(self, std::move(*added));
        }
        if (w) {
            auto r = co_await wait_for(w);
            if (!r) {
                co_return r.error();
            }
            c = std::move(*r);
        }
        if (!c->check_idle()) {
            spdlog::info("postgres pool: dropped a dead idle connection ({})", c->last_error());
            drop(self, std::move(c), Drop::broken);
            continue;
        }
        co_return Lease(self, std::move(c));
    }
}

// A connection opened for a caller (counted in open_ and connecting_): counts it in use,
// or accounts for the failure.
ConnResult Pool::Impl::adopt_new(const std::shared_ptr<Impl>& self, ConnResult r) {
    std::unique_lock<std::mutex> lock(mu_);
    --connecting_;
    if (!r) {
        --open_;
        ++connect_errors_;
        lock.unlock();
        if (r.error().code == PgErrc::connect_failed || r.error().code == PgErrc::timeout) {
            mark_down(self, r.error());
        }
        return r;
    }
    if (closed_) {
        --open_;
        lock.unlock();
        (*r)->close();
        return PgError{PgErrc::closed, "pool closed"};
    }
    ++created_;
    ++in_use_;
    return r;
}

// `c` (counted in in_use_) leaves the pool for good.
void Pool::Impl::drop(const std::shared_ptr<Impl>& self, ConnPtr c, Drop why) {
    c->close();
    {
        std::lock_guard<std::mutex> lock(mu_);
        --in_use_;
        --open_;
        if (why == Drop::broken) {
            ++broken_;
        } else {
            ++recycled_;
        }
    }
    replenish(self, 1);
}

void Pool::Impl::release(const std::shared_ptr<Impl>& self, ConnPtr c) {
    if (c->broken()) {
        drop(self, std::move(c), Drop::broken);
        return;
    }
    if (c->transaction_status() != TxStatus::idle) {
        auto ex = c->executor();
        asio::co_spawn(ex, roll_back(self, std::move(c)), [](std::exception_ptr e) {
            log_if_exception("postgres pool: rollback of a returned connection", e);
        });
        return;
    }
    if (expired(*c, Clock::now())) {
        drop(self, std::move(c), Drop::recycled);
        return;
    }
    give_back(std::move(c));
}

void Pool::Impl::give_back(ConnPtr c) {
    Delivery d;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) {
            --in_use_;
            --open_;
            c->close();
            return;
        }
        d = hand_over(std::move(c));
    }
    d();
}

Task<void> Pool::Impl::roll_back(std::shared_ptr<Impl> self, ConnPtr c) {
    // A lease ended inside a transaction (an error path, or a caller that forgot COMMIT):
    // the next holder must start clean.
    const Statement rollback{"", "ROLLBACK", {}};
    auto r = co_await c->run_one(
        rollback, std::min(settings_.statement_timeout, std::chrono::milliseconds(5000)));
    if (r && r->ok() && c->transaction_status() == TxStatus::idle) {
        if (expired(*c, Clock::now())) {
            drop(self, std::move(c), Drop::recycled);
        } else {
            give_back(std::move(c));
        }
        co_return;
    }
    drop(self, std::move(c), Drop::broken);
}

void Pool::Impl::shutdown() {
    std::vector<ConnPtr> idle;
    std::vector<Delivery> deliveries;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) {
            return;
        }
        closed_ = true;
        for (auto& i : idle_) {
            idle.push_back(std::move(i.conn));
            --open_;
        }
        idle_.clear();
        for (auto& w : waiters_) {
            if (w->queued) {
                deliveries.push_back(deliver(w, PgError{PgErrc::closed, "pool closed"}));
            }
        }
        waiters_.clear();
    }
    close_all(idle);
    for (auto& d : deliveries) {
        d();
    }
    asio::post(strand_, [self = shared_from_this()] {
        self->reconnect_timer_.cancel();
        self->reaper_timer_.cancel();
    });
}

PoolStats Pool::Impl::stats() const {
    PoolStats s;
    std::lock_guard<std::mutex> lock(mu_);
    s.open = open_;
    s.in_use = in_use_;
    s.idle = idle_.size();
    s.connecting = connecting_;
    s.waiting = static_cast<std::size_t>(
        std::count_if(waiters_.begin(), waiters_.end(), [](const auto& w) { return w->queued; }));
    s.up = up_;
    s.acquires = acquires_.load(std::memory_order_relaxed);
    s.created = created_;
    s.recycled = recycled_;
    s.idle_closed = idle_closed_;
    s.broken = broken_;
    s.connect_errors = connect_errors_;
    s.acquire_timeouts = acquire_timeouts_;
    s.unavailable = unavailable_;
    return s;
}

void Pool::Impl::close_all(std::vector<ConnPtr>& conns) {
    for (auto& c : conns) {
        c->close();
    }
}

}  // namespace confidant::storage::pg
