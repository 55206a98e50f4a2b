#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "cache/local/local_cache.hpp"

namespace {

using confidant::cache::LocalCache;
using namespace std::chrono_literals;

constexpr std::size_t kKeys = 10'000;

std::vector<std::string> make_keys() {
    std::vector<std::string> keys;
    keys.reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) {
        keys.push_back("user:" + std::to_string(100'000 + i) + ":profile");
    }
    return keys;
}

// A /v1/me-sized JSON profile.
const std::string kValue(
    R"({"id":"0b7c6c2e-6d0a-4b7e-9b1c-3f2a9f1d2e4c","email":"someone@example.com",)"
    R"("display_name":"Someone","companion_persona":"warm","created_at":"2026-01-01T00:00:00Z"})");

LocalCache& shared_cache() {
    static LocalCache cache({.max_entries = 100'000});
    static const bool filled = [] {
        for (const auto& k : make_keys()) {
            cache.set_sync(k, kValue, 3600s);
        }
        return true;
    }();
    (void)filled;
    return cache;
}

void BM_LocalCacheGetHit(benchmark::State& state) {
    LocalCache& cache = shared_cache();
    static const std::vector<std::string> keys = make_keys();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
    for (auto _ : state) {
        auto v = cache.get_sync(keys[i % kKeys]);
        benchmark::DoNotOptimize(v);
        i += 13;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LocalCacheGetHit)->Threads(1)->Threads(2)->UseRealTime();

void BM_LocalCacheGetMiss(benchmark::State& state) {
    LocalCache& cache = shared_cache();
    const std::string key = "absent:key";
    for (auto _ : state) {
        auto v = cache.get_sync(key);
        benchmark::DoNotOptimize(v);
    }
}
BENCHMARK(BM_LocalCacheGetMiss);

void BM_LocalCacheSet(benchmark::State& state) {
    // Overwrites of resident keys plus inserts that evict: a 10k-key cycle over 5k capacity.
    static LocalCache cache({.max_entries = 5'000});
    static const std::vector<std::string> keys = make_keys();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
    for (auto _ : state) {
        cache.set_sync(keys[i % kKeys], kValue, 3600s);
        i += 13;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LocalCacheSet)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
