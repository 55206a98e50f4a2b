#include "tts/wav.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>

namespace confidant::tts {

namespace {

constexpr std::uint64_t kMaxRiffBytes = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint16_t kFormatPcm = 1;

void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v & 0xFF));
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 0; shift < 32; shift += 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFF));
    }
}

std::uint16_t get_u16(std::string_view b, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[at]) |
                                      (static_cast<unsigned char>(b[at + 1]) << 8));
}

std::uint32_t get_u32(std::string_view b, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
    }
    return v;
}

// The 44-byte header of a canonical 16-bit PCM file holding `data_bytes` of samples.
std::string header_for(std::uint64_t data_bytes, std::uint32_t sample_rate,
                       std::uint16_t channels) {
    if (sample_rate == 0 || channels == 0) {
        throw std::invalid_argument("make_wav: sample rate and channels must be positive");
    }
    if (data_bytes + kWavHeaderBytes - 8 > kMaxRiffBytes) {
        throw std::invalid_argument("make_wav: audio exceeds the 4 GiB RIFF limit");
    }
    constexpr std::uint16_t kBits = 16;
    const auto block_align = static_cast<std::uint16_t>(channels * (kBits / 8));
    std::string out;
    out.reserve(kWavHeaderBytes + data_bytes);
    out.append("RIFF");
    put_u32(out, static_cast<std::uint32_t>(kWavHeaderBytes - 8 + data_bytes));
    out.append("WAVE");
    out.append("fmt ");
    put_u32(out, 16);
    put_u16(out, kFormatPcm);
    put_u16(out, channels);
    put_u32(out, sample_rate);
    put_u32(out, sample_rate * block_align);
    put_u16(out, block_align);
    put_u16(out, kBits);
    out.append("data");
    put_u32(out, static_cast<std::uint32_t>(data_bytes));
    return out;
}

Error bad(std::string message) {
    return make_error(ErrorCode::bad_request, "WAV: " + std::move(message));
}

}  // namespace

std::string make_wav(std::span<const std::int16_t> samples, std::uint32_t sample_rate,
                     std::uint16_t channels) {
    if (channels != 0 && samples.size() % channels != 0) {
        throw std::invalid_argument("make_wav: sample count is not a multiple of channels");
    }
    std::string out = header_for(samples.size() * 2, sample_rate, channels);
    for (const std::int16_t s : samples) {
        put_u16(out, static_cast<std::uint16_t>(s));
    }
    return out;
}

std::string wrap_pcm_s16le(std::string_view pcm, std::uint32_t sample_rate,
                           std::uint16_t channels) {
    const std::size_t frame_bytes = 2U * (channels == 0 ? 1U : channels);
    pcm = pcm.substr(0, pcm.size() - pcm.size() % frame_bytes);
    std::string out = header_for(pcm.size(), sample_rate, channels);
    out.append(pcm);
    return out;
}

std::int64_t frames_to_ms(std::uint64_t frames, std::uint32_t sample_rate) noexcept {
    if (sample_rate == 0) {
        return 0;
    }
    // frames * 1000 would overflow only past ~584 million years of audio at 1 Hz.
    return static_cast<std::int64_t>(frames / sample_rate * 1000 +
                                     frames % sample_rate * 1000 / sample_rate);
}

Result<WavInfo> parse_wav_header(std::string_view head, std::uint64_t total_size) {
    if (head.size() > total_size) {
        head = head.substr(0, total_size);
    }
    if (head.size() < 12) {
        return bad(fmt::format("{} bytes are too short for a RIFF header", head.size()));
    }
    if (head.substr(0, 4) != "RIFF") {
        return bad("no RIFF signature");
    }
    if (head.substr(8, 4) != "WAVE") {
        return bad("RIFF form is not WAVE");
    }
    const std::uint64_t riff_end = std::uint64_t{get_u32(head, 4)} + 8;
    if (riff_end > total_size) {
        return bad(fmt::format("RIFF size says {} bytes, the file has {}", riff_end, total_size));
    }

    WavInfo info;
    bool have_fmt = false;
    std::uint64_t at = 12;
    while (true) {
        if (at + 8 > riff_end) {
            return bad("no data chunk");
        }
        if (at + 8 > head.size()) {
            return bad("the chunks before the data chunk are longer than the header read");
        }
        const std::string_view id = head.substr(at, 4);
        const std::uint64_t size = get_u32(head, at + 4);
        const std::uint64_t body = at + 8;
        if (body + size > riff_end) {
            return bad(fmt::format("chunk '{}' of {} bytes runs past the end of the RIFF",
                                   std::string(id), size));
        }
        if (id == "fmt ") {
            if (size < 16) {
                return bad(fmt::format("fmt chunk of {} bytes (at least 16 expected)", size));
            }
            if (body + 16 > head.size()) {
                return bad("fmt chunk is cut off");
            }
            const std::uint16_t format = get_u16(head, body);
            WavFormat f{get_u32(head, body + 4), get_u16(head, body + 2), get_u16(head, body + 14)};
            const std::uint32_t byte_rate = get_u32(head, body + 8);
            const std::uint16_t block_align = get_u16(head, body + 12);
            if (format != kFormatPcm) {
                return bad(fmt::format("format {} is not PCM (1)", format));
            }
            if (f.channels < 1 || f.channels > 8) {
                return bad(fmt::format("{} channels (1..8 expected)", f.channels));
            }
            if (f.sample_rate < 1 || f.sample_rate > 384'000) {
                return bad(fmt::format("sample rate {} (1..384000 expected)", f.sample_rate));
            }
            if (f.bits_per_sample != 8 && f.bits_per_sample != 16 && f.bits_per_sample != 24 &&
                f.bits_per_sample != 32) {
                return bad(fmt::format("{} bits per sample (8, 16, 24 or 32 expected)",
                                       f.bits_per_sample));
            }
            const auto expected_align =
                static_cast<std::uint32_t>(f.channels) * (f.bits_per_sample / 8U);
            if (block_align != expected_align) {
                return bad(
                    fmt::format("block align {} (expected {})", block_align, expected_align));
            }
            if (byte_rate != f.sample_rate * expected_align) {
                return bad(fmt::format("byte rate {} (expected {})", byte_rate,
                                       f.sample_rate * expected_align));
            }
            info.format = f;
            have_fmt = true;
        } else if (id == "data") {
            if (!have_fmt) {
                return bad("data chunk before the fmt chunk");
            }
            const std::uint32_t frame_bytes = static_cast<std::uint32_t>(info.format.channels) *
                                              (info.format.bits_per_sample / 8U);
            if (size % frame_bytes != 0) {
                return bad(fmt::format("data chunk of {} bytes does not hold whole {}-byte frames",
                                       size, frame_bytes));
            }
            info.data_offset = body;
            info.data_bytes = size;
            info.frames = size / frame_bytes;
            info.duration_ms = frames_to_ms(info.frames, info.format.sample_rate);
            return info;
        }
        // Chunks are padded to an even length.
        at = body + size + (size & 1U);
    }
}

Result<WavInfo> parse_wav(std::string_view bytes) { return parse_wav_header(bytes, bytes.size()); }

}  // namespace confidant::tts
