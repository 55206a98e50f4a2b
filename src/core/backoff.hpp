#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace confidant {

/// Exponential backoff with full jitter: a uniform draw in [0, min(max, base * 2^attempt)].
/// `attempt` counts from 0. Thread-safe (a thread-local generator).
inline std::chrono::milliseconds full_jitter_backoff(int attempt, std::chrono::milliseconds base,
                                                     std::chrono::milliseconds max) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const double cap =
        std::min<double>(static_cast<double>(max.count()),
                         static_cast<double>(base.count()) * double(1ULL << std::min(attempt, 30)));
    std::uniform_real_distribution<double> dist(0.0, cap);
    return std::chrono::milliseconds(static_cast<long long>(dist(rng)));
}

/// Exponential backoff clamped to [min, max] without jitter (the seed's Redis retry policy).
inline std::chrono::milliseconds bounded_exponential_backoff(int attempt,
                                                             std::chrono::milliseconds min,
                                                             std::chrono::milliseconds max) {
    const double v = static_cast<double>(min.count()) * double(1ULL << std::min(attempt, 30));
    return std::chrono::milliseconds(
        static_cast<long long>(std::min<double>(v, static_cast<double>(max.count()))));
}

}  // namespace confidant
