#include "options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string_view>
#include <system_error>

namespace confidant::emulator {
namespace {

constexpr std::int64_t kMaxMs = 24LL * 3600 * 1000;

Error bad(std::string_view flag, std::string_view value, std::string_view expected) {
    return make_error(ErrorCode::bad_request, "invalid value '" + std::string(value) + "' for " +
                                                  std::string(flag) + ": expected " +
                                                  std::string(expected));
}

std::optional<std::int64_t> parse_int(std::string_view s, std::int64_t lo, std::int64_t hi) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> parse_double(std::string_view s, double lo, double hi) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) ||
        v < lo || v > hi) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

const char* usage() {
    return "usage: gemini-emulator [flags]\n"
           "  --host H                 address to listen on (default 127.0.0.1)\n"
           "  --port P                 port, 0 = pick a free one (default 8089)\n"
           "  --threads N              I/O threads (default 2)\n"
           "  --latency-ms MS          time from a request's arrival to the answer / first chunk\n"
           "                           (default 0)\n"
           "  --jitter-ms MS           uniform extra delay 0..MS (default 0)\n"
           "  --tokens-per-second T    streaming pace, 0 = no delay (default 0)\n"
           "  --error-rate R           fraction answered 500 INTERNAL / 503 UNAVAILABLE\n"
           "  --rate-limit-rate R      fraction answered 429 with RetryInfo\n"
           "  --daily-quota-rate R     fraction answered 429 per-day quota (no RetryInfo)\n"
           "  --retry-after-s N        RetryInfo delay and Retry-After header (default 1)\n"
           "  --outage-after-s S       start failing everything with 503 S seconds after start\n"
           "  --outage-for-s S         outage length (default: until exit)\n"
           "  --api-key K              require x-goog-api-key: K or ?key=K\n"
           "  --seed N                 seed of the error/jitter draws (default fixed)\n"
           "  --fail-first N           first N model requests get 503\n"
           "  --rate-limit-first N     first N model requests get 429 with RetryInfo\n"
           "  --stall-after-chunks K   streaming: pause once after K chunks ...\n"
           "  --stall-ms MS            ... for MS milliseconds\n"
           "  --reply-words N          words after the echo (default: 8..19, hash-chosen)\n"
           "  --words-per-chunk N      words per streamed chunk (default 4)\n"
           "  --tts-ms-per-char MS     speech: tone length per character of text (default 60)\n"
           "  --tts-max-ms MS          speech: longest tone (default 120000)\n"
           "  --help                   this text\n";
}

std::optional<std::string> validate_knobs(const Knobs& k) {
    if (k.error_rate + k.rate_limit_rate + k.daily_quota_rate > 1.0 + 1e-9) {
        return "error_rate + rate_limit_rate + daily_quota_rate must not exceed 1";
    }
    return std::nullopt;
}

