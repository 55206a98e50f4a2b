#include "app/redis_parts.hpp"

#include <fmt/format.h>

#include "cache/local/local_cache.hpp"
#include "cache/redis/redis_cache.hpp"
#include "cache/redis/redis_invalidation_bus.hpp"
#include "cache/tiered/tiered_cache.hpp"
#include "obs/metrics.hpp"
#include "ratelimit/redis_rate_limiter.hpp"
#include "redis/pool.hpp"
#include "redis/subscriber.hpp"

namespace confidant::app {

namespace {
redis::RedisSettings redis_settings(const config::Settings& s) {
    redis::RedisSettings r;
    r.url = *s.redis_url;
    r.max_connections = s.redis_max_connections;
    r.health_check_interval = std::chrono::seconds(s.redis_health_check_interval_s);
    r.retry_on_timeout = s.redis_retry_on_timeout;
    r.retry_attempts = s.redis_retry_attempts;
    r.retry_min_wait =
        std::chrono::milliseconds(static_cast<long>(s.redis_retry_min_wait_s * 1000));
    r.retry_max_wait =
        std::chrono::milliseconds(static_cast<long>(s.redis_retry_max_wait_s * 1000));
    // Probe a down Redis often enough that recovery is noticed well within the health-check
    // interval.
    r.down_probe_interval = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(500), std::chrono::seconds(s.redis_health_check_interval_s));
    return r;
}
}  // namespace

struct RedisParts::Impl {
    Impl(boost::asio::any_io_executor ex, const config::Settings& s, cache::LocalCache* l1)
        : settings(redis_settings(s)),
          pool(ex, settings),
          subscriber(ex, settings, pool),
          limiter(pool) {
        if (l1 != nullptr) {
            l2 = std::make_unique<cache::RedisCache>(pool);
            bus = std::make_unique<cache::RedisInvalidationBus>(subscriber);
            cache::TieredCacheSettings ts;
            ts.l1_ttl = std::chrono::seconds(s.cache_l1_ttl_s);
            tiered = std::make_unique<cache::TieredCache>(ts, *l1, *l2, bus.get());
        }
    }
    redis::RedisSettings settings;
    redis::Pool pool;
    redis::Subscriber subscriber;
    ratelimit::RedisRateLimiter limiter;
    std::unique_ptr<cache::RedisCache> l2;
    std::unique_ptr<cache::RedisInvalidationBus> bus;
    std::unique_ptr<cache::TieredCache> tiered;
};

RedisParts::RedisParts(boost::asio::any_io_executor ex, const config::Settings& settings,
                       cache::LocalCache* l1)
    : impl_(std::make_unique<Impl>(std::move(ex), settings, l1)) {}

RedisParts::~RedisParts() = default;

cache::Cache* RedisParts::cache() { return impl_->tiered.get(); }

ratelimit::RateLimiter* RedisParts::limiter() { return &impl_->limiter; }

std::pair<std::uint64_t, std::uint64_t> RedisParts::cache_counters() const {
    if (!impl_->l2) {
        return {0, 0};
    }
    return {impl_->l2->hits(), impl_->l2->misses()};
}

