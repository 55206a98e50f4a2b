#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace confidant::llm {

/// The circuit breaker around one provider (count-based sliding window).
struct CircuitBreakerSettings {
    int window_size = 20;                   ///< the last N call outcomes are judged
    int minimum_calls = 10;                 ///< calls in the window before any rate is evaluated
    double failure_rate_threshold = 0.5;    ///< 0..1; reaching it opens the breaker
    double slow_call_rate_threshold = 0.8;  ///< 0..1; reaching it opens the breaker
    /// A call lasting this long is slow (a stream: its time to first delta).
    std::chrono::milliseconds slow_call_duration{std::chrono::seconds(10)};
    std::chrono::milliseconds open_duration{std::chrono::seconds(30)};  ///< OPEN, then HALF_OPEN
    int half_open_max_calls = 3;  ///< trial calls allowed while HALF_OPEN
};

/// Everything `ResilientProvider` does around a provider (configured from `LLM_*` variables).
struct ResilienceSettings {
    /// One non-streamed attempt. Streams use the two stream timeouts instead.
    std::chrono::milliseconds attempt_timeout{std::chrono::seconds(20)};
    /// The whole call, across retries and including a whole stream.
    std::chrono::milliseconds deadline{std::chrono::seconds(45)};
    std::chrono::milliseconds first_token_timeout{std::chrono::seconds(15)};  ///< streams
    std::chrono::milliseconds stall_timeout{std::chrono::seconds(15)};  ///< streams: between deltas
    int max_retries = 2;  ///< retries after the first attempt
    std::chrono::milliseconds backoff_base{250};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(4)};
    /// Retry budget: retries may add at most this fraction to the call rate...
    double retry_budget_ratio = 0.2;
    /// ...plus this many retries per second regardless (so a quiet service can still retry).
    double retry_budget_min_per_s = 3.0;
    CircuitBreakerSettings breaker;
    /// Bulkhead: calls in flight at once; one more fails at once with `bulkhead_full`.
    std::size_t max_concurrent = 4096;
};

/// The offline provider: a deterministic local responder (no key, no network).
struct OfflineSettings {
    std::string model = "offline-companion";
    std::chrono::milliseconds latency{0};  ///< simulated wait before the reply (or first delta)
};

}  // namespace confidant::llm
