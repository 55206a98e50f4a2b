#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cache/invalidation_bus.hpp"
#include "redis/subscriber.hpp"

namespace confidant::cache {

/// InvalidationBus over Redis pub/sub: publish() is a PUBLISH through the pool (dropped,
/// counted and reported false when Redis is down), subscribe() registers on the Subscriber's
/// channel, which reconnects and resubscribes by itself after an outage; on_resubscribed()
/// runs after each of those (re)subscriptions (Subscriber::on_connected). The subscriber must
/// outlive the bus.
class RedisInvalidationBus final : public InvalidationBus {
  public:
    static constexpr std::string_view kDefaultChannel = "confidant:invalidate";

    explicit RedisInvalidationBus(redis::Subscriber& subscriber,
                                  std::string channel = std::string(kDefaultChannel));

    Task<bool> publish(std::string_view message) override;
    void subscribe(std::function<void(std::string_view)> on_message) override;
    void on_resubscribed(std::function<void()> callback) override;

    /// Messages that could not be published.
    std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  private:
    redis::Subscriber& subscriber_;
    std::string channel_;
    std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace confidant::cache
