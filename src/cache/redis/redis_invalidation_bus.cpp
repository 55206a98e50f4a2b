#include "cache/redis/redis_invalidation_bus.hpp"

namespace confidant::cache {

RedisInvalidationBus::RedisInvalidationBus(redis::Subscriber& subscriber, std::string channel)
    : subscriber_(subscriber), channel_(std::move(channel)) {}

Task<bool> RedisInvalidationBus::publish(std::string_view message) {
    auto r = co_await subscriber_.publish(channel_, message);
    if (!r) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
    }
    co_return true;
}

void RedisInvalidationBus::subscribe(std::function<void(std::string_view)> on_message) {
    subscriber_.subscribe(
        channel_,
        [cb = std::move(on_message)](std::string_view, std::string_view message) { cb(message); });
}

void RedisInvalidationBus::on_resubscribed(std::function<void()> callback) {
    subscriber_.on_connected(std::move(callback));
}

}  // namespace confidant::cache
