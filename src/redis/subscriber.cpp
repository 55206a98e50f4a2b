#include "redis/subscriber.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/log_exception.hpp"
#include "redis/connection.hpp"
#include "redis/pool.hpp"

namespace confidant::redis {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Subscriber::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor ex, RedisSettings s)
        : ex_(ex),
          strand_(asio::make_strand(ex)),
          settings_(std::move(s)),
          sleep_(strand_),
          done_(strand_) {
        auto u = parse_url(settings_.url);
        if (!u) {
            throw std::invalid_argument(u.error().message);
        }
        url_ = *u;
    }

    void dispatch(const Reply& r) {
        const auto& e = r.elements();
        // ["message", channel, payload] or ["pmessage", pattern, channel, payload]
        const std::string& channel = e.size() == 4 ? e[2].str() : e[1].str();
        const std::string& payload = e.back().str();
        std::vector<Callback> callbacks;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = channels_.find(channel);
            if (it == channels_.end()) {
                return;
            }
            callbacks = it->second;
        }
        for (const auto& cb : callbacks) {
            try {
                cb(channel, payload);
            } catch (const std::exception& ex) {
                spdlog::error("redis subscriber: callback for {} threw: {}", channel, ex.what());
            }
        }
    }

    void notify_connected() {
        std::vector<std::function<void()>> callbacks;
        {
            std::lock_guard<std::mutex> lock(mu_);
            callbacks = on_connected_;
        }
        for (const auto& cb : callbacks) {
            try {
                cb();
            } catch (const std::exception& ex) {
                spdlog::error("redis subscriber: on_connected callback threw: {}", ex.what());
            }
        }
    }

    Task<void> sleep_probe_interval() {
        sleep_.expires_after(settings_.down_probe_interval);
        co_await sleep_.async_wait(kTuple);
    }

    Task<void> run(std::shared_ptr<Impl> self) {
        // Runs on strand_.
        std::weak_ptr<Impl> weak = self;
        bool logged_down = false;
        while (!closed_) {
            ConnectionOptions options{settings_.connect_timeout, settings_.command_timeout,
                                      [weak](Reply r) {
                                          if (auto s = weak.lock()) {
                                              s->dispatch(r);
                                          }
                                      }};
            auto c = co_await Connection::open(ex_, url_, std::move(options));
            if (closed_) {
                if (c) {
                    (*c)->close();
                }
                break;
            }
            if (!c) {
                if (!logged_down) {
                    spdlog::warn("redis subscriber: cannot connect ({}); retrying every {} ms",
                                 c.error().message, settings_.down_probe_interval.count());
                    logged_down = true;
                }
                co_await sleep_probe_interval();
                continue;
            }
            conn_ = *c;
            std::vector<std::vector<std::string>> subscribes;
            {
                std::lock_guard<std::mutex> lock(mu_);
                for (const auto& [channel, cbs] : channels_) {
                    subscribes.push_back({"SUBSCRIBE", channel});
                }
            }
            bool ok = true;
            if (!subscribes.empty()) {
                auto r = co_await conn_->pipeline(std::move(subscribes));
                ok = r.has_value() && std::none_of(r->begin(), r->end(),
                                                   [](const Reply& x) { return x.is_error(); });
            }
            if (ok) {
                // Listeners first, so that whoever sees connected() knows they have run.
                notify_connected();
                connected_ = true;
                connections_.fetch_add(1);
                if (logged_down) {
                    spdlog::info("redis subscriber: reconnected and resubscribed");
                    logged_down = false;
                }
                while (!closed_) {
                    const bool broken = co_await conn_->wait_broken(
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            settings_.health_check_interval));
                    if (broken || closed_) {
                        break;
                    }
                    std::vector<std::string> ping{"PING"};
                    auto pong = co_await conn_->command(std::move(ping));
                    if (!pong || pong->is_error()) {
                        break;
                    }
                }
            }
            connected_ = false;
            conn_->close();
            conn_.reset();
            if (!ok && !closed_) {
                co_await sleep_probe_interval();
            }
        }
        running_ = false;
        done_.cancel();
    }

    Task<void> subscribe_now(std::shared_ptr<Impl> self, std::string channel) {
        // On strand_. If the loop has no connection yet, its snapshot will include `channel`.
        if (!conn_) {
            co_return;
        }
        auto conn = conn_;
        std::vector<std::string> cmd{"SUBSCRIBE", channel};
        auto r = co_await conn->command(std::move(cmd));
        if (!r || r->is_error()) {
            // The loop notices a broken connection and resubscribes everything.
            spdlog::warn("redis subscriber: SUBSCRIBE {} failed", channel);
        }
    }

    Task<void> wait_done(std::shared_ptr<Impl> self) {
        // On strand_; a member coroutine because GCC 12 mishandles capturing lambdas in
        // co_await expressions.
        if (running_) {
            done_.expires_at(asio::steady_timer::time_point::max());
            co_await done_.async_wait(kTuple);
        }
    }

    void stop() {
        closed_ = true;
        asio::post(strand_, [self = shared_from_this()] {
            self->sleep_.cancel();
            if (self->conn_) {
                self->conn_->close();
            }
        });
    }

    asio::any_io_executor ex_;
    asio::strand<asio::any_io_executor> strand_;
    RedisSettings settings_;
    Url url_;
    std::mutex mu_;
    std::map<std::string, std::vector<Callback>, std::less<>> channels_;
    std::vector<std::function<void()>> on_connected_;  // under mu_
    std::shared_ptr<Connection> conn_;  // strand_ only
    asio::steady_timer sleep_;          // strand_ only
    asio::steady_timer done_;           // strand_ only
    bool running_ = true;               // strand_ only
    std::atomic<bool> closed_{false};
    std::atomic<bool> connected_{false};
    std::atomic<std::uint64_t> connections_{0};
};

