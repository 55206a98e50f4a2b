// The pool's background work: replacing connections that left, reconnecting with backoff
// while the server is down, closing overflow connections that idle, prefill.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/backoff.hpp"
#include "core/log_exception.hpp"
#include "storage/postgres/detail.hpp"
#include "storage/postgres/pool_impl.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using detail::kTuple;
using pool_detail::Clock;
using pool_detail::ConnPtr;

// After `n` connections left: open replacements in the background while callers wait or
// fewer than `size` are open.
void Pool::Impl::replenish(const std::shared_ptr<Impl>& self, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            const bool wanted = !waiters_.empty() || open_ < settings_.size;
            if (closed_ || !up_ || !wanted || open_ >= max_open()) {
                return;
            }
            ++open_;
            ++connecting_;
        }
        asio::co_spawn(ex_, open_in_background(self), [](std::exception_ptr e) {
            log_if_exception("postgres pool: background connect", e);
        });
    }
}

// Counted in open_ and connecting_ by the caller.
Task<void> Pool::Impl::open_in_background(std::shared_ptr<Impl> self) {
    auto r = co_await Connection::open(ex_, info_, settings_.connect_timeout);
    auto added = adopt_new(self, std::move(r));
    if (added) {
        give_back(std::move(*added));
    }
}

void Pool::Impl::mark_down(const std::shared_ptr<Impl>& self, const PgError& why) {
    bool was_up = false;
    bool start = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) {
            return;
        }
        was_up = up_;
        up_ = false;
        up_flag_.store(false, std::memory_order_release);
        if (!reconnecting_) {
            reconnecting_ = true;
            start = true;
        }
    }
    if (was_up) {
        spdlog::warn("postgres pool: {} is unreachable ({}); failing fast and reconnecting",
                     describe_, why.message);
    }
    if (start) {
        asio::co_spawn(strand_, reconnect_loop(self), [](std::exception_ptr e) {
            log_if_exception("postgres pool: reconnect", e);
        });
    }
}

Task<void> Pool::Impl::reconnect_loop(std::shared_ptr<Impl> self) {
    // On strand_.
    for (int attempt = 0;; ++attempt) {
        reconnect_timer_.expires_after(
            bounded_exponential_backoff(attempt, settings_.reconnect_min, settings_.reconnect_max));
        co_await reconnect_timer_.async_wait(kTuple);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) {
                reconnecting_ = false;
                co_return;
            }
            ++open_;
            ++connecting_;
        }
        auto r = co_await Connection::open(ex_, info_, settings_.connect_timeout);
        ConnPtr c;
        {
            std::lock_guard<std::mutex> lock(mu_);
            --connecting_;
            if (!r || closed_) {
                --open_;
                if (!r) {
                    ++connect_errors_;
                }
                if (closed_) {
                    reconnecting_ = false;
                    if (r) {
                        (*r)->close();
                    }
                    co_return;
                }
                continue;
            }
            c = std::move(*r);
            ++created_;
            ++in_use_;
            up_ = true;
            up_flag_.store(true, std::memory_order_release);
            reconnecting_ = false;
        }
        spdlog::info("postgres pool: {} is reachable again", describe_);
        give_back(std::move(c));
        replenish(self, max_open());
        co_return;
    }
}

// Under mu_.
void Pool::Impl::maybe_start_reaper() {
    if (open_ > settings_.size && !reaping_ && !closed_) {
        reaping_ = true;
        asio::co_spawn(strand_, reap_loop(shared_from_this()), [](std::exception_ptr e) {
            log_if_exception("postgres pool: overflow reaper", e);
        });
    }
}

Task<void> Pool::Impl::reap_loop(std::shared_ptr<Impl> self) {
    // On strand_: closes overflow connections idle for overflow_idle.
    const auto period = std::clamp(settings_.overflow_idle / 4, std::chrono::milliseconds(20),
                                   std::chrono::milliseconds(1000));
    for (;;) {
        reaper_timer_.expires_after(period);
        co_await reaper_timer_.async_wait(kTuple);
        std::vector<ConnPtr> to_close;
        bool done = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            const auto now = Clock::now();
            // Oldest idle first: the front of idle_ has been idle longest.
            for (auto it = idle_.begin(); it != idle_.end() && open_ > settings_.size;) {
                if (now - it->since >= settings_.overflow_idle) {
                    to_close.push_back(std::move(it->conn));
                    it = idle_.erase(it);
                    --open_;
                    ++idle_closed_;
                } else {
                    ++it;
                }
            }
            if (closed_ || open_ <= settings_.size) {
                reaping_ = false;
                done = true;
            }
        }
        close_all(to_close);
        if (done) {
            co_return;
        }
    }
}

Task<PgResult<void>> Pool::Impl::prefill(std::shared_ptr<Impl> self) {
    for (;;) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) {
                co_return PgError{PgErrc::closed, "pool closed"};
            }
            if (open_ >= settings_.size) {
                co_return PgResult<void>{};
            }
            ++open_;
            ++connecting_;
        }
        auto r = co_await Connection::open(ex_, info_, settings_.connect_timeout);
        auto added = adopt_new(self, std::move(r));
        if (!added) {
            co_return added.error();
        }
        give_back(std::move(*added));
    }
}

}  // namespace confidant::storage::pg
