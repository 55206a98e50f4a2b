#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace confidant::bench {

/// Zipf(s) ranks in [0, n) (0 the most popular), deterministic for a given seed on every
/// platform: uniform doubles come from raw mt19937_64 bits, not a std distribution.
class ZipfGenerator {
  public:
    ZipfGenerator(std::size_t n, double s, std::uint64_t seed) : cdf_(n), rng_(seed) {
        double sum = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
            cdf_[i] = sum;
        }
        for (auto& c : cdf_) {
            c /= sum;
        }
    }

    std::size_t next() {
        const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
        const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
        return it == cdf_.end() ? cdf_.size() - 1 : static_cast<std::size_t>(it - cdf_.begin());
    }

  private:
    std::vector<double> cdf_;
    std::mt19937_64 rng_;
};

/// The cache key of trace item `k`: "k<decimal>" (written with to_chars: GCC 12 warns falsely
/// (-Wrestrict) on `"k" + std::to_string(k)`).
inline std::string trace_key(std::uint32_t k) {
    char buf[16] = {'k'};
    const auto end = std::to_chars(buf + 1, buf + sizeof buf, k).ptr;
    return std::string(buf, end);
}

inline std::vector<std::uint32_t> zipf_trace(std::size_t requests, std::size_t keys, double s,
                                             std::uint64_t seed) {
    ZipfGenerator gen(keys, s, seed);
    std::vector<std::uint32_t> trace(requests);
    for (auto& r : trace) {
        r = static_cast<std::uint32_t>(gen.next());
    }
    return trace;
}

/// A plain LRU of `capacity` keys: the baseline admission policies are measured against.
class LruSimulator {
  public:
    explicit LruSimulator(std::size_t capacity) : capacity_(capacity) { index_.reserve(capacity); }

    /// Records an access; true on a hit. A miss inserts the key, evicting the LRU one if full.
    bool access(std::uint32_t key) {
        auto it = index_.find(key);
        if (it != index_.end()) {
            order_.splice(order_.begin(), order_, it->second);
            return true;
        }
        if (index_.size() >= capacity_) {
            index_.erase(order_.back());
            order_.pop_back();
        }
        order_.push_front(key);
        index_.emplace(key, order_.begin());
        return false;
    }

  private:
    std::size_t capacity_;
    std::list<std::uint32_t> order_;
    std::unordered_map<std::uint32_t, std::list<std::uint32_t>::iterator> index_;
};

}  // namespace confidant::bench
