#include "redis/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <stdexcept>

#include "core/backoff.hpp"
#include "core/log_exception.hpp"
#include "redis/connection.hpp"

namespace confidant::redis {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

Url parse_or_throw(const std::string& text) {
    auto r = parse_url(text);
    if (!r) {
        throw std::invalid_argument(r.error().message);
    }
    return *r;
}

Task<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(kTuple);
}

}  // namespace

struct Pool::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, RedisSettings s)
        : ex_(ex),
          strand_(asio::make_strand(ex)),
          settings_(std::move(s)),
          url_(parse_or_throw(settings_.url)),
          probe_timer_(strand_),
          prober_done_(strand_) {
        if (settings_.max_connections == 0) {
            settings_.max_connections = 1;
        }
    }

    ConnectionOptions connection_options() const {
        return ConnectionOptions{settings_.connect_timeout, settings_.command_timeout, {}};
    }

    static RedisError down_error() {
        return RedisError{RedisErrc::down, "redis is down (fail-fast until a probe succeeds)"};
    }

    // `connecting_` was incremented by the caller.
    Task<RedisResult<std::shared_ptr<Connection>>> open_connection(std::shared_ptr<Impl> self) {
        auto r = co_await Connection::open(ex_, url_, connection_options());
        std::unique_lock<std::mutex> lock(mu_);
        --connecting_;
        if (!r) {
            lock.unlock();
            mark_down(r.error());
            co_return r.error();
        }
        if (closed_) {
            lock.unlock();
            (*r)->close();
            co_return RedisError{RedisErrc::closed, "pool closed"};
        }
        conns_.push_back(*r);
        connections_opened_.fetch_add(1, std::memory_order_relaxed);
        co_return *r;
    }

    Task<RedisResult<std::shared_ptr<Connection>>> acquire(std::shared_ptr<Impl> self) {
        const auto deadline = std::chrono::steady_clock::now() + settings_.acquire_timeout;
        for (;;) {
            if (closed_) {
                co_return RedisError{RedisErrc::closed, "pool closed"};
            }
            if (!up_.load(std::memory_order_acquire)) {
                co_return down_error();
            }
            std::shared_ptr<Connection> best;
            bool open_now = false;
            bool open_background = false;
            {
                std::lock_guard<std::mutex> lock(mu_);
                std::erase_if(conns_, [](const auto& c) { return c->broken(); });
                for (const auto& c : conns_) {
                    if (!best || c->in_flight() < best->in_flight()) {
                        best = c;
                    }
                }
                const auto total = conns_.size() + connecting_;
                if (!best) {
                    if (total < settings_.max_connections) {
                        ++connecting_;
                        open_now = true;
                    }
                } else if (best->in_flight() > 0 && total < settings_.max_connections &&
                           connecting_ == 0) {
                    // Grow in the background; this call pipelines on `best` meanwhile.
                    ++connecting_;
                    open_background = true;
                }
            }
            if (open_background) {
                asio::co_spawn(ex_, open_connection(self),
                               [](std::exception_ptr e, RedisResult<std::shared_ptr<Connection>>) {
                                   log_if_exception("redis pool: background connect", e);
                               });
            }
            if (open_now) {
                auto r = co_await open_connection(self);
                if (!r) {
                    co_return r.error();
                }
                best = *r;
            }
            if (!best) {
                // Every slot is still connecting: wait briefly for one of them.
                if (std::chrono::steady_clock::now() >= deadline) {
                    co_return RedisError{RedisErrc::timeout,
                                         "no connection within acquire_timeout"};
                }
                co_await sleep_for(std::chrono::milliseconds(2));
                continue;
            }
            const auto idle = std::chrono::steady_clock::now() - best->last_used();
            if (best->in_flight() == 0 && idle >= settings_.health_check_interval) {
                health_checks_.fetch_add(1, std::memory_order_relaxed);
                std::vector<std::string> ping{"PING"};
                auto pong = co_await best->command(std::move(ping));
                if (!pong || !pong->is_status()) {
                    spdlog::info("redis pool: idle connection failed its health check: {}",
                                 pong ? pong->to_debug_string() : pong.error().message);
                    best->close();
                    std::lock_guard<std::mutex> lock(mu_);
                    std::erase(conns_, best);
                    continue;
                }
            }
            co_return best;
        }
    }

    Task<RedisResult<std::vector<Reply>>> run(std::shared_ptr<Impl> self, std::string payload,
                                              std::size_t count) {
        total_commands_.fetch_add(count, std::memory_order_relaxed);
        struct InFlight {
            std::atomic<std::size_t>& n;
            explicit InFlight(std::atomic<std::size_t>& c) : n(c) { n.fetch_add(1); }
            ~InFlight() { n.fetch_sub(1); }
        } guard(in_flight_);
        int retries = 0;
        int timeouts = 0;
        for (;;) {
            auto conn = co_await acquire(self);
            if (!conn) {
                errors_.fetch_add(1, std::memory_order_relaxed);
                co_return conn.error();
            }
            auto r = co_await (*conn)->send_encoded(payload, count);
            if (r) {
                co_return r;
            }
            const auto& e = r.error();
            bool retry = false;
            if (e.code == RedisErrc::timeout) {
                ++timeouts;
                retry = settings_.retry_on_timeout && retries < settings_.retry_attempts;
            } else if (e.code == RedisErrc::io || e.code == RedisErrc::closed) {
                // The connection broke (server restart, idle kill, or another call's timeout):
                // a fresh connection tells at once whether Redis is there.
                retry = retries < settings_.retry_attempts && !closed_;
            }
            if (!retry) {
                errors_.fetch_add(1, std::memory_order_relaxed);
                if (e.code == RedisErrc::timeout && timeouts > settings_.retry_attempts) {
                    // Every attempt timed out on a fresh connection: treat Redis as down so
                    // other callers stop waiting; the probe brings it back.
                    mark_down(e);
                }
                co_return e;
            }
            ++retries;
            retries_.fetch_add(1, std::memory_order_relaxed);
            if (e.code == RedisErrc::timeout) {
                co_await sleep_for(bounded_exponential_backoff(
                    retries - 1, settings_.retry_min_wait, settings_.retry_max_wait));
            }
        }
    }

    void mark_down(const RedisError& why) {
        std::vector<std::shared_ptr<Connection>> old;
        bool start_probe = false;
        bool was_up = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) {
                return;
            }
            was_up = up_.exchange(false, std::memory_order_acq_rel);
            old.swap(conns_);
            if (!probing_) {
                probing_ = true;
                start_probe = true;
            }
        }
        if (was_up) {
            spdlog::warn("redis pool: {}:{} is down ({}: {}); failing fast, probing every {} ms",
                         url_.host, url_.port, to_string(why.code), why.message,
                         settings_.down_probe_interval.count());
        }
        for (auto& c : old) {
            c->close();
        }
        if (start_probe) {
            asio::co_spawn(strand_, probe_loop(shared_from_this()),
                           [](std::exception_ptr e) { log_if_exception("redis pool: probe", e); });
        }
    }

    Task<void> probe_loop(std::shared_ptr<Impl> self) {
        // Runs on strand_.
        for (;;) {
            probe_timer_.expires_after(settings_.down_probe_interval);
            co_await probe_timer_.async_wait(kTuple);
            if (closed_) {
                break;
            }
            auto c = co_await Connection::open(ex_, url_, connection_options());
            if (!c) {
                continue;
            }
            std::vector<std::string> ping{"PING"};
            auto pong = co_await (*c)->command(std::move(ping));
            if (!pong || !pong->is_status()) {
                (*c)->close();
                continue;
            }
            std::unique_lock<std::mutex> lock(mu_);
            if (closed_) {
                lock.unlock();
                (*c)->close();
                break;
            }
            conns_.push_back(*c);
            connections_opened_.fetch_add(1, std::memory_order_relaxed);
            reconnects_.fetch_add(1, std::memory_order_relaxed);
            probing_ = false;
            up_.store(true, std::memory_order_release);
            lock.unlock();
            spdlog::info("redis pool: {}:{} is up again", url_.host, url_.port);
            prober_done_.cancel();
            co_return;
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            probing_ = false;
        }
        prober_done_.cancel();
    }

    void shutdown() {
        std::vector<std::shared_ptr<Connection>> old;
        {
            std::lock_guard<std::mutex> lock(mu_);
            closed_ = true;
            old.swap(conns_);
        }
        for (auto& c : old) {
            c->close();
        }
        asio::post(strand_, [self = shared_from_this()] { self->probe_timer_.cancel(); });
    }

    // GCC 12 mishandles a lambda with captures inside a co_await expression (the capture is
    // destroyed twice), so the strand-side halves are member coroutines taking `self`.
    Task<void> close_on_strand(std::shared_ptr<Impl> self) {
        shutdown();
        probe_timer_.cancel();
        bool wait = false;
        {
            std::lock_guard<std::mutex> lock(mu_);
            wait = probing_;
        }
        if (wait) {
            prober_done_.expires_at(asio::steady_timer::time_point::max());
            co_await prober_done_.async_wait(kTuple);
        }
    }

    Task<void> close(std::shared_ptr<Impl> self) {
        co_await asio::co_spawn(strand_, close_on_strand(self), asio::use_awaitable);
    }

    asio::any_io_executor ex_;
    asio::strand<asio::any_io_executor> strand_;
    RedisSettings settings_;
    Url url_;

    mutable std::mutex mu_;
    std::vector<std::shared_ptr<Connection>> conns_;
    std::size_t connecting_ = 0;
    bool probing_ = false;
    std::atomic<bool> closed_{false};
    std::atomic<bool> up_{true};

    asio::steady_timer probe_timer_;  // strand_ only
    asio::steady_timer prober_done_;  // strand_ only

    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::uint64_t> total_commands_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> retries_{0};
    std::atomic<std::uint64_t> connections_opened_{0};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> health_checks_{0};
};

