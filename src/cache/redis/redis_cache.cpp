#include "cache/redis/redis_cache.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

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

}  // namespace

RedisCache::RedisCache(redis::Pool& pool, RedisCacheSettings settings)
    : pool_(pool), settings_(std::move(settings)) {
    if (settings_.scan_count == 0) {
        settings_.scan_count = 500;
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
    auto r = co_await pool_.call("GET", full_key(key));
    if (!r || r->is_error()) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    if (!r->is_string()) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        co_return std::nullopt;
    }
    hits_.fetch_add(1, std::memory_order_relaxed);
    co_return std::move(*r).as_string();
}

Task<void> RedisCache::set(std::string_view key, std::string value, std::chrono::seconds ttl) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return;
    }
    if (ttl.count() <= 0) {
        ttl = settings_.default_ttl;
    }
    auto r = co_await pool_.call("SET", full_key(key), std::move(value), "EX",
                                 std::to_string(ttl.count()));
    if (!r || r->is_error()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
}

Task<void> RedisCache::del(std::string_view key) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return;
    }
    auto r = co_await pool_.call("UNLINK", full_key(key));
    if (!r || r->is_error()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
}

Task<std::int64_t> RedisCache::del_pattern(std::string_view pattern) {
    if (!pool_.is_up()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        co_return 0;
    }
    const std::string match = escape_glob(settings_.key_prefix) + std::string(pattern);
    const std::string count = std::to_string(settings_.scan_count);
    std::string cursor = "0";
    std::int64_t deleted = 0;
    do {
        auto r = co_await pool_.call("SCAN", cursor, "MATCH", match, "COUNT", count);
        if (!r || !r->is_array() || r->elements().size() != 2) {
            errors_.fetch_add(1, std::memory_order_relaxed);
            spdlog::warn("redis cache: del_pattern({}) stopped: {}", pattern,
                         r ? r->to_debug_string() : r.error().message);
            co_return deleted;
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
                co_return deleted;
            }
            deleted += u->integer();
        }
    } while (cursor != "0");
    co_return deleted;
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
