#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

#include "core/error.hpp"
#include "options.hpp"

namespace confidant::emulator {

/// What an injected failure looks like on the wire.
enum class Fault {
    none,
    internal,      ///< 500 INTERNAL
    unavailable,   ///< 503 UNAVAILABLE
    rate_limited,  ///< 429 RESOURCE_EXHAUSTED with RetryInfo and Retry-After
    daily_quota,   ///< 429 RESOURCE_EXHAUSTED, per-day quota, no RetryInfo
};

/// The decision for one model request.
struct Plan {
    Fault fault = Fault::none;
    Knobs knobs;                         ///< Snapshot taken when the request was planned.
    std::chrono::milliseconds delay{0};  ///< Latency + jitter before the answer/first chunk.
};

/// The emulator's run-time state: knobs, fault counters, outage window and statistics.
/// Thread-safe: every method may be called from any I/O thread.
class Behavior {
  public:
    explicit Behavior(const Options& options);

    /// Counts one model request (also ones that fail validation or auth).
    void count_request() noexcept { requests_.fetch_add(1, std::memory_order_relaxed); }

    /// Draws the outcome of a valid model request. Order: outage, fail_next, rate_limit_next,
    /// then one uniform draw split into daily_quota_rate / rate_limit_rate / error_rate.
    /// Draws depend only on the seed and the request's sequence number.
    Plan plan();

    /// Applies a `/control` object (every key validated before any is applied).
    /// Returns an error message for an unknown key or a bad value.
    std::optional<std::string> apply_control(const boost::json::object& control);

    /// The current settings as `/control` reports them.
    boost::json::object settings() const;

    /// `{"requests": n, ...}` for `/stats`.
    boost::json::object stats() const;
    void reset_stats() noexcept { requests_.store(0, std::memory_order_relaxed); }

    void connection_opened() noexcept { connections_.fetch_add(1, std::memory_order_relaxed); }
    void connection_closed() noexcept { connections_.fetch_sub(1, std::memory_order_relaxed); }

    Knobs knobs() const;

  private:
    bool in_outage_window(std::chrono::steady_clock::time_point now) const;
    static bool take_one(std::atomic<std::int64_t>& counter) noexcept;

    const std::uint64_t seed_;
    const std::chrono::steady_clock::time_point start_;
    const std::optional<double> outage_after_s_;
    const std::optional<double> outage_for_s_;

    mutable std::mutex mutex_;
    Knobs knobs_;  // guarded by mutex_

    std::atomic<bool> outage_{false};
    std::atomic<std::int64_t> fail_next_;
    std::atomic<std::int64_t> rate_limit_next_;
    std::atomic<std::uint64_t> sequence_{0};
    std::atomic<std::int64_t> requests_{0};
    std::atomic<std::int64_t> connections_{0};
};

/// SplitMix64: a small, stable mixing function for deterministic draws and hashes.
std::uint64_t mix64(std::uint64_t x) noexcept;

}  // namespace confidant::emulator
