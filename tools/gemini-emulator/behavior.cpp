#include "behavior.hpp"

#include <boost/json/value.hpp>
#include <cmath>
#include <string>

namespace confidant::emulator {
namespace json = boost::json;

std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e37'79b9'7f4a'7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d0'49bb'1331'11ebULL;
    return x ^ (x >> 31);
}

namespace {

// A uniform double in [0, 1) from 53 bits of a mixed value.
double unit(std::uint64_t bits) noexcept { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

std::optional<double> as_number(const json::value& v) {
    if (v.is_int64()) {
        return static_cast<double>(v.get_int64());
    }
    if (v.is_uint64()) {
        return static_cast<double>(v.get_uint64());
    }
    if (v.is_double()) {
        return v.get_double();
    }
    return std::nullopt;
}

}  // namespace

Behavior::Behavior(const Options& options)
    : seed_(options.seed),
      start_(std::chrono::steady_clock::now()),
      outage_after_s_(options.outage_after_s),
      outage_for_s_(options.outage_for_s),
      knobs_(options.knobs),
      fail_next_(options.fail_first),
      rate_limit_next_(options.rate_limit_first) {}

Knobs Behavior::knobs() const {
    std::lock_guard lock(mutex_);
    return knobs_;
}

bool Behavior::in_outage_window(std::chrono::steady_clock::time_point now) const {
    if (!outage_after_s_ && !outage_for_s_) {
        return false;
    }
    const double t = std::chrono::duration<double>(now - start_).count();
    const double from = outage_after_s_.value_or(0.0);
    if (t < from) {
        return false;
    }
    return !outage_for_s_ || t < from + *outage_for_s_;
}

bool Behavior::take_one(std::atomic<std::int64_t>& counter) noexcept {
    std::int64_t n = counter.load(std::memory_order_relaxed);
    while (n > 0) {
        if (counter.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

Plan Behavior::plan() {
    Plan p;
    p.knobs = knobs();
    const std::uint64_t seq = sequence_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t base = mix64(seed_ ^ mix64(seq));
    const double fault_draw = unit(mix64(base + 1));
    const double jitter_draw = unit(mix64(base + 2));
    const bool pick_internal = (mix64(base + 3) & 1U) != 0;

    const auto& k = p.knobs;
    if (outage_.load(std::memory_order_relaxed) ||
        in_outage_window(std::chrono::steady_clock::now())) {
        p.fault = Fault::unavailable;
    } else if (take_one(fail_next_)) {
        p.fault = Fault::unavailable;
    } else if (take_one(rate_limit_next_)) {
        p.fault = Fault::rate_limited;
    } else if (fault_draw < k.daily_quota_rate) {
        p.fault = Fault::daily_quota;
    } else if (fault_draw < k.daily_quota_rate + k.rate_limit_rate) {
        p.fault = Fault::rate_limited;
    } else if (fault_draw < k.daily_quota_rate + k.rate_limit_rate + k.error_rate) {
        p.fault = pick_internal ? Fault::internal : Fault::unavailable;
    }
    auto jitter = static_cast<std::int64_t>(jitter_draw * static_cast<double>(k.jitter_ms + 1));
    p.delay = std::chrono::milliseconds(k.latency_ms + std::min(jitter, k.jitter_ms));
    return p;
}

std::optional<std::string> Behavior::apply_control(const json::object& control) {
    std::lock_guard lock(mutex_);
    Knobs k = knobs_;
    std::optional<bool> outage;
    std::optional<std::int64_t> fail_next;
    std::optional<std::int64_t> rate_limit_next;

    for (const auto& [key, value] : control) {
        if (key == "outage") {
            if (!value.is_bool()) {
                return "outage must be a boolean";
            }
            outage = value.get_bool();
            continue;
        }
        auto number = as_number(value);
        if (!number || !std::isfinite(*number)) {
            return std::string(key) + " must be a number";
        }
        const double n = *number;
        auto integer = [&](std::int64_t lo, std::int64_t hi) -> std::optional<std::int64_t> {
            if (n != std::floor(n) || n < static_cast<double>(lo) || n > static_cast<double>(hi)) {
                return std::nullopt;
            }
            return static_cast<std::int64_t>(n);
        };
        auto set_int = [&](std::int64_t& out, std::int64_t lo,
                           std::int64_t hi) -> std::optional<std::string> {
            auto v = integer(lo, hi);
            if (!v) {
                return std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]";
            }
            out = *v;
            return std::nullopt;
        };
        auto set_rate = [&](double& out) -> std::optional<std::string> {
            if (n < 0.0 || n > 1.0) {
                return std::string(key) + " must be in [0, 1]";
            }
            out = n;
            return std::nullopt;
        };
        constexpr std::int64_t kMaxMs = 24LL * 3600 * 1000;
        std::optional<std::string> err;
        if (key == "latency_ms") {
            err = set_int(k.latency_ms, 0, kMaxMs);
        } else if (key == "jitter_ms") {
            err = set_int(k.jitter_ms, 0, kMaxMs);
        } else if (key == "tokens_per_second") {
            if (n < 0.0) {
                err = "tokens_per_second must be >= 0";
            } else {
                k.tokens_per_second = n;
            }
        } else if (key == "error_rate") {
            err = set_rate(k.error_rate);
        } else if (key == "rate_limit_rate") {
            err = set_rate(k.rate_limit_rate);
        } else if (key == "daily_quota_rate") {
            err = set_rate(k.daily_quota_rate);
        } else if (key == "retry_after_s") {
            err = set_int(k.retry_after_s, 0, 86400);
        } else if (key == "stall_after_chunks") {
            err = set_int(k.stall_after_chunks, 0, 1'000'000);
        } else if (key == "stall_ms") {
            err = set_int(k.stall_ms, 0, kMaxMs);
        } else if (key == "reply_words") {
            err = set_int(k.reply_words, 0, 100'000);
        } else if (key == "words_per_chunk") {
            err = set_int(k.words_per_chunk, 1, 100'000);
        } else if (key == "tts_ms_per_char") {
            err = set_int(k.tts_ms_per_char, 1, 10'000);
        } else if (key == "tts_max_ms") {
            err = set_int(k.tts_max_ms, 1, 3'600'000);
        } else if (key == "fail_next") {
            std::int64_t v = 0;
            err = set_int(v, 0, 1'000'000'000);
            fail_next = v;
        } else if (key == "rate_limit_next") {
            std::int64_t v = 0;
            err = set_int(v, 0, 1'000'000'000);
            rate_limit_next = v;
        } else {
            err = "unknown control key '" + std::string(key) + "'";
        }
        if (err) {
            return err;
        }
    }
    if (auto err = validate_knobs(k)) {
        return err;
    }
    knobs_ = k;
    if (outage) {
        outage_.store(*outage, std::memory_order_relaxed);
    }
    if (fail_next) {
        fail_next_.store(*fail_next, std::memory_order_relaxed);
    }
    if (rate_limit_next) {
        rate_limit_next_.store(*rate_limit_next, std::memory_order_relaxed);
    }
    return std::nullopt;
}

json::object Behavior::settings() const {
    const Knobs k = knobs();
    json::object o;
    o["latency_ms"] = k.latency_ms;
    o["jitter_ms"] = k.jitter_ms;
    o["tokens_per_second"] = k.tokens_per_second;
    o["error_rate"] = k.error_rate;
    o["rate_limit_rate"] = k.rate_limit_rate;
    o["daily_quota_rate"] = k.daily_quota_rate;
    o["retry_after_s"] = k.retry_after_s;
    o["stall_after_chunks"] = k.stall_after_chunks;
    o["stall_ms"] = k.stall_ms;
    o["reply_words"] = k.reply_words;
    o["words_per_chunk"] = k.words_per_chunk;
    o["tts_ms_per_char"] = k.tts_ms_per_char;
    o["tts_max_ms"] = k.tts_max_ms;
    o["fail_next"] = fail_next_.load(std::memory_order_relaxed);
    o["rate_limit_next"] = rate_limit_next_.load(std::memory_order_relaxed);
    o["outage"] = outage_.load(std::memory_order_relaxed);
    o["outage_window_active"] = in_outage_window(std::chrono::steady_clock::now());
    return o;
}

json::object Behavior::stats() const {
    json::object o;
    o["requests"] = requests_.load(std::memory_order_relaxed);
    o["connections"] = connections_.load(std::memory_order_relaxed);
    return o;
}

}  // namespace confidant::emulator
