// Hit rate of LocalCache (W-TinyLFU) against a plain LRU of the same capacity on a Zipf trace.
// Prints one JSON line. Usage: cache_sim [--shards N] [--requests N] [--keys N] [--capacity N]
//                                        [--s 0.99] [--seed N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cache/local/local_cache.hpp"
#include "cache_sim/trace.hpp"

namespace {

struct Options {
    std::size_t requests = 1'000'000;
    std::size_t keys = 100'000;
    std::size_t capacity = 10'000;
    std::size_t shards = 16;  // LocalCacheSettings default
    double s = 0.99;
    std::uint64_t seed = 20240601;
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* name = argv[i];
        const char* value = argv[i + 1];
        if (std::strcmp(name, "--requests") == 0) {
            o.requests = std::strtoull(value, nullptr, 10);
        } else if (std::strcmp(name, "--keys") == 0) {
            o.keys = std::strtoull(value, nullptr, 10);
        } else if (std::strcmp(name, "--capacity") == 0) {
            o.capacity = std::strtoull(value, nullptr, 10);
        } else if (std::strcmp(name, "--shards") == 0) {
            o.shards = std::strtoull(value, nullptr, 10);
        } else if (std::strcmp(name, "--s") == 0) {
            o.s = std::strtod(value, nullptr);
        } else if (std::strcmp(name, "--seed") == 0) {
            o.seed = std::strtoull(value, nullptr, 10);
        } else {
            std::fprintf(stderr, "unknown option %s\n", name);
            std::exit(2);
        }
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    using confidant::cache::LocalCache;
    const Options o = parse(argc, argv);
    const auto trace = confidant::bench::zipf_trace(o.requests, o.keys, o.s, o.seed);

    confidant::bench::LruSimulator lru(o.capacity);
    std::size_t lru_hits = 0;
    for (const auto k : trace) {
        lru_hits += lru.access(k) ? 1 : 0;
    }

    // Bytes are not the constraint here: only the entry bound is compared.
    LocalCache cache({.max_entries = o.capacity,
                      .max_bytes = std::size_t{1} << 32,
                      .shards = o.shards,
                      .default_ttl = std::chrono::hours(24)});
    std::size_t local_hits = 0;
    std::string key;
    const auto start = std::chrono::steady_clock::now();
    for (const auto k : trace) {
        key = confidant::bench::trace_key(k);
        if (cache.get_sync(key)) {
            ++local_hits;
        } else {
            cache.set_sync(key, "v", std::chrono::hours(24));
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const double n = static_cast<double>(o.requests);
    const double local_rate = static_cast<double>(local_hits) / n;
    const double lru_rate = static_cast<double>(lru_hits) / n;
    std::printf(
        "{\"bench\":\"cache_hit_rate\",\"trace\":\"zipf%g\",\"requests\":%zu,\"keys\":%zu,"
        "\"capacity\":%zu,\"shards\":%zu,\"local_hit_rate\":%.4f,\"lru_hit_rate\":%.4f,"
        "\"delta_points\":%.2f,\"local_ops_per_s\":%.0f}\n",
        o.s, o.requests, o.keys, o.capacity, o.shards, local_rate, lru_rate,
        100.0 * (local_rate - lru_rate), n / seconds);
    return 0;
}
