#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace confidant::emulator {

/// Behaviour that `POST /control` may change while the emulator runs.
struct Knobs {
    std::int64_t latency_ms = 0;
    std::int64_t jitter_ms = 0;
    double tokens_per_second = 0.0;  ///< 0 = no pacing between streamed chunks.
    double error_rate = 0.0;
    double rate_limit_rate = 0.0;
    double daily_quota_rate = 0.0;
    std::int64_t retry_after_s = 1;
    std::int64_t stall_after_chunks = 0;  ///< With `stall_ms > 0`: pause once after K chunks.
    std::int64_t stall_ms = 0;
    std::int64_t reply_words = 0;  ///< Words after the echo; 0 = a short, hash-chosen length.
    std::int64_t words_per_chunk = 4;
    /// Speech (responseModalities AUDIO): milliseconds of tone per character of the text...
    std::int64_t tts_ms_per_char = 60;
    /// ...up to this many milliseconds.
    std::int64_t tts_max_ms = 120'000;
};

/// Everything the command line sets.
struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8089;
    int threads = 2;
    Knobs knobs;
    std::optional<double> outage_after_s;
    std::optional<double> outage_for_s;
    std::string api_key;  ///< Empty: any key (or none) is accepted.
    std::uint64_t seed = 0x5eed'c0ff'ee15'600dULL;
    std::int64_t fail_first = 0;
    std::int64_t rate_limit_first = 0;
    bool help = false;
};

/// Parses `argv` (`--flag value` or `--flag=value`). An unknown flag or a bad value is a
/// `bad_request` error whose message is one line naming the flag.
Result<Options> parse_options(int argc, const char* const* argv);

/// The `--help` text.
const char* usage();

/// Checks ranges shared by the command line and `/control`; returns a message or nothing.
std::optional<std::string> validate_knobs(const Knobs& knobs);

}  // namespace confidant::emulator
