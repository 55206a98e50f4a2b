#include "scheduler/redis/redis_leader_lease.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

namespace confidant::scheduler {

// KEYS[1] = lease key; ARGV[1] = token; ARGV[2] = period in ms. Returns 1 when the caller
// holds the lease afterwards, 0 when someone else does.
const redis::Script& lease_acquire_script() {
    static const redis::Script script(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
)lua");
    return script;
}

// KEYS[1] = lease key; ARGV[1] = token. Deletes the key only if it holds the token.
const redis::Script& lease_release_script() {
    static const redis::Script script(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua");
    return script;
}

RedisLeaderLease::RedisLeaderLease(redis::Pool& pool, std::string holder_id,
                                   std::chrono::milliseconds period, std::string key)
    : pool_(pool), period_(period), key_(std::move(key)) {
    std::random_device rd;
    token_ = fmt::format("{}:{:08x}{:08x}", holder_id, rd(), rd());
}

Task<bool> RedisLeaderLease::acquire_or_renew() {
    std::vector<std::string> keys{key_};
    std::vector<std::string> args{token_, std::to_string(period_.count())};
    auto r = co_await pool_.eval(lease_acquire_script(), std::move(keys), std::move(args));
    if (!r) {
        spdlog::warn("scheduler: redis lease: {}", r.error().message);
        co_return false;
    }
    if (!r->is_integer()) {
        spdlog::warn("scheduler: redis lease: unexpected reply {}", r->to_debug_string());
        co_return false;
    }
    co_return r->integer() == 1;
}

Task<void> RedisLeaderLease::release() {
    std::vector<std::string> keys{key_};
    std::vector<std::string> args{token_};
    auto r = co_await pool_.eval(lease_release_script(), std::move(keys), std::move(args));
    if (!r) {
        spdlog::warn("scheduler: redis lease release: {}", r.error().message);
    } else if (r->is_error()) {
        spdlog::warn("scheduler: redis lease release: {}", r->to_debug_string());
    }
}

}  // namespace confidant::scheduler
