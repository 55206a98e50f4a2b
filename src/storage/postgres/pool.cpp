#include "storage/postgres/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "core/backoff.hpp"
#include "core/log_exception.hpp"
#include "storage/postgres/conninfo.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using ConnPtr = std::shared_ptr<Connection>;
using ConnResult = PgResult<ConnPtr>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

ConnInfo parse_or_throw(const std::string& text) {
    auto r = parse_conninfo(text);
    if (!r) {
        throw std::invalid_argument(r.error());
    }
    return std::move(*r);
}

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

}  // namespace

struct Pool::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, PoolSettings s)
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

    std::size_t max_open() const { return settings_.size + settings_.max_overflow; }

    // ---- handing connections out and back ---------------------------------------------------

    // Under mu_. Most recently used idle connection on `ctx`, else the most recent. Old ones
    // (recycle) are taken out into `to_close`.
    ConnPtr take_idle(const void* ctx, std::vector<ConnPtr>& to_close) {
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

    bool expired(const Connection& c, Clock::time_point now) const {
        return settings_.recycle.count() > 0 && now - c.created_at() >= settings_.recycle;
    }

    // Under mu_. `c` (counted in in_use_) goes to the first waiter, or back to idle_.
    Delivery hand_over(ConnPtr c) {
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
    Delivery deliver(const std::shared_ptr<Waiter>& w, ConnResult r) {
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

    Task<ConnResult> wait_for(std::shared_ptr<Waiter> w) {
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

    void expire(const std::shared_ptr<Waiter>& w) {
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
                                       std::to_string(settings_.acquire_timeout.count()) +
                                       " ms (" + std::to_string(max_open()) + " in use)"});
        }
        d();
    }

    Task<PgResult<Lease>> acquire(std::shared_ptr<Impl> self) {
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
    ConnResult adopt_new(const std::shared_ptr<Impl>& self, ConnResult r) {
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

    enum class Drop { broken, recycled };

    // `c` (counted in in_use_) leaves the pool for good.
    void drop(const std::shared_ptr<Impl>& self, ConnPtr c, Drop why) {
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

    void release(const std::shared_ptr<Impl>& self, ConnPtr c) {
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

    void give_back(ConnPtr c) {
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

    Task<void> roll_back(std::shared_ptr<Impl> self, ConnPtr c) {
        // A lease ended inside a transaction (an error path, or a caller that forgot COMMIT):
        // the next holder must start clean.
        const Statement rollback{"", "ROLLBACK", {}};
        auto r = co_await c->run_one(rollback, std::min(settings_.statement_timeout,
                                                        std::chrono::milliseconds(5000)));
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

    // ---- growing, shrinking, recovering -----------------------------------------------------

    // After `n` connections left: open replacements in the background while callers wait or
    // fewer than `size` are open.
    void replenish(const std::shared_ptr<Impl>& self, std::size_t n) {
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
    Task<void> open_in_background(std::shared_ptr<Impl> self) {
        auto r = co_await Connection::open(ex_, info_, settings_.connect_timeout);
        auto added = adopt_new(self, std::move(r));
        if (added) {
            give_back(std::move(*added));
        }
    }

    void mark_down(const std::shared_ptr<Impl>& self, const PgError& why) {
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

    Task<void> reconnect_loop(std::shared_ptr<Impl> self) {
        // On strand_.
        for (int attempt = 0;; ++attempt) {
            reconnect_timer_.expires_after(bounded_exponential_backoff(
                attempt, settings_.reconnect_min, settings_.reconnect_max));
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
    void maybe_start_reaper() {
        if (open_ > settings_.size && !reaping_ && !closed_) {
            reaping_ = true;
            asio::co_spawn(strand_, reap_loop(shared_from_this()), [](std::exception_ptr e) {
                log_if_exception("postgres pool: overflow reaper", e);
            });
        }
    }

    Task<void> reap_loop(std::shared_ptr<Impl> self) {
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

    static void close_all(std::vector<ConnPtr>& conns) {
        for (auto& c : conns) {
            c->close();
        }
    }

    Task<PgResult<void>> prefill(std::shared_ptr<Impl> self) {
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

    void shutdown() {
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

    PoolStats stats() const {
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

    struct Idle {
        ConnPtr conn;
        Clock::time_point since;
    };

    asio::any_io_executor ex_;
    asio::strand<asio::any_io_executor> strand_;
    PoolSettings settings_;
    ConnInfo info_;
    std::string describe_;
    asio::steady_timer reconnect_timer_;  // strand_ only
    asio::steady_timer reaper_timer_;     // strand_ only

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

// ---- Pool -----------------------------------------------------------------------------------

Pool::Pool(asio::any_io_executor ex, PoolSettings settings)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(settings))) {}

Pool::~Pool() { impl_->shutdown(); }

Task<PgResult<Lease>> Pool::acquire() {
    auto impl = impl_;
    co_return co_await impl->acquire(impl);
}

Task<PgResult<std::vector<QueryResult>>> Pool::run(std::span<const Statement> batch) {
    co_return co_await run(batch, impl_->settings_.statement_timeout);
}

Task<PgResult<std::vector<QueryResult>>> Pool::run(std::span<const Statement> batch,
                                                   std::chrono::milliseconds timeout) {
    auto impl = impl_;
    auto lease = co_await impl->acquire(impl);
    if (!lease) {
        co_return lease.error();
    }
    co_return co_await lease->run(batch, timeout);
}

Task<PgResult<QueryResult>> Pool::run_one(const Statement& statement) {
    auto r = co_await run(std::span<const Statement>(&statement, 1));
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

Task<PgResult<void>> Pool::prefill() {
    auto impl = impl_;
    co_return co_await impl->prefill(impl);
}

bool Pool::is_up() const noexcept { return impl_->up_flag_.load(std::memory_order_acquire); }

PoolStats Pool::stats() const { return impl_->stats(); }

const PoolSettings& Pool::settings() const noexcept { return impl_->settings_; }

Task<void> Pool::close() {
    impl_->shutdown();
    co_return;
}

void Pool::render(std::string& out) const {
    const auto s = stats();
    const auto& cfg = impl_->settings_;
    auto gauge = [&out](const char* name, const char* help, double value) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += " gauge\n";
        out += name;
        out += ' ';
        out += std::to_string(static_cast<long long>(value));
        out += '\n';
    };
    auto counter = [&out](const char* name, const char* help, std::uint64_t value) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += " counter\n";
        out += name;
        out += ' ';
        out += std::to_string(value);
        out += '\n';
    };
    out +=
        "# HELP db_pool_connections PostgreSQL pool connections by state.\n"
        "# TYPE db_pool_connections gauge\n";
    out += "db_pool_connections{state=\"in_use\"} " + std::to_string(s.in_use) + "\n";
    out += "db_pool_connections{state=\"idle\"} " + std::to_string(s.idle) + "\n";
    out += "db_pool_connections{state=\"connecting\"} " + std::to_string(s.connecting) + "\n";
    gauge("db_pool_open", "PostgreSQL connections open or being opened.",
          static_cast<double>(s.open));
    gauge("db_pool_size", "Connections the pool keeps open (DB_POOL_SIZE).",
          static_cast<double>(cfg.size));
    gauge("db_pool_max_overflow", "Extra connections allowed under load (DB_MAX_OVERFLOW).",
          static_cast<double>(cfg.max_overflow));
    gauge("db_pool_waiting", "Callers waiting for a free connection.",
          static_cast<double>(s.waiting));
    gauge("db_pool_up", "1 while PostgreSQL is reachable, 0 while the pool reconnects.",
          s.up ? 1 : 0);
    counter("db_pool_acquires_total", "Connections asked of the pool.", s.acquires);
    counter("db_pool_connections_created_total", "Connections opened.", s.created);
    counter("db_pool_connections_recycled_total",
            "Connections closed for age (DB_POOL_RECYCLE) and replaced.", s.recycled);
    counter("db_pool_connections_idle_closed_total",
            "Overflow connections closed after idling.", s.idle_closed);
    out +=
        "# HELP db_pool_errors_total PostgreSQL pool errors: connections found broken, failed "
        "connection attempts, callers failed fast while the server was down.\n"
        "# TYPE db_pool_errors_total counter\n";
    out += "db_pool_errors_total{kind=\"broken\"} " + std::to_string(s.broken) + "\n";
    out += "db_pool_errors_total{kind=\"connect\"} " + std::to_string(s.connect_errors) + "\n";
    out += "db_pool_errors_total{kind=\"unavailable\"} " + std::to_string(s.unavailable) + "\n";
    counter("db_pool_acquire_timeouts_total",
            "Callers that waited DB_POOL_TIMEOUT for a connection in vain.", s.acquire_timeouts);
}

// ---- Lease ----------------------------------------------------------------------------------

Lease::Lease(std::shared_ptr<Pool::Impl> pool, std::shared_ptr<Connection> connection) noexcept
    : pool_(std::move(pool)), conn_(std::move(connection)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::move(other.pool_);
        conn_ = std::move(other.conn_);
    }
    return *this;
}

Lease::~Lease() { release(); }

void Lease::release() noexcept {
    if (!conn_) {
        return;
    }
    auto pool = std::move(pool_);
    auto conn = std::move(conn_);
    try {
        pool->release(pool, std::move(conn));
    } catch (const std::exception& e) {
        // Only allocation can fail here; the connection is then dropped with its shared_ptr.
        spdlog::error("postgres pool: handing a connection back failed: {}", e.what());
    }
}

Task<PgResult<std::vector<QueryResult>>> Lease::run(std::span<const Statement> batch) {
    co_return co_await conn_->run(batch, pool_->settings_.statement_timeout);
}

Task<PgResult<std::vector<QueryResult>>> Lease::run(std::span<const Statement> batch,
                                                    std::chrono::milliseconds timeout) {
    co_return co_await conn_->run(batch, timeout);
}

Task<PgResult<QueryResult>> Lease::run_one(const Statement& statement) {
    co_return co_await conn_->run_one(statement, pool_->settings_.statement_timeout);
}

}  // namespace confidant::storage::pg
