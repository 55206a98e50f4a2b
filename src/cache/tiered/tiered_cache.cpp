#include "cache/tiered/tiered_cache.hpp"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>

namespace confidant::cache {
namespace {

std::string random_instance_id() {
    std::random_device rd;
    const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

// Shared with the bus callback, which may outlive the TieredCache (there is no unsubscribe).
struct TieredCache::Subscription {
    std::mutex mu;
    LocalCache* l1 = nullptr;  // null once the TieredCache is gone
    std::string instance_id;
    // Bumped before every L1 invalidation, so a get() racing with one does not re-fill L1 with
    // the value it read from L2 before the invalidation.
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<std::uint64_t> remote{0};

    void on_message(std::string_view message) {
        const auto sp = message.find(' ');
        if (sp == std::string_view::npos || message.substr(0, sp) == instance_id) {
            return;
        }
        const std::string_view rest = message.substr(sp + 1);
        if (rest.size() < 4 || rest[3] != ' ') {
            return;
        }
        const std::string_view op = rest.substr(0, 3);
        const std::string_view arg = rest.substr(4);
        std::lock_guard lock(mu);
        if (l1 == nullptr) {
            return;
        }
        if (op == "del") {
            epoch.fetch_add(1);
            l1->erase(arg);
        } else if (op == "pat") {
            epoch.fetch_add(1);
            l1->erase_matching(arg);
        } else {
            return;
        }
        remote.fetch_add(1, std::memory_order_relaxed);
    }
};

TieredCache::TieredCache(const TieredCacheSettings& settings, LocalCache& l1, Cache& l2,
                         InvalidationBus* bus)
    : settings_(settings),
      instance_id_(settings.instance_id.empty() ? random_instance_id() : settings.instance_id),
      l1_(l1),
      l2_(l2),
      bus_(bus),
      subscription_(std::make_shared<Subscription>()) {
    if (settings_.l1_ttl.count() <= 0) {
        settings_.l1_ttl = std::chrono::seconds{5};
    }
    subscription_->l1 = &l1_;
    subscription_->instance_id = instance_id_;
    if (bus_ != nullptr) {
        bus_->subscribe([sub = subscription_](std::string_view m) { sub->on_message(m); });
    }
}

TieredCache::~TieredCache() {
    std::lock_guard lock(subscription_->mu);
    subscription_->l1 = nullptr;
}

std::uint64_t TieredCache::remote_invalidations() const {
    return subscription_->remote.load(std::memory_order_relaxed);
}

Task<std::optional<std::string>> TieredCache::get(std::string_view key) {
    if (auto hit = l1_.get_sync(key)) {
        co_return hit;
    }
    const std::uint64_t epoch = subscription_->epoch.load();
    auto value = co_await l2_.get(key);
    if (value && subscription_->epoch.load() == epoch) {
        l1_.set_sync(key, *value, settings_.l1_ttl);
        // An invalidation may have slipped in between the check and the fill: undo the fill.
        if (subscription_->epoch.load() != epoch) {
            l1_.erase(key);
        }
    }
    co_return value;
}

Task<void> TieredCache::set(std::string_view key, std::string value, std::chrono::seconds ttl) {
    const auto l1_ttl = ttl.count() > 0 ? std::min(ttl, settings_.l1_ttl) : settings_.l1_ttl;
    co_await l2_.set(key, value, ttl);
    l1_.set_sync(key, std::move(value), l1_ttl);
    if (settings_.publish_on_set) {
        co_await publish("del", key);
    }
}

Task<void> TieredCache::del(std::string_view key) {
    co_await l2_.del(key);
    subscription_->epoch.fetch_add(1);
    l1_.erase(key);
    co_await publish("del", key);
}

Task<std::int64_t> TieredCache::del_pattern(std::string_view pattern) {
    const std::int64_t deleted = co_await l2_.del_pattern(pattern);
    subscription_->epoch.fetch_add(1);
    l1_.erase_matching(pattern);
    co_await publish("pat", pattern);
    co_return deleted;
}

Task<CacheStats> TieredCache::stats() {
    CacheStats s = co_await l2_.stats();
    s.l1 = l1_.tier_stats();
    s.hits += s.l1.hits;
    co_return s;
}

Task<void> TieredCache::publish(std::string_view op, std::string_view arg) {
    if (bus_ == nullptr) {
        co_return;
    }
    std::string message;
    message.reserve(instance_id_.size() + op.size() + arg.size() + 2);
    message.append(instance_id_).append(" ").append(op).append(" ").append(arg);
    co_await bus_->publish(message);
}

}  // namespace confidant::cache
