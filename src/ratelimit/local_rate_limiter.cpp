#include "ratelimit/local_rate_limiter.hpp"

#include <algorithm>
#include <functional>

namespace confidant::ratelimit {

namespace {
constexpr std::size_t kSweepEvery = 1024;
}

LocalRateLimiter::LocalRateLimiter(const Clock& clock) : clock_(clock) {}

Task<RateDecision> LocalRateLimiter::hit(std::string_view key, long limit,
                                         std::chrono::seconds window) {
    co_return hit_sync(key, limit, window);
}

Task<RateDecision> LocalRateLimiter::peek(std::string_view key, long limit,
                                          std::chrono::seconds window) {
    co_return hit_sync(key, limit, window, false);
}

RateDecision LocalRateLimiter::hit_sync(std::string_view key, long limit,
                                        std::chrono::seconds window, bool count) {
    using namespace std::chrono;
    if (limit <= 0) {
        const long wait = std::max<long>(1, static_cast<long>(window.count()));
        return RateDecision{false, wait, 0};
    }
    if (window.count() <= 0) {
        return RateDecision{true, 0, limit - 1};
    }
    const nanoseconds period = window;
    // Truncation makes interval * limit <= window, so `limit` hits always fit in a burst.
    const nanoseconds interval = period / limit;
    const auto now = clock_.steady_now();

    auto& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
    std::lock_guard<std::mutex> lock(shard.mu);
    if (++shard.ops_since_sweep >= kSweepEvery) {
        shard.ops_since_sweep = 0;
        std::erase_if(shard.tat, [now](const auto& kv) { return kv.second <= now; });
    }
    auto it = shard.tat.find(std::string(key));
    const auto tat = (it == shard.tat.end()) ? now : std::max(it->second, now);
    const auto new_tat = tat + interval;
    const auto ahead = new_tat - now;
    if (ahead > period) {
        const auto wait = ahead - period;
        const long secs = static_cast<long>(
            (duration_cast<nanoseconds>(wait).count() + 999'999'999) / 1'000'000'000);
        return RateDecision{false, std::max<long>(1, secs), 0};
    }
    if (!count) {
        const long remaining = static_cast<long>((period - ahead) / interval) + 1;
        return RateDecision{true, 0, std::clamp<long>(remaining, 0, limit)};
    }
    if (it == shard.tat.end()) {
        shard.tat.emplace(std::string(key), new_tat);
    } else {
        it->second = new_tat;
    }
    const long remaining = static_cast<long>((period - ahead) / interval);
    return RateDecision{true, 0, std::clamp<long>(remaining, 0, limit)};
}

void LocalRateLimiter::sweep() {
    const auto now = clock_.steady_now();
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mu);
        std::erase_if(s.tat, [now](const auto& kv) { return kv.second <= now; });
    }
}

std::size_t LocalRateLimiter::size() const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mu);
        n += s.tat.size();
    }
    return n;
}

}  // namespace confidant::ratelimit
