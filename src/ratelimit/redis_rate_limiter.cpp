#include "ratelimit/redis_rate_limiter.hpp"

#include <spdlog/spdlog.h>

namespace confidant::ratelimit {

// KEYS[1] = key; ARGV[1] = limit; ARGV[2] = window in ms; ARGV[3] = "1" to only look (peek).
// Returns {allowed (0/1), retry_after_ms, remaining}. The epsilon absorbs floating-point
// error so that exactly `limit` hits fit into one window.
const redis::Script& gcra_script() {
    static const redis::Script script(R"lua(
redis.replicate_commands()
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > window + 0.001 then
  return {0, math.ceil(ahead - window), 0}
end
if ARGV[3] == '1' then
  return {1, 0, math.floor((window - ahead) / interval + 0.000001) + 1}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat))
redis.call('PEXPIRE', KEYS[1], math.ceil(ahead))
local remaining = math.floor((window - ahead) / interval + 0.000001)
if remaining < 0 then remaining = 0 end
return {1, 0, remaining}
)lua");
    return script;
}

RedisRateLimiter::RedisRateLimiter(redis::Pool& pool, const Clock& clock, std::string key_prefix)
    : pool_(pool), prefix_(std::move(key_prefix)), local_(clock) {}

Task<RateDecision> RedisRateLimiter::hit(std::string_view key, long limit,
                                         std::chrono::seconds window) {
    return decide(key, limit, window, true);
}

Task<RateDecision> RedisRateLimiter::peek(std::string_view key, long limit,
                                          std::chrono::seconds window) {
    return decide(key, limit, window, false);
}

Task<RateDecision> RedisRateLimiter::decide(std::string_view key, long limit,
                                            std::chrono::seconds window, bool count) {
    if (limit <= 0 || window.count() <= 0 || !pool_.is_up()) {
        if (limit > 0 && window.count() > 0) {
            fallbacks_.fetch_add(1, std::memory_order_relaxed);
        }
        co_return local_.hit_sync(key, limit, window, count);
    }
    std::vector<std::string> keys;
    keys.push_back(prefix_ + std::string(key));
    std::vector<std::string> args;
    args.push_back(std::to_string(limit));
    args.push_back(std::to_string(window.count() * 1000));
    args.push_back(count ? "0" : "1");
    auto r = co_await pool_.eval(gcra_script(), std::move(keys), std::move(args));
    if (!r || !r->is_array() || r->elements().size() != 3) {
        fallbacks_.fetch_add(1, std::memory_order_relaxed);
        if (r) {
            spdlog::warn("rate limiter: unexpected script reply {}", r->to_debug_string());
        }
        co_return local_.hit_sync(key, limit, window, count);
    }
    const auto& e = r->elements();
    RateDecision d;
    d.allowed = e[0].integer() == 1;
    const long long retry_ms = e[1].integer();
    d.retry_after_s = d.allowed ? 0 : std::max<long>(1, static_cast<long>((retry_ms + 999) / 1000));
    d.remaining = static_cast<long>(e[2].integer());
    co_return d;
}

}  // namespace confidant::ratelimit
