#include "app/collectors.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "app/redis_parts.hpp"
#include "cache/cache.hpp"
#include "cache/local/local_cache.hpp"
#include "llm/resilience/resilient_provider.hpp"

namespace confidant::app {

namespace {

void cache_metrics(std::string& out, const cache::LocalCache& local, RedisParts* redis) {
    // Only figures that are read without I/O; Redis-side totals (keys, memory) are on
    // /admin/cache_stats.
    const auto l1 = local.tier_stats();
    const bool tiered = redis != nullptr;
    const auto [l2_hits, l2_misses] =
        tiered ? redis->cache_counters() : std::pair<std::uint64_t, std::uint64_t>{0, 0};
    obs::write_help(out, "cache_requests_total", "counter", "Cache lookups by tier and result.");
    obs::write_sample(out, "cache_requests_total", R"(tier="l1",result="hit")",
                      static_cast<double>(l1.hits));
    obs::write_sample(out, "cache_requests_total", R"(tier="l1",result="miss")",
                      static_cast<double>(l1.misses));
    if (tiered) {
        obs::write_sample(out, "cache_requests_total", R"(tier="l2",result="hit")",
                          static_cast<double>(l2_hits));
        obs::write_sample(out, "cache_requests_total", R"(tier="l2",result="miss")",
                          static_cast<double>(l2_misses));
    }
    obs::write_help(out, "cache_evictions_total", "counter",
                    "Entries evicted from the in-process tier.");
    obs::write_sample(out, "cache_evictions_total", R"(tier="l1")",
                      static_cast<double>(l1.evictions));
    obs::write_help(out, "cache_admission_rejections_total", "counter",
                    "Candidates refused by TinyLFU admission.");
    obs::write_sample(out, "cache_admission_rejections_total", R"(tier="l1")",
                      static_cast<double>(l1.rejections));
    obs::write_help(out, "cache_entries", "gauge", "Entries in the in-process tier.");
    obs::write_sample(out, "cache_entries", R"(tier="l1")", static_cast<double>(l1.entries));
    obs::write_help(out, "cache_bytes", "gauge", "Bytes charged to the in-process tier.");
    obs::write_sample(out, "cache_bytes", R"(tier="l1")", static_cast<double>(l1.bytes));
}

void llm_metrics(std::string& out, llm::ResilientProvider& p) {
    const auto st = p.stats();
    obs::write_help(out, "llm_calls_total", "counter",
                    "Model calls made by clients of the provider.");
    obs::write_sample(out, "llm_calls_total", "", static_cast<double>(st.calls));
    obs::write_help(out, "llm_attempts_total", "counter",
                    "Attempts sent to the provider (retries included).");
    obs::write_sample(out, "llm_attempts_total", "", static_cast<double>(st.attempts));
    obs::write_help(out, "llm_retries_total", "counter", "Retried attempts.");
    obs::write_sample(out, "llm_retries_total", "", static_cast<double>(st.retries));
    obs::write_help(out, "llm_rejected_total", "counter",
                    "Calls refused without touching the provider.");
    obs::write_sample(out, "llm_rejected_total", R"(reason="circuit_open")",
                      static_cast<double>(st.rejected_by_breaker));
    obs::write_sample(out, "llm_rejected_total", R"(reason="bulkhead_full")",
                      static_cast<double>(st.rejected_by_bulkhead));
    obs::write_help(out, "llm_failures_total", "counter", "Failed calls by kind.");
    for (std::size_t i = 0; i < st.failures.size(); ++i) {
        if (st.failures[i] != 0) {
            obs::write_sample(
                out, "llm_failures_total",
                fmt::format(R"(kind="{}")", llm::to_string(static_cast<llm::FailureKind>(i))),
                static_cast<double>(st.failures[i]));
        }
    }
    obs::write_help(out, "llm_in_flight", "gauge", "Model calls in flight.");
    obs::write_sample(out, "llm_in_flight", "", static_cast<double>(st.in_flight));
    obs::write_help(out, "llm_circuit_breaker_state", "gauge", "0 closed, 1 half-open, 2 open.");
    for (const auto& b : p.breakers()) {
        const double v = b.state == "open" ? 2 : b.state == "half_open" ? 1 : 0;
        obs::write_sample(out, "llm_circuit_breaker_state",
                          fmt::format(R"(name="{}")", obs::escape_label(b.name)), v);
    }
}

}  // namespace

void add_collectors(obs::MetricsRegistry& registry, const cache::LocalCache* l1,
                    llm::ResilientProvider* llm, RedisParts* redis) {
    if (l1 != nullptr) {
        registry.add([l1, redis](std::string& out) { cache_metrics(out, *l1, redis); });
    }
    if (llm != nullptr) {
        registry.add([llm](std::string& out) { llm_metrics(out, *llm); });
    }
    if (redis != nullptr) {
        registry.add([redis](std::string& out) { redis->render_metrics(out); });
    }
}

}  // namespace confidant::app
