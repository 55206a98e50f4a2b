#include "cache/redis/redis_cache.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>

namespace confidant::cache {
namespace {

// Escapes Redis glob metacharacters so the prefix matches literally in SCAN MATCH.
std::string escape_glob(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

// Reads `name:value` from an INFO section.
std::string info_field(std::string_view info, std::string_view name) {
    std::size_t pos = 0;
    while (pos < info.size()) {
        auto end = info.find('\n', pos);
        if (end == std::string_view::npos) {
            end = info.size();
        }
        auto line = info.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.size() > name.size() && line.substr(0, name.size()) == name &&
            line[name.size()] == ':') {
            return std::string(line.substr(name.size() + 1));
        }
        pos = end + 1;
    }
    return {};
}

// A fresh generation: 16 random hex digits. Collisions with an earlier generation are what
// would make old entries readable again, so they come from a 64-bit random number.
std::string random_generation() {
    thread_local std::mt19937_64 rng{[] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }()};
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    return std::string(buf, 16);
}

// KEYS[1] generation key, KEYS[2] entry; ARGV[1] a fresh generation to create if the key is
// missing, ARGV[2] value, ARGV[3] TTL in seconds. Returns the generation the value was tagged
// with.
constexpr const char* kSetScript = R"lua(
local g = redis.call('GET', KEYS[1])
if not g then
  g = ARGV[1]
  redis.call('SET', KEYS[1], g)
end
redis.call('SET', KEYS[2], g .. '|' .. ARGV[2], 'EX', ARGV[3])
return g
)lua";

bool failed(const redis::RedisResult<redis::Reply>& r) { return !r || r->is_error(); }

}  // namespace

RedisCache::RedisCache(redis::Pool& pool, RedisCacheSettings settings)
    : pool_(pool), settings_(std::move(settings)), set_script_(kSetScript) {
    if (settings_.scan_count == 0) {
        settings_.scan_count = 500;
    }
    if (settings_.unlink_batch == 0) {
        settings_.unlink_batch = 500;
    }
    if (settings_.generation_key.empty()) {
        settings_.generation_key = "cache-generation:" + settings_.key_prefix;
    }
}

std::string RedisCache::full_key(std::string_view key) const {
    std::string k;
    k.reserve(settings_.key_prefix.size() + key.size());
    k += settings_.key_prefix;
    k += key;
    return k;
}

Task<std::optional<std::string>> RedisCache::get(std::string_view key) {
    if (!pool_.is_up()) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    // The generation and the entry in one round trip, read atomically.
    auto r = co_await pool_.call("MGET", settings_.generation_key, full_key(key));
    if (!r || !r->is_array() || r->elements().size() != 2) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    const auto& generation = r->elements()[0];
    const auto& entry = r->elements()[1];
    if (!entry.is_string()) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    const std::string& g = generation.str();
    const std::string& v = entry.str();
    // No generation key: every entry belongs to a lost generation.
    if (!generation.is_string() || v.size() <= g.size() || v[g.size()] != '|' ||
        v.compare(0, g.size(), g) != 0) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        stale_reads_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    co_return v.substr(g.size() + 1);
}

Task<void> RedisCache::set(std::string_view key, std::string value, std::chrono::seconds ttl) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return;
    }
    if (ttl.count() <= 0) {
        ttl = settings_.default_ttl;
    }
    std::vector<std::string> keys;
    keys.reserve(2);
    keys.push_back(settings_.generation_key);
    keys.push_back(full_key(key));
    std::vector<std::string> args;
    args.reserve(3);
    args.push_back(random_generation());
    args.push_back(std::move(value));
    args.push_back(std::to_string(ttl.count()));
    auto r = co_await pool_.eval(set_script_, std::move(keys), std::move(args));
    if (failed(r)) {
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
}

Task<bool> RedisCache::try_del(std::string_view key) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
    }
    auto r = co_await pool_.call("UNLINK", full_key(key));
    if (failed(r)) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
    }
    co_return true;
}

Task<void> RedisCache::del(std::string_view key) { co_await try_del(key); }

