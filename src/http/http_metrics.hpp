#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/router.hpp"

namespace confidant::http {

/// `http_requests_total{method,route,status}` and `http_request_duration_seconds{method,route}`.
/// Lock-free on the request path: a fixed array of atomics per route, sized when the router is
/// final. Unmatched requests share one pseudo-route per method.
class HttpMetrics {
  public:
    explicit HttpMetrics(const Router& router);

    /// `route` is the matched route or nullptr.
    void observe(const Route* route, bhttp::verb method, unsigned status, double seconds);
    void render(std::string& out) const;

    std::atomic<std::int64_t> open_connections{0};
    std::atomic<std::uint64_t> accepted_connections{0};
    /// Connections closed at once because MAX_CONNECTIONS were open.
    std::atomic<std::uint64_t> refused_connections{0};
    /// accept() failures (EMFILE, ENFILE, ENOBUFS...) and faults inside the accept loop.
    std::atomic<std::uint64_t> accept_errors{0};
    /// MAX_CONNECTIONS as configured (0 = no limit); set once by the server.
    std::atomic<std::uint64_t> max_connections{0};

  private:
    static constexpr std::array<double, 14> kBuckets{
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
    static constexpr std::size_t kStatuses = 500;  // 100..599
    struct Slot {
        std::string method;
        std::string route;
        std::array<std::atomic<std::uint64_t>, kStatuses> by_status{};
        std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets{};
        std::atomic<std::uint64_t> count{0};
        std::atomic<std::uint64_t> sum_micros{0};
    };
    const Router& router_;
    std::vector<std::unique_ptr<Slot>> slots_;  // routes, then one per unmatched method
    std::size_t unmatched_base_;
};

}  // namespace confidant::http
