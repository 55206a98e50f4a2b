#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/task.hpp"
#include "redis/error.hpp"
#include "redis/settings.hpp"

namespace confidant::redis {

class Pool;

/// Redis pub/sub on a dedicated connection (a subscribed connection cannot serve commands).
///
/// The constructor starts a background loop that connects, SUBSCRIBEs every registered
/// channel and watches the connection (a PING every `health_check_interval`). When the
/// connection breaks it reconnects, retrying every `down_probe_interval`, and resubscribes.
/// Delivery is at most once: messages published while disconnected are lost (Redis pub/sub).
/// Thread-safe. Callbacks run on an I/O thread; they must be quick and must not throw.
class Subscriber {
  public:
    using Callback = std::function<void(std::string_view channel, std::string_view message)>;

    /// `pool` carries publish(); it must outlive the subscriber. Throws std::invalid_argument
    /// on a malformed URL.
    Subscriber(boost::asio::any_io_executor ex, RedisSettings settings, Pool& pool);
    /// Stops the loop without waiting; prefer `co_await close()`.
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    /// Adds a callback for `channel` (several per channel are fine) and subscribes at once if
    /// connected, else on the next (re)connection. No unsubscribe.
    void subscribe(std::string channel, Callback on_message);

    /// Adds a callback run after every successful connection and subscription (the first one
    /// and each reconnection), once every registered channel is subscribed again. Messages
    /// published while the subscriber was disconnected are lost, so a listener that keeps
    /// state derived from them (a local cache) should drop it here. Runs on the subscriber's
    /// strand, before connected() turns true; must be quick and must not throw. No removal.
    void on_connected(std::function<void()> callback);

    /// PUBLISH through the pool; returns how many subscribers received it. Fails fast when
    /// the pool is down.
    Task<RedisResult<long>> publish(std::string_view channel, std::string_view message);

    /// True while subscribed on a live connection.
    bool connected() const noexcept;
    /// How many times the loop has (re)connected and subscribed.
    std::uint64_t connections() const noexcept;

    /// Stops the loop and closes the connection; waits for the loop to end. Idempotent.
    Task<void> close();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
    Pool& pool_;
};

}  // namespace confidant::redis
