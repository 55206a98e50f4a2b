#include "cache/cached.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "cache/codec.hpp"

namespace confidant::cache {
namespace {

constexpr char kFound = 'V';
constexpr char kNotFound = 'N';

void put_varint(std::string& out, std::uint64_t v) {
    do {
        auto byte = static_cast<unsigned char>(v & 0x7Fu);
        v >>= 7;
        if (v != 0) {
            byte |= 0x80u;
        }
        out.push_back(static_cast<char>(byte));
    } while (v != 0);
}

bool get_varint(std::string_view& in, std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
        if (in.empty()) {
            return false;
        }
        const auto byte = static_cast<unsigned char>(in.front());
        in.remove_prefix(1);
        v |= static_cast<std::uint64_t>(byte & 0x7Fu) << shift;
        if ((byte & 0x80u) == 0) {
            return true;
        }
    }
    return false;
}

std::int64_t to_unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

struct Cached::Envelope {
    bool found = false;
    std::int64_t expires_ms = 0;
    std::int64_t ttl_ms = 0;
    std::string_view payload;
};

Cached::Cached(Cache& cache, SingleFlight<std::string>& flight, const CachedSettings& settings,
               const Clock& clock)
    : cache_(cache), flight_(flight), settings_(settings), clock_(clock) {
    if (settings_.default_ttl.count() <= 0) {
        settings_.default_ttl = std::chrono::seconds{600};
    }
}

void Cached::append_escaped(std::string& out, std::string_view part) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char c : part) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '%' || c == ':' || c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' ||
            u < 0x20 || u == 0x7F) {
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0xF]);
        } else {
            out.push_back(c);
        }
    }
}

std::string Cached::encode_envelope(const std::optional<std::string>& value,
                                    std::chrono::milliseconds ttl) const {
    std::string body;
    body.reserve((value ? value->size() : 0) + 24);
    body.push_back(value ? kFound : kNotFound);
    put_varint(body, static_cast<std::uint64_t>(to_unix_ms(clock_.system_now() + ttl)));
    put_varint(body, static_cast<std::uint64_t>(ttl.count()));
    if (value) {
        body.append(*value);
    }
    return codec::encode(settings_.schema_version, body);
}

std::optional<Cached::Envelope> Cached::decode_envelope(std::string_view bytes) const {
    auto body = codec::decode_view(settings_.schema_version, bytes);
    if (!body || body->empty() || ((*body)[0] != kFound && (*body)[0] != kNotFound)) {
        return std::nullopt;
    }
    Envelope e;
    e.found = (*body)[0] == kFound;
    std::string_view rest = body->substr(1);
    std::uint64_t expires = 0;
    std::uint64_t ttl = 0;
    if (!get_varint(rest, expires) || !get_varint(rest, ttl)) {
        return std::nullopt;
    }
    if (!e.found && !rest.empty()) {
        return std::nullopt;
    }
    e.expires_ms = static_cast<std::int64_t>(expires);
    e.ttl_ms = static_cast<std::int64_t>(ttl);
    e.payload = rest;
    return e;
}

std::function<Task<std::string>()> Cached::make_fill(std::string key, std::chrono::seconds ttl,
                                                     OptionalLoader loader) {
    // Runs once per flight: load, store, and hand the stored envelope to every waiter.
    return [this, key = std::move(key), ttl, loader = std::move(loader)]() -> Task<std::string> {
        std::optional<std::string> value = co_await loader();
        std::chrono::seconds store_ttl = ttl;
        if (!value) {
            store_ttl = std::min(settings_.negative_ttl, ttl);
        }
        std::string envelope = encode_envelope(value, store_ttl);
        if (store_ttl.count() > 0) {
            co_await cache_.set(key, envelope, store_ttl);
        }
        co_return envelope;
    };
}

Task<std::string> Cached::get_or_load(std::string key, std::chrono::seconds ttl, Loader loader) {
    // Named, not a temporary: GCC 12 destroys a capturing lambda built inside a co_await
    // expression twice (double free of the captured std::function).
    OptionalLoader optional_loader = [loader =
                                          std::move(loader)]() -> Task<std::optional<std::string>> {
        co_return co_await loader();
    };
    auto value = co_await get_or_load_optional(std::move(key), ttl, std::move(optional_loader));
    // Only an OptionalLoader can produce "not found"; a cached tombstone under this key would
    // come from a get_or_load_optional call sharing the key, which is a caller bug.
    if (!value) {
        throw std::logic_error("Cached::get_or_load: key holds a not-found entry");
    }
    co_return std::move(*value);
}

Task<std::optional<std::string>> Cached::get_or_load_optional(std::string key,
                                                              std::chrono::seconds ttl,
                                                              OptionalLoader loader) {
    if (ttl.count() <= 0) {
        ttl = settings_.default_ttl;
    }
    if (auto raw = co_await cache_.get(key)) {
        if (auto env = decode_envelope(*raw)) {
            const std::int64_t now_ms = to_unix_ms(clock_.system_now());
            if (now_ms < env->expires_ms) {
                const auto window = static_cast<std::int64_t>(static_cast<double>(env->ttl_ms) *
                                                              settings_.early_refresh_fraction);
                if (env->found && window > 0 && env->expires_ms - now_ms <= window) {
                    co_await start_refresh(key, ttl, loader);
                }
                if (!env->found) {
                    co_return std::nullopt;
                }
                co_return std::string(env->payload);
            }
        }
    }
    const std::string envelope = co_await flight_.run(key, make_fill(key, ttl, std::move(loader)));
    const auto env = decode_envelope(envelope);
    if (!env || !env->found) {
        co_return std::nullopt;
    }
    co_return std::string(env->payload);
}

Task<void> Cached::start_refresh(std::string key, std::chrono::seconds ttl, OptionalLoader loader) {
    {
        std::lock_guard lock(mu_);
        if (!refreshing_.insert(key).second) {
            co_return;
        }
    }
    ++refreshes_in_flight_;
    auto executor = co_await boost::asio::this_coro::executor;
    auto fill = make_fill(key, ttl, std::move(loader));
    boost::asio::co_spawn(
        executor,
        [this, key, fill = std::move(fill)]() -> Task<void> {
            // co_spawn starts inline when already on `executor`: yield first, so the reader that
            // noticed the near-expiry returns the current value without waiting for the loader.
            co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                                       boost::asio::use_awaitable);
            co_await flight_.run(key, fill);
        },
        [this, key](std::exception_ptr error) {
            if (error) {
                try {
                    std::rethrow_exception(error);
                } catch (const std::exception& e) {
                    spdlog::warn("cache: early refresh of {} failed: {}", key, e.what());
                } catch (...) {
                    spdlog::warn("cache: early refresh of {} failed: non-standard exception", key);
                }
            }
            {
                std::lock_guard lock(mu_);
                refreshing_.erase(key);
            }
            --refreshes_in_flight_;
        });
}

Task<void> Cached::invalidate_key(std::string key) { co_await cache_.del(key); }

Task<std::int64_t> Cached::invalidate_pattern(std::string pattern) {
    co_return co_await cache_.del_pattern(pattern);
}

}  // namespace confidant::cache