Result<Options> parse_options(int argc, const char* const* argv) {
    Options o;
    using Setter = std::function<std::optional<Error>(std::string_view, std::string_view)>;

    auto int_flag = [](std::int64_t& out, std::int64_t lo, std::int64_t hi,
                       std::string expected) -> Setter {
        return [&out, lo, hi, expected](std::string_view flag,
                                        std::string_view v) -> std::optional<Error> {
            auto parsed = parse_int(v, lo, hi);
            if (!parsed) {
                return bad(flag, v, expected);
            }
            out = *parsed;
            return std::nullopt;
        };
    };
    auto rate_flag = [](double& out) -> Setter {
        return [&out](std::string_view flag, std::string_view v) -> std::optional<Error> {
            auto parsed = parse_double(v, 0.0, 1.0);
            if (!parsed) {
                return bad(flag, v, "a number in [0, 1]");
            }
            out = *parsed;
            return std::nullopt;
        };
    };
    auto seconds_flag = [](std::optional<double>& out) -> Setter {
        return [&out](std::string_view flag, std::string_view v) -> std::optional<Error> {
            auto parsed = parse_double(v, 0.0, 1e9);
            if (!parsed) {
                return bad(flag, v, "a number of seconds >= 0");
            }
            out = *parsed;
            return std::nullopt;
        };
    };

    std::int64_t port = o.port;
    std::int64_t threads = o.threads;
    Knobs& k = o.knobs;

    const std::map<std::string_view, Setter> flags = {
        {"--host",
         [&](std::string_view flag, std::string_view v) -> std::optional<Error> {
             if (v.empty()) {
                 return bad(flag, v, "a host name or address");
             }
             o.host = std::string(v);
             return std::nullopt;
         }},
        {"--port", int_flag(port, 0, 65535, "a port number 0..65535")},
        {"--threads", int_flag(threads, 1, 256, "an integer 1..256")},
        {"--latency-ms", int_flag(k.latency_ms, 0, kMaxMs, "milliseconds >= 0")},
        {"--jitter-ms", int_flag(k.jitter_ms, 0, kMaxMs, "milliseconds >= 0")},
        {"--tokens-per-second",
         [&](std::string_view flag, std::string_view v) -> std::optional<Error> {
             auto parsed = parse_double(v, 0.0, 1e9);
             if (!parsed) {
                 return bad(flag, v, "a number >= 0");
             }
             k.tokens_per_second = *parsed;
             return std::nullopt;
         }},
        {"--error-rate", rate_flag(k.error_rate)},
        {"--rate-limit-rate", rate_flag(k.rate_limit_rate)},
        {"--daily-quota-rate", rate_flag(k.daily_quota_rate)},
        {"--retry-after-s", int_flag(k.retry_after_s, 0, 86400, "seconds 0..86400")},
        {"--outage-after-s", seconds_flag(o.outage_after_s)},
        {"--outage-for-s", seconds_flag(o.outage_for_s)},
        {"--api-key",
         [&](std::string_view flag, std::string_view v) -> std::optional<Error> {
             if (v.empty()) {
                 return bad(flag, v, "a non-empty key");
             }
             o.api_key = std::string(v);
             return std::nullopt;
         }},
        {"--seed",
         [&](std::string_view flag, std::string_view v) -> std::optional<Error> {
             std::uint64_t s = 0;
             auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
             if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
                 return bad(flag, v, "an unsigned 64-bit integer");
             }
             o.seed = s;
             return std::nullopt;
         }},
        {"--fail-first",
         int_flag(o.fail_first, 0, std::numeric_limits<std::int32_t>::max(), "an integer >= 0")},
        {"--rate-limit-first",
         int_flag(o.rate_limit_first, 0, std::numeric_limits<std::int32_t>::max(),
                  "an integer >= 0")},
        {"--stall-after-chunks", int_flag(k.stall_after_chunks, 0, 1'000'000, "an integer >= 0")},
        {"--stall-ms", int_flag(k.stall_ms, 0, kMaxMs, "milliseconds >= 0")},
        {"--reply-words", int_flag(k.reply_words, 1, 100'000, "an integer 1..100000")},
        {"--words-per-chunk", int_flag(k.words_per_chunk, 1, 100'000, "an integer 1..100000")},
        {"--tts-ms-per-char", int_flag(k.tts_ms_per_char, 1, 10'000, "an integer 1..10000")},
        {"--tts-max-ms", int_flag(k.tts_max_ms, 1, 3'600'000, "milliseconds 1..3600000")},
    };

    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            o.help = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> value;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        auto it = flags.find(name);
        if (it == flags.end()) {
            return make_error(ErrorCode::bad_request,
                              "unknown flag '" + std::string(name) + "' (see --help)");
        }
        if (!value) {
            if (i + 1 >= argc) {
                return make_error(ErrorCode::bad_request, "missing value for " + std::string(name));
            }
            value = std::string_view(argv[++i]);
        }
        if (auto err = it->second(name, *value)) {
            return *err;
        }
    }
    o.port = static_cast<std::uint16_t>(port);
    o.threads = static_cast<int>(threads);
    if (auto err = validate_knobs(o.knobs)) {
        return make_error(ErrorCode::bad_request, *err);
    }
    return o;
}

}  // namespace confidant::emulator
