#include "cache/tiered/tiered_cache.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <mutex>
#include <random>
#include <unordered_set>

#include "core/log_exception.hpp"

namespace confidant::cache {
namespace {

namespace asio = boost::asio;

std::string random_instance_id() {
    std::random_device rd;
    const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::uint64_t relaxed(const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
}

void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) {
    a.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

// Shared with the bus callbacks, which may outlive the TieredCache (there is no unsubscribe),
// and with the replay task.
struct TieredCache::Shared {
    std::mutex mu;
    LocalCache* l1 = nullptr;  // null once the TieredCache is gone
    std::string instance_id;
    // Bumped before every L1 invalidation, so a get() racing with one does not re-fill L1 with
    // the value it read from L2 before the invalidation.
    std::atomic<std::uint64_t> epoch{0};
    std::atomic<std::uint64_t> remote{0};

    // Invalidations waiting for replay, under mu.
    std::unordered_set<std::string> keys;
    std::unordered_set<std::string> patterns;
    bool all = false;        // an L2 invalidate_all() is pending (overflow or a failed one)
    bool replaying = false;  // the replay task runs
    bool closed = false;
    std::chrono::steady_clock::time_point episode_start{};
    // True from the first deferral until the replay task has emptied the sets: L1 misses do
    // not read L2 meanwhile. Read without the lock on the read path.
    std::atomic<bool> suspended{false};

    std::atomic<std::uint64_t> deferred{0};
    std::atomic<std::uint64_t> replays{0};
    std::atomic<std::uint64_t> replayed{0};
    std::atomic<std::uint64_t> replay_failures{0};
    std::atomic<std::uint64_t> full_invalidations{0};
    std::atomic<std::uint64_t> l2_reads_skipped{0};
    std::atomic<std::uint64_t> l1_flushes_resubscribed{0};
    std::atomic<std::uint64_t> l1_flushes_remote{0};

    std::size_t pending_locked() const { return keys.size() + patterns.size(); }

    void flush_l1(std::atomic<std::uint64_t>& counter) {
        std::lock_guard lock(mu);
        if (l1 == nullptr) {
            return;
        }
        epoch.fetch_add(1);
        l1->clear();
        bump(counter);
    }

    void on_message(std::string_view message) {
        const auto sp = message.find(' ');
        if (sp == std::string_view::npos || message.substr(0, sp) == instance_id) {
            return;
        }
        const std::string_view rest = message.substr(sp + 1);
        if (rest.size() < 4 || rest[3] != ' ') {
            return;
        }
        const std::string_view op = rest.substr(0, 3);
        const std::string_view arg = rest.substr(4);
        if (op == "clr") {
            flush_l1(l1_flushes_remote);
            remote.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        std::lock_guard lock(mu);
        if (l1 == nullptr) {
            return;
        }
        if (op == "del") {
            epoch.fetch_add(1);
            l1->erase(arg);
        } else if (op == "pat") {
            epoch.fetch_add(1);
            l1->erase_matching(arg);
        } else {
            return;
        }
        remote.fetch_add(1, std::memory_order_relaxed);
    }
};

// One replay attempt's share of the pending invalidations.
struct TieredCache::Batch {
    std::vector<std::string> keys;
    std::vector<std::string> patterns;
    bool all = false;
    std::size_t size() const { return keys.size() + patterns.size() + (all ? 1 : 0); }
};

TieredCache::TieredCache(const TieredCacheSettings& settings, LocalCache& l1, Cache& l2,
                         InvalidationBus* bus)
    : settings_(settings),
      instance_id_(settings.instance_id.empty() ? random_instance_id() : settings.instance_id),
      l1_(l1),
      l2_(l2),
      bus_(bus),
      shared_(std::make_shared<Shared>()) {
    if (settings_.l1_ttl.count() <= 0) {
        settings_.l1_ttl = std::chrono::seconds{5};
    }
    if (settings_.replay_interval.count() <= 0) {
        settings_.replay_interval = std::chrono::milliseconds{100};
    }
    if (settings_.max_pending_invalidations == 0) {
        settings_.max_pending_invalidations = 1;
    }
    shared_->l1 = &l1_;
    shared_->instance_id = instance_id_;
    if (bus_ != nullptr) {
        bus_->subscribe([sub = shared_](std::string_view m) { sub->on_message(m); });
        bus_->on_resubscribed([sub = shared_] { sub->flush_l1(sub->l1_flushes_resubscribed); });
    }
}

TieredCache::~TieredCache() {
    std::lock_guard lock(shared_->mu);
    shared_->l1 = nullptr;
    shared_->closed = true;
    if (shared_->replaying) {
        spdlog::error("cache: TieredCache destroyed while its replay task runs (close() first)");
    }
}

std::uint64_t TieredCache::remote_invalidations() const { return relaxed(shared_->remote); }

TieredCacheRecovery TieredCache::recovery() const {
    TieredCacheRecovery r;
    {
        std::lock_guard lock(shared_->mu);
        r.pending = shared_->pending_locked();
        r.overflowed = shared_->all;
    }
    r.l2_reads_suspended = shared_->suspended.load(std::memory_order_acquire);
    r.deferred = relaxed(shared_->deferred);
    r.replays = relaxed(shared_->replays);
    r.replayed = relaxed(shared_->replayed);
    r.replay_failures = relaxed(shared_->replay_failures);
    r.full_invalidations = relaxed(shared_->full_invalidations);
    r.l2_reads_skipped = relaxed(shared_->l2_reads_skipped);
    r.l1_flushes_resubscribed = relaxed(shared_->l1_flushes_resubscribed);
    r.l1_flushes_remote = relaxed(shared_->l1_flushes_remote);
    return r;
}

Task<std::optional<std::string>> TieredCache::get(std::string_view key) {
    if (auto hit = l1_.get_sync(key)) {
        co_return hit;
    }
    if (shared_->suspended.load(std::memory_order_acquire)) {
        // L2 may still hold what a failed deletion should have removed.
        bump(shared_->l2_reads_skipped);
        co_return std::nullopt;
    }
    const std::uint64_t epoch = shared_->epoch.load();
    auto value = co_await l2_.get(key);
    if (value && shared_->epoch.load() == epoch) {
        l1_.set_sync(key, *value, settings_.l1_ttl);
        // An invalidation may have slipped in between the check and the fill: undo the fill.
        if (shared_->epoch.load() != epoch) {
            l1_.erase(key);
        }
    }
    co_return value;
}

Task<void> TieredCache::set(std::string_view key, std::string value, std::chrono::seconds ttl) {
    const auto l1_ttl = ttl.count() > 0 ? std::min(ttl, settings_.l1_ttl) : settings_.l1_ttl;
    co_await l2_.set(key, value, ttl);
    l1_.set_sync(key, std::move(value), l1_ttl);
    if (settings_.publish_on_set) {
        co_await publish("del", key);
    }
}

Task<void> TieredCache::del(std::string_view key) {
    const bool stored = co_await l2_.try_del(key);
    shared_->epoch.fetch_add(1);
    l1_.erase(key);
    const bool published = co_await publish("del", key);
    if (!stored || !published) {
        co_await defer(std::string(key), {}, false);
    }
}

Task<std::int64_t> TieredCache::del_pattern(std::string_view pattern) {
    const auto deleted = co_await l2_.try_del_pattern(pattern);
    shared_->epoch.fetch_add(1);
    l1_.erase_matching(pattern);
    const bool published = co_await publish("pat", pattern);
    if (!deleted || !published) {
        co_await defer({}, std::string(pattern), false);
    }
    co_return deleted.value_or(0);
}

Task<bool> TieredCache::invalidate_all() {
    const bool stored = co_await l2_.invalidate_all();
    if (stored) {
        bump(shared_->full_invalidations);
    }
    shared_->epoch.fetch_add(1);
    l1_.clear();
    const bool published = co_await publish("clr", "*");
    if (!stored || !published) {
        co_await defer({}, {}, true);
        co_return false;
    }
    co_return true;
}

Task<CacheStats> TieredCache::stats() {
    CacheStats s = co_await l2_.stats();
    s.l1 = l1_.tier_stats();
    s.hits += s.l1.hits;
    s.misses += relaxed(shared_->l2_reads_skipped);
    co_return s;
}

Task<bool> TieredCache::publish(std::string_view op, std::string_view arg) {
    if (bus_ == nullptr) {
        co_return true;
    }
    std::string message;
    message.reserve(instance_id_.size() + op.size() + arg.size() + 2);
    message.append(instance_id_).append(" ").append(op).append(" ").append(arg);
    co_return co_await bus_->publish(message);
}

Task<void> TieredCache::defer(std::string key, std::string pattern, bool all) {
    bool start = false;
    bool overflowed = false;
    {
        std::lock_guard lock(shared_->mu);
        Shared& s = *shared_;
        bump(s.deferred);
        if (all) {
            s.all = true;
        } else if (!s.all) {
            if (!key.empty() || pattern.empty()) {
                s.keys.insert(std::move(key));
            } else {
                s.patterns.insert(std::move(pattern));
            }
            if (s.pending_locked() > settings_.max_pending_invalidations) {
                s.all = true;
                overflowed = true;
            }
        }
        if (s.all) {
            // One invalidate_all() covers every key and pattern.
            s.keys.clear();
            s.patterns.clear();
        }
        s.suspended.store(true, std::memory_order_release);
        if (!s.replaying && !s.closed) {
            s.replaying = true;
            s.episode_start = std::chrono::steady_clock::now();
            start = true;
        }
    }
    if (overflowed) {
        spdlog::warn(
            "cache: more than {} invalidations waiting; the whole L2 will be invalidated instead",
            settings_.max_pending_invalidations);
    }
    if (start) {
        spdlog::warn(
            "cache: an invalidation did not reach Redis; L2 reads suspended on this instance, "
            "replaying every {} ms",
            settings_.replay_interval.count());
        asio::co_spawn(co_await asio::this_coro::executor, replay_loop(shared_),
                       [](std::exception_ptr e) { log_if_exception("cache: replay", e); });
    }
}

Task<void> TieredCache::replay_loop(std::shared_ptr<Shared> shared) {
    Shared& s = *shared;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::uint64_t applied = 0;
    std::size_t abandoned = 0;
    bool finished = false;
    for (;;) {
        Batch batch;
        {
            std::lock_guard lock(s.mu);
            if (s.closed) {
                abandoned = s.pending_locked() + (s.all ? 1 : 0);
                s.replaying = false;
                break;
            }
            if (s.keys.empty() && s.patterns.empty() && !s.all) {
                // Nothing left: reads may reach L2 again. Taken under the lock, so a deferral
                // racing with this either was in the last batch or starts a new task.
                s.replaying = false;
                s.suspended.store(false, std::memory_order_release);
                finished = true;
                break;
            }
            batch.keys.assign(s.keys.begin(), s.keys.end());
            batch.patterns.assign(s.patterns.begin(), s.patterns.end());
            batch.all = s.all;
            s.keys.clear();
            s.patterns.clear();
            s.all = false;
        }
        const bool ok = co_await apply(batch);
        if (ok) {
            bump(s.replays);
            bump(s.replayed, batch.size());
            applied += batch.size();
            continue;
        }
        bump(s.replay_failures);
        {
            // Put the batch back (deletions are idempotent, so the next attempt repeats it).
            std::lock_guard lock(s.mu);
            if (batch.all) {
                s.all = true;
            }
            if (!s.all) {
                s.keys.insert(batch.keys.begin(), batch.keys.end());
                s.patterns.insert(batch.patterns.begin(), batch.patterns.end());
                if (s.pending_locked() > settings_.max_pending_invalidations) {
                    s.all = true;
                }
            }
            if (s.all) {
                s.keys.clear();
                s.patterns.clear();
            }
        }
        timer.expires_after(settings_.replay_interval);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (finished) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - s.episode_start)
                            .count();
        spdlog::info("cache: replayed {} invalidation(s) after {} ms; L2 reads resumed", applied,
                     ms);
    } else if (abandoned > 0) {
        spdlog::warn("cache: closing with {} invalidation(s) not replayed", abandoned);
    }
}

Task<bool> TieredCache::apply(const Batch& batch) {
    if (batch.all) {
        const bool cleared = co_await l2_.invalidate_all();
        if (!cleared) {
            co_return false;
        }
        bump(shared_->full_invalidations);
        co_return co_await publish("clr", "*");
    }
    if (!batch.keys.empty()) {
        const bool deleted = co_await l2_.try_del_many(batch.keys);
        if (!deleted) {
            co_return false;
        }
    }
    for (const auto& p : batch.patterns) {
        const auto deleted = co_await l2_.try_del_pattern(p);
        if (!deleted) {
            co_return false;
        }
    }
    // Published after L2 is clean, so an instance that drops its L1 copy cannot re-read the
    // stale value from L2.
    if (batch.keys.size() + batch.patterns.size() > settings_.max_published_invalidations) {
        co_return co_await publish("clr", "*");
    }
    for (const auto& k : batch.keys) {
        const bool sent = co_await publish("del", k);
        if (!sent) {
            co_return false;
        }
    }
    for (const auto& p : batch.patterns) {
        const bool sent = co_await publish("pat", p);
        if (!sent) {
            co_return false;
        }
    }
    co_return true;
}

Task<void> TieredCache::close() {
    {
        std::lock_guard lock(shared_->mu);
        shared_->closed = true;
    }
    // The task notices `closed` after its current L2 call or pause.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto deadline =
        std::chrono::steady_clock::now() + settings_.replay_interval + std::chrono::seconds(10);
    for (;;) {
        {
            std::lock_guard lock(shared_->mu);
            if (!shared_->replaying) {
                co_return;
            }
        }
        if (std::chrono::steady_clock::now() > deadline) {
            spdlog::error("cache: the replay task did not stop within 10 s");
            co_return;
        }
        timer.expires_after(std::chrono::milliseconds(5));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

}  // namespace confidant::cache