namespace {
// Invalidations that could not reach Redis and their replay (see TieredCache).
void render_recovery_metrics(std::string& out, const cache::TieredCacheRecovery& r,
                             std::uint64_t stale_reads) {
    auto d = [](std::uint64_t v) { return static_cast<double>(v); };
    obs::write_help(out, "cache_invalidations_pending", "gauge",
                    "Invalidations waiting to be replayed to Redis (keys and patterns).");
    obs::write_sample(out, "cache_invalidations_pending", "", d(r.pending));
    obs::write_help(out, "cache_invalidation_overflow", "gauge",
                    "1 while a whole-cache invalidation replaces too many pending ones.");
    obs::write_sample(out, "cache_invalidation_overflow", "", r.overflowed ? 1 : 0);
    obs::write_help(out, "cache_l2_reads_suspended", "gauge",
                    "1 while this instance skips Redis reads until its replay is done.");
    obs::write_sample(out, "cache_l2_reads_suspended", "", r.l2_reads_suspended ? 1 : 0);
    obs::write_help(out, "cache_invalidations_deferred_total", "counter",
                    "Invalidations that failed to reach Redis or the bus and were kept.");
    obs::write_sample(out, "cache_invalidations_deferred_total", "", d(r.deferred));
    obs::write_help(out, "cache_invalidation_replays_total", "counter",
                    "Replay attempts of pending invalidations, by result.");
    obs::write_sample(out, "cache_invalidation_replays_total", R"(result="ok")", d(r.replays));
    obs::write_sample(out, "cache_invalidation_replays_total", R"(result="failed")",
                      d(r.replay_failures));
    obs::write_help(out, "cache_invalidations_replayed_total", "counter",
                    "Keys and patterns applied by replays.");
    obs::write_sample(out, "cache_invalidations_replayed_total", "", d(r.replayed));
    obs::write_help(out, "cache_full_invalidations_total", "counter",
                    "New Redis key generations (every older entry unreadable).");
    obs::write_sample(out, "cache_full_invalidations_total", "", d(r.full_invalidations));
    obs::write_help(out, "cache_l2_reads_skipped_total", "counter",
                    "L1 misses that did not read Redis because a replay was pending.");
    obs::write_sample(out, "cache_l2_reads_skipped_total", "", d(r.l2_reads_skipped));
    obs::write_help(out, "cache_l2_stale_generation_total", "counter",
                    "Redis entries found under an older generation (read as misses).");
    obs::write_sample(out, "cache_l2_stale_generation_total", "", d(stale_reads));
    obs::write_help(out, "cache_l1_flushes_total", "counter",
                    "Whole in-process tier drops, by reason.");
    obs::write_sample(out, "cache_l1_flushes_total", R"(reason="resubscribed")",
                      d(r.l1_flushes_resubscribed));
    obs::write_sample(out, "cache_l1_flushes_total", R"(reason="remote_clear")",
                      d(r.l1_flushes_remote));
}
}  // namespace

void RedisParts::render_metrics(std::string& out) const {
    const auto st = impl_->pool.stats();
    obs::write_help(out, "redis_pool_up", "gauge",
                    "1 while Redis answers, 0 while it is marked down.");
    obs::write_sample(out, "redis_pool_up", "", st.up ? 1 : 0);
    obs::write_help(out, "redis_pool_connections", "gauge", "Open pooled connections.");
    obs::write_sample(out, "redis_pool_connections", "", static_cast<double>(st.open_connections));
    obs::write_help(out, "redis_pool_in_flight", "gauge", "Commands awaiting a reply.");
    obs::write_sample(out, "redis_pool_in_flight", "", static_cast<double>(st.in_flight));
    obs::write_help(out, "redis_commands_total", "counter", "Commands sent.");
    obs::write_sample(out, "redis_commands_total", "", static_cast<double>(st.total_commands));
    obs::write_help(out, "redis_errors_total", "counter", "Calls that failed.");
    obs::write_sample(out, "redis_errors_total", "", static_cast<double>(st.errors));
    obs::write_help(out, "redis_retries_total", "counter", "Retried calls.");
    obs::write_sample(out, "redis_retries_total", "", static_cast<double>(st.retries));
    obs::write_help(out, "redis_reconnects_total", "counter", "Down-to-up transitions.");
    obs::write_sample(out, "redis_reconnects_total", "", static_cast<double>(st.reconnects));
    obs::write_help(out, "redis_health_checks_total", "counter", "PINGs sent to idle connections.");
    obs::write_sample(out, "redis_health_checks_total", "", static_cast<double>(st.health_checks));
    if (impl_->tiered) {
        render_recovery_metrics(out, impl_->tiered->recovery(), impl_->l2->stale_reads());
    }
}

Task<void> RedisParts::close() {
    // The cache's replay task uses the pool: stop it first.
    if (impl_->tiered) {
        co_await impl_->tiered->close();
    }
    co_await impl_->subscriber.close();
    co_await impl_->pool.close();
}

}  // namespace confidant::app