Pool::Pool(asio::any_io_executor ex, RedisSettings settings)
    : impl_(std::make_shared<Impl>(ex, std::move(settings))) {}

Pool::~Pool() { impl_->shutdown(); }

Task<RedisResult<Reply>> Pool::command(std::vector<std::string> args) {
    auto impl = impl_;
    std::string payload;
    encode_command(args, payload);
    auto r = co_await impl->run(impl, std::move(payload), 1);
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

Task<RedisResult<std::vector<Reply>>> Pool::pipeline(
    std::vector<std::vector<std::string>> commands) {
    auto impl = impl_;
    if (commands.empty()) {
        co_return std::vector<Reply>{};
    }
    std::string payload;
    for (const auto& c : commands) {
        encode_command(c, payload);
    }
    co_return co_await impl->run(impl, std::move(payload), commands.size());
}

Task<RedisResult<Reply>> Pool::eval(const Script& script, std::vector<std::string> keys,
                                    std::vector<std::string> args) {
    auto impl = impl_;
    std::vector<std::string> cmd;
    cmd.reserve(3 + keys.size() + args.size());
    cmd.emplace_back("EVALSHA");
    cmd.push_back(script.sha1());
    cmd.push_back(std::to_string(keys.size()));
    for (auto& k : keys) {
        cmd.push_back(std::move(k));
    }
    for (auto& a : args) {
        cmd.push_back(std::move(a));
    }
    std::string payload;
    encode_command(cmd, payload);
    auto r = co_await impl->run(impl, std::move(payload), 1);
    if (r && r->front().is_error_with("NOSCRIPT")) {
        cmd[0] = "EVAL";
        cmd[1] = script.source();
        payload.clear();
        encode_command(cmd, payload);
        r = co_await impl->run(impl, std::move(payload), 1);
    }
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

bool Pool::is_up() const noexcept { return impl_->up_.load(std::memory_order_acquire); }

PoolStats Pool::stats() const {
    PoolStats s;
    {
        std::lock_guard<std::mutex> lock(impl_->mu_);
        s.open_connections =
            static_cast<std::size_t>(std::count_if(impl_->conns_.begin(), impl_->conns_.end(),
                                                   [](const auto& c) { return !c->broken(); }));
    }
    s.in_flight = impl_->in_flight_.load();
    s.total_commands = impl_->total_commands_.load();
    s.errors = impl_->errors_.load();
    s.retries = impl_->retries_.load();
    s.connections_opened = impl_->connections_opened_.load();
    s.reconnects = impl_->reconnects_.load();
    s.health_checks = impl_->health_checks_.load();
    s.up = impl_->up_.load();
    return s;
}

const RedisSettings& Pool::settings() const noexcept { return impl_->settings_; }
const Url& Pool::url() const noexcept { return impl_->url_; }
asio::any_io_executor Pool::get_executor() const noexcept { return impl_->ex_; }

Task<void> Pool::close() {
    auto impl = impl_;
    co_await impl->close(impl);
}

}  // namespace confidant::redis
