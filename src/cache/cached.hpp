#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>

#include "cache/cache.hpp"
#include "cache/single_flight.hpp"
#include "core/clock.hpp"
#include "core/task.hpp"

namespace confidant::cache {

struct CachedSettings {
    /// TTL used when a call passes a TTL <= 0.
    std::chrono::seconds default_ttl{600};
    /// A read that finds a value in the last `early_refresh_fraction` of its TTL returns it and
    /// starts one background reload (0 disables early refresh).
    double early_refresh_fraction = 0.1;
    /// get_or_load_optional: how long a "not found" answer is cached. 0 (the default) caches
    /// nothing, so every lookup of a missing item reaches the loader (still single-flighted).
    std::chrono::seconds negative_ttl{0};
    /// Schema version of the stored envelope (see codec.hpp). Bump it when cached payloads change
    /// shape: entries written under another version read as misses and are reloaded.
    std::uint32_t schema_version = 1;
};

/// The seed's `@cached(prefix, ttl)`: read-through caching of a loader's result in a Cache.
///
/// Stored values are envelopes `codec(schema_version, kind | expires_unix_ms | ttl_ms | payload)`,
/// so a value carries its own wall-clock expiry (shared across instances through Redis) and a
/// value written by another schema or by foreign code reads as a miss. Misses are single-flighted
/// per key (one loader run per instance however many callers). A hit in the last
/// `early_refresh_fraction` of the TTL returns the current value and starts exactly one
/// background reload per key and instance (co_spawned on the reader's executor).
///
/// Thread-safe. The Cache, the SingleFlight and this object must outlive background refreshes:
/// check refreshes_in_flight() == 0 (or stop the io_contexts) before destroying them.
class Cached {
  public:
    using Loader = std::function<Task<std::string>()>;
    using OptionalLoader = std::function<Task<std::optional<std::string>>()>;

    Cached(Cache& cache, SingleFlight<std::string>& flight, const CachedSettings& settings = {},
           const Clock& clock = Clock::real());
    Cached(const Cached&) = delete;
    Cached& operator=(const Cached&) = delete;

    /// `prefix:arg1:arg2...`. Integers (and enums, bools as 0/1) are printed in decimal; strings
    /// are percent-encoded for `%`, `:`, the glob metacharacters `*?[]\` and control bytes, so
    /// ("a:b", "c") and ("a", "b:c") give different keys and `prefix:*` globs stay exact.
    /// The prefix itself is used verbatim.
    template <class... Args>
    static std::string make_key(std::string_view prefix, const Args&... args) {
        std::string key(prefix);
        (append_part(key, args), ...);
        return key;
    }

    /// The cached value of `key`, or the loader's result (stored with `ttl`, <= 0 = default).
    /// Loader exceptions propagate to every caller waiting on that load; nothing is stored.
    Task<std::string> get_or_load(std::string key, std::chrono::seconds ttl, Loader loader);

    /// Like get_or_load for loaders that may find nothing (nullopt). "Not found" is returned to
    /// the caller and cached only when settings.negative_ttl > 0 (for min(negative_ttl, ttl)).
    Task<std::optional<std::string>> get_or_load_optional(std::string key, std::chrono::seconds ttl,
                                                          OptionalLoader loader);

    /// Deletes the entry make_key(prefix, args...) from the cache (every tier).
    template <class... Args>
    Task<void> invalidate(std::string_view prefix, const Args&... args) {
        return invalidate_key(make_key(prefix, args...));
    }
    Task<void> invalidate_key(std::string key);

    /// Deletes every entry matching a Redis glob; returns how many the backing tier deleted.
    Task<std::int64_t> invalidate_pattern(std::string pattern);

    /// Background refreshes started and not yet finished.
    std::size_t refreshes_in_flight() const { return refreshes_in_flight_.load(); }

    /// Percent-encodes one string key part (see make_key).
    static void append_escaped(std::string& out, std::string_view part);

  private:
    template <class A>
    static void append_part(std::string& key, const A& arg) {
        key.push_back(':');
        if constexpr (std::is_same_v<A, bool>) {
            key.push_back(arg ? '1' : '0');
        } else if constexpr (std::is_integral_v<A>) {
            key += std::to_string(arg);
        } else if constexpr (std::is_enum_v<A>) {
            key += std::to_string(static_cast<std::underlying_type_t<A>>(arg));
        } else if constexpr (std::is_convertible_v<const A&, std::string_view>) {
            append_escaped(key, std::string_view(arg));
        } else {
            static_assert(std::is_integral_v<A>, "make_key takes integers, enums and strings");
        }
    }

    struct Envelope;

    std::function<Task<std::string>()> make_fill(std::string key, std::chrono::seconds ttl,
                                                 OptionalLoader loader);
    std::string encode_envelope(const std::optional<std::string>& value,
                                std::chrono::milliseconds ttl) const;
    std::optional<Envelope> decode_envelope(std::string_view bytes) const;
    Task<void> start_refresh(std::string key, std::chrono::seconds ttl, OptionalLoader loader);

    Cache& cache_;
    SingleFlight<std::string>& flight_;
    CachedSettings settings_;
    const Clock& clock_;
    std::mutex mu_;
    std::unordered_set<std::string> refreshing_;
    std::atomic<std::size_t> refreshes_in_flight_{0};
};

}  // namespace confidant::cache
