#include "cache/tiered/local_invalidation_bus.hpp"

#include <string>

namespace confidant::cache {

Task<bool> LocalInvalidationBus::publish(std::string_view message) {
    std::vector<std::function<void(std::string_view)>> subscribers;
    {
        std::lock_guard lock(mu_);
        subscribers = subscribers_;
    }
    // Own the bytes: a subscriber must not see them change under it.
    const std::string copy(message);
    for (const auto& s : subscribers) {
        s(copy);
    }
    co_return true;
}

void LocalInvalidationBus::subscribe(std::function<void(std::string_view)> on_message) {
    std::lock_guard lock(mu_);
    subscribers_.push_back(std::move(on_message));
}

}  // namespace confidant::cache
