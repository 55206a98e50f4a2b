#include "http/http_metrics.hpp"

#include <fmt/format.h>

#include "obs/metrics.hpp"

namespace confidant::http {

namespace {
constexpr std::array<bhttp::verb, 8> kUnmatchedVerbs{
    bhttp::verb::get,     bhttp::verb::post, bhttp::verb::put,     bhttp::verb::patch,
    bhttp::verb::delete_, bhttp::verb::head, bhttp::verb::options, bhttp::verb::unknown};
}

HttpMetrics::HttpMetrics(const Router& router) : router_(router) {
    for (const auto& r : router.routes()) {
        auto s = std::make_unique<Slot>();
        s->method = std::string(bhttp::to_string(r.method));
        s->route = r.pattern;
        slots_.push_back(std::move(s));
    }
    unmatched_base_ = slots_.size();
    for (auto v : kUnmatchedVerbs) {
        auto s = std::make_unique<Slot>();
        s->method = v == bhttp::verb::unknown ? "OTHER" : std::string(bhttp::to_string(v));
        s->route = "unmatched";
        slots_.push_back(std::move(s));
    }
}

void HttpMetrics::observe(const Route* route, bhttp::verb method, unsigned status, double seconds) {
    Slot* slot = nullptr;
    if (route != nullptr) {
        slot = slots_[static_cast<std::size_t>(route - router_.routes().data())].get();
    } else {
        std::size_t i = kUnmatchedVerbs.size() - 1;
        for (std::size_t k = 0; k < kUnmatchedVerbs.size(); ++k) {
            if (kUnmatchedVerbs[k] == method) {
                i = k;
                break;
            }
        }
        slot = slots_[unmatched_base_ + i].get();
    }
    if (status >= 100 && status < 600) {
        slot->by_status[status - 100].fetch_add(1, std::memory_order_relaxed);
    }
    std::size_t b = 0;
    while (b < kBuckets.size() && seconds > kBuckets[b]) {
        ++b;
    }
    slot->buckets[b].fetch_add(1, std::memory_order_relaxed);
    slot->count.fetch_add(1, std::memory_order_relaxed);
    slot->sum_micros.fetch_add(static_cast<std::uint64_t>(seconds * 1e6),
                               std::memory_order_relaxed);
}

void HttpMetrics::render(std::string& out) const {
    obs::write_help(out, "http_requests_total", "counter",
                    "HTTP requests by method, route and status.");
    for (const auto& s : slots_) {
        for (std::size_t i = 0; i < kStatuses; ++i) {
            const auto n = s->by_status[i].load(std::memory_order_relaxed);
            if (n != 0) {
                obs::write_sample(out, "http_requests_total",
                                  fmt::format(R"(method="{}",route="{}",status="{}")", s->method,
                                              obs::escape_label(s->route), i + 100),
                                  static_cast<double>(n));
            }
        }
    }
    obs::write_help(out, "http_request_duration_seconds", "histogram",
                    "Time from a complete request head to the last byte of the answer.");
    for (const auto& s : slots_) {
        const auto count = s->count.load(std::memory_order_relaxed);
        if (count == 0) {
            continue;
        }
        const auto labels =
            fmt::format(R"(method="{}",route="{}")", s->method, obs::escape_label(s->route));
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b <= kBuckets.size(); ++b) {
            cumulative += s->buckets[b].load(std::memory_order_relaxed);
            const std::string le = b < kBuckets.size() ? fmt::format("{}", kBuckets[b]) : "+Inf";
            obs::write_sample(out, "http_request_duration_seconds_bucket",
                              fmt::format(R"({},le="{}")", labels, le),
                              static_cast<double>(cumulative));
        }
        obs::write_sample(out, "http_request_duration_seconds_sum", labels,
                          static_cast<double>(s->sum_micros.load(std::memory_order_relaxed)) / 1e6);
        obs::write_sample(out, "http_request_duration_seconds_count", labels,
                          static_cast<double>(count));
    }
    obs::write_help(out, "http_open_connections", "gauge", "Client connections open now.");
    obs::write_sample(out, "http_open_connections", "",
                      static_cast<double>(open_connections.load()));
    obs::write_help(out, "http_connections_accepted_total", "counter",
                    "Client connections accepted.");
    obs::write_sample(out, "http_connections_accepted_total", "",
                      static_cast<double>(accepted_connections.load()));
    obs::write_help(out, "http_connections_refused_total", "counter",
                    "Client connections closed at once because MAX_CONNECTIONS were open.");
    obs::write_sample(out, "http_connections_refused_total", "",
                      static_cast<double>(refused_connections.load()));
    obs::write_help(out, "http_accept_errors_total", "counter",
                    "Failed accepts (out of descriptors and the like); the listener backs off "
                    "and goes on.");
    obs::write_sample(out, "http_accept_errors_total", "",
                      static_cast<double>(accept_errors.load()));
    obs::write_help(out, "http_max_connections", "gauge",
                    "MAX_CONNECTIONS: client connections allowed at once (0 = no limit).");
    obs::write_sample(out, "http_max_connections", "", static_cast<double>(max_connections.load()));
}

}  // namespace confidant::http