Subscriber::Subscriber(asio::any_io_executor ex, RedisSettings settings, Pool& pool)
    : impl_(std::make_shared<Impl>(ex, std::move(settings))), pool_(pool) {
    asio::co_spawn(impl_->strand_, impl_->run(impl_),
                   [](std::exception_ptr e) { log_if_exception("redis subscriber: loop", e); });
}

Subscriber::~Subscriber() { impl_->stop(); }

void Subscriber::subscribe(std::string channel, Callback on_message) {
    bool first = false;
    {
        std::lock_guard<std::mutex> lock(impl_->mu_);
        auto& cbs = impl_->channels_[channel];
        first = cbs.empty();
        cbs.push_back(std::move(on_message));
    }
    if (first) {
        asio::co_spawn(
            impl_->strand_, impl_->subscribe_now(impl_, std::move(channel)),
            [](std::exception_ptr e) { log_if_exception("redis subscriber: subscribe", e); });
    }
}

void Subscriber::on_connected(std::function<void()> callback) {
    std::lock_guard<std::mutex> lock(impl_->mu_);
    impl_->on_connected_.push_back(std::move(callback));
}

Task<RedisResult<long>> Subscriber::publish(std::string_view channel, std::string_view message) {
    std::vector<std::string> cmd{"PUBLISH", std::string(channel), std::string(message)};
    auto r = co_await pool_.command(std::move(cmd));
    if (!r) {
        co_return r.error();
    }
    if (!r->is_integer()) {
        co_return RedisError{RedisErrc::protocol, "PUBLISH: " + r->to_debug_string()};
    }
    co_return static_cast<long>(r->integer());
}

bool Subscriber::connected() const noexcept { return impl_->connected_.load(); }

std::uint64_t Subscriber::connections() const noexcept { return impl_->connections_.load(); }

Task<void> Subscriber::close() {
    auto impl = impl_;
    impl->stop();
    co_await asio::co_spawn(impl->strand_, impl->wait_done(impl), asio::use_awaitable);
}

}  // namespace confidant::redis
