#include "cache/redis/redis_invalidation_bus.hpp"

namespace confidant::cache {

RedisInvalidationBus::RedisInvalidationBus(redis::Subscriber& subscriber, std::string channel)
    : subscriber_(subscriber), channel_(std::move(channel)) {}

Task<void> RedisInvalidationBus::publish(std::string_view message) {
    auto r = co_await subscriber_.publish(channel_, message);
    if (!r) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
    }
}

void RedisInvalidationBus::subscribe(std::function<void(std::string_view)> on_message) {
    subscriber_.subscribe(
        channel_,
        [cb = std::move(on_message)](std::string_view, std::string_view message) { cb(message); });
}

}  // namespace confidant::cache