Task<bool> RedisCache::try_del_many(std::vector<std::string> keys) {
    std::size_t i = 0;
    while (i < keys.size()) {
        if (!pool_.is_up()) {
            errors_.fetch_add(1, std::memory_order_relaxed);
            co_return false;
        }
        const std::size_t n = std::min(settings_.unlink_batch, keys.size() - i);
        std::vector<std::string> cmd;
        cmd.reserve(n + 1);
        cmd.emplace_back("UNLINK");
        for (std::size_t j = i; j < i + n; ++j) {
            cmd.push_back(full_key(keys[j]));
        }
        auto r = co_await pool_.command(std::move(cmd));
        if (failed(r)) {
            errors_.fetch_add(1, std::memory_order_relaxed);
            co_return false;
        }
        i += n;
    }
    co_return true;
}

Task<bool> RedisCache::scan_unlink(std::string_view pattern, std::int64_t& deleted) {
    const std::string match = escape_glob(settings_.key_prefix) + std::string(pattern);
    const std::string count = std::to_string(settings_.scan_count);
    std::string cursor = "0";
    do {
        auto r = co_await pool_.call("SCAN", cursor, "MATCH", match, "COUNT", count);
        if (!r || !r->is_array() || r->elements().size() != 2) {
            errors_.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("redis cache: del_pattern({}) stopped: {}", pattern,
                         r ? r->to_debug_string() : r.error().message);
            co_return false;
        }
        cursor = r->elements()[0].str();
        auto& keys = r->elements()[1].elements();
        if (!keys.empty()) {
            std::vector<std::string> unlink;
            unlink.reserve(keys.size() + 1);
            unlink.emplace_back("UNLINK");
            for (auto& k : keys) {
                unlink.push_back(k.str());
            }
            auto u = co_await pool_.command(std::move(unlink));
            if (!u || !u->is_integer()) {
                errors_.fetch_add(1, std::memory_order_relaxed);
                co_return false;
            }
            deleted += u->integer();
        }
    } while (cursor != "0");
    co_return true;
}

Task<std::optional<std::int64_t>> RedisCache::try_del_pattern(std::string_view pattern) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    std::int64_t deleted = 0;
    const bool complete = co_await scan_unlink(pattern, deleted);
    if (!complete) {
        co_return std::nullopt;
    }
    co_return deleted;
}

Task<std::int64_t> RedisCache::del_pattern(std::string_view pattern) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return 0;
    }
    std::int64_t deleted = 0;
    co_await scan_unlink(pattern, deleted);
    co_return deleted;
}

Task<bool> RedisCache::invalidate_all() {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
    }
    auto r = co_await pool_.call("SET", settings_.generation_key, random_generation());
    if (failed(r)) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return false;
    }
    spdlog::info("redis cache: new generation in {}; every older entry is now a miss",
                 settings_.generation_key);
    co_return true;
}

Task<CacheStats> RedisCache::stats() {
    CacheStats s;
    s.backend = "redis";
    s.hits = hits_.load(std::memory_order_relaxed);
    s.misses = misses_.load(std::memory_order_relaxed);
    s.status = pool_.is_up() ? "active" : "degraded";
    if (pool_.is_up()) {
        std::vector<std::vector<std::string>> cmds;
        cmds.push_back(std::vector<std::string>{"INFO", "memory"});
        cmds.push_back(std::vector<std::string>{"DBSIZE"});
        auto r = co_await pool_.pipeline(std::move(cmds));
        if (r && r->size() == 2) {
            const auto info = (*r)[0].str();
            const auto used = info_field(info, "used_memory");
            std::from_chars(used.data(), used.data() + used.size(), s.used_memory_bytes);
            s.used_memory_human = info_field(info, "used_memory_human");
            if ((*r)[1].is_integer()) {
                s.total_keys = (*r)[1].integer();
            }
        } else {
            errors_.fetch_add(1, std::memory_order_relaxed);
        }
        s.status = pool_.is_up() ? "active" : "degraded";
    }
    s.active_connections = static_cast<std::int64_t>(pool_.stats().open_connections);
    co_return s;
}

}  // namespace confidant::cache
