#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

/// RIFF/WAVE with uncompressed PCM: writing one from samples, and reading one back.
namespace confidant::tts {

/// The PCM layout of a WAV file.
struct WavFormat {
    std::uint32_t sample_rate = 0;      ///< frames per second
    std::uint16_t channels = 0;         ///< 1 = mono
    std::uint16_t bits_per_sample = 0;  ///< 8, 16, 24 or 32
};

/// What `parse_wav` found: the format and where the samples are.
struct WavInfo {
    WavFormat format;
    std::uint64_t data_offset = 0;  ///< byte offset of the first sample in the file
    std::uint64_t data_bytes = 0;   ///< length of the `data` chunk
    std::uint64_t frames = 0;       ///< data_bytes / (channels * bits_per_sample / 8)
    std::int64_t duration_ms = 0;   ///< frames / sample_rate, rounded down to a millisecond
};

/// The size of the canonical header `make_wav` writes (RIFF + 16-byte `fmt ` + `data` head).
inline constexpr std::size_t kWavHeaderBytes = 44;

/// A canonical 16-bit PCM WAV of `samples` (interleaved when `channels` > 1), little-endian
/// whatever the host. Throws std::invalid_argument for a zero rate or channel count, a sample
/// count that is not a multiple of `channels`, or data beyond the 4 GiB RIFF limit.
std::string make_wav(std::span<const std::int16_t> samples, std::uint32_t sample_rate,
                     std::uint16_t channels = 1);

/// The same from raw signed 16-bit little-endian PCM bytes (as Gemini's `audio/L16` after base64
/// decoding). An odd trailing byte is dropped (a sample cannot be half there).
std::string wrap_pcm_s16le(std::string_view pcm, std::uint32_t sample_rate,
                           std::uint16_t channels = 1);

/// Duration of `frames` at `sample_rate`, in whole milliseconds (rounded down).
std::int64_t frames_to_ms(std::uint64_t frames, std::uint32_t sample_rate) noexcept;

/// Validates a whole WAV file: `RIFF` with a size that fits the bytes, `WAVE`, a `fmt ` chunk
/// (PCM format 1, 1..8 channels, 1..384000 Hz, 8/16/24/32 bits, consistent block align and
/// byte rate) before a `data` chunk that fits and holds whole frames; other chunks are skipped.
/// Anything else is a `bad_request` error saying what is wrong.
Result<WavInfo> parse_wav(std::string_view bytes);

/// As `parse_wav` from the first bytes of a file of `total_size` bytes (e.g. a 4 KiB read of a
/// stored file): the chunks up to the start of `data` must be in `head`; the `data` chunk is
/// checked against `total_size`.
Result<WavInfo> parse_wav_header(std::string_view head, std::uint64_t total_size);

}  // namespace confidant::tts
