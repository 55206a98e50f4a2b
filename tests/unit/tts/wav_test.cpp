#include "tts/wav.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace confidant::tts {
namespace {

void set_u32(std::string& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
    }
}

void set_u16(std::string& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<char>(v & 0xFF);
    b[at + 1] = static_cast<char>(v >> 8);
}

std::vector<std::int16_t> ramp(std::size_t n) {
    std::vector<std::int16_t> s(n);
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<std::int16_t>(static_cast<int>(i * 37 % 65536) - 32768);
    }
    return s;
}

TEST(Wav, WriteThenParseRoundTrips) {
    const auto samples = ramp(22050 * 3 / 2);  // 1.5 s at 22050 Hz
    const std::string wav = make_wav(samples, 22050, 1);
    ASSERT_EQ(wav.size(), kWavHeaderBytes + samples.size() * 2);
    EXPECT_EQ(wav.substr(0, 4), "RIFF");
    EXPECT_EQ(wav.substr(8, 8), "WAVEfmt ");

    auto info = parse_wav(wav);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format.sample_rate, 22050u);
    EXPECT_EQ(info->format.channels, 1u);
    EXPECT_EQ(info->format.bits_per_sample, 16u);
    EXPECT_EQ(info->data_offset, kWavHeaderBytes);
    EXPECT_EQ(info->data_bytes, samples.size() * 2);
    EXPECT_EQ(info->frames, samples.size());
    EXPECT_EQ(info->duration_ms, 1500);

    // The samples come back little-endian, bit for bit.
    for (std::size_t i = 0; i < samples.size(); i += 997) {
        const auto lo = static_cast<unsigned char>(wav[kWavHeaderBytes + 2 * i]);
        const auto hi = static_cast<unsigned char>(wav[kWavHeaderBytes + 2 * i + 1]);
        EXPECT_EQ(static_cast<std::int16_t>(lo | (hi << 8)), samples[i]) << i;
    }
}

TEST(Wav, WrapsRawPcmAndDropsAHalfSample) {
    std::string pcm(24000 * 2 + 1, '\x01');  // one second of 24 kHz mono, plus a stray byte
    const std::string wav = wrap_pcm_s16le(pcm, 24000, 1);
    auto info = parse_wav(wav);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format.sample_rate, 24000u);
    EXPECT_EQ(info->frames, 24000u);
    EXPECT_EQ(info->duration_ms, 1000);
    EXPECT_EQ(wav.substr(kWavHeaderBytes), pcm.substr(0, pcm.size() - 1));
}

TEST(Wav, StereoAndEmpty) {
    const auto stereo = make_wav(ramp(8000), 8000, 2);
    auto info = parse_wav(stereo);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->format.channels, 2u);
    EXPECT_EQ(info->frames, 4000u);
    EXPECT_EQ(info->duration_ms, 500);

    auto empty = parse_wav(make_wav({}, 16000));
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->frames, 0u);
    EXPECT_EQ(empty->duration_ms, 0);

    EXPECT_THROW(make_wav(ramp(3), 8000, 2), std::invalid_argument);
    EXPECT_THROW(make_wav(ramp(4), 0, 1), std::invalid_argument);
}

TEST(Wav, SkipsUnknownChunksAndTheirPadding) {
    const std::string canonical = make_wav(ramp(100), 16000);
    // RIFF/WAVE, fmt, then a 3-byte LIST chunk (padded to 4) before data.
    std::string wav = canonical.substr(0, 36);
    wav += "LIST";
    wav += std::string("\x03\x00\x00\x00", 4);
    wav += "abc";
    wav += '\0';
    wav += canonical.substr(36);
    set_u32(wav, 4, static_cast<std::uint32_t>(wav.size() - 8));
    auto info = parse_wav(wav);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->data_offset, kWavHeaderBytes + 12);
    EXPECT_EQ(info->frames, 100u);
}

TEST(Wav, RejectsMalformedFiles) {
    const std::string good = make_wav(ramp(1000), 22050);
    ASSERT_TRUE(parse_wav(good));

    auto rejected = [](const std::string& bytes, const std::string& needle) {
        auto r = parse_wav(bytes);
        if (r) {
            return ::testing::AssertionFailure() << "accepted; expected '" << needle << "'";
        }
        if (r.error().code != ErrorCode::bad_request ||
            r.error().message.find(needle) == std::string::npos) {
            return ::testing::AssertionFailure() << "message: " << r.error().message;
        }
        return ::testing::AssertionSuccess();
    };

    EXPECT_TRUE(rejected("", "too short"));
    EXPECT_TRUE(rejected(good.substr(0, 11), "too short"));
    std::string b = good;
    b[0] = 'X';
    EXPECT_TRUE(rejected(b, "no RIFF"));
    b = good;
    b.replace(8, 4, "AVI ");
    EXPECT_TRUE(rejected(b, "not WAVE"));
    EXPECT_TRUE(rejected(good.substr(0, good.size() - 2), "RIFF size"));  // truncated
    b = good;
    set_u16(b, 20, 3);  // IEEE float
    EXPECT_TRUE(rejected(b, "not PCM"));
    b = good;
    set_u16(b, 22, 0);
    EXPECT_TRUE(rejected(b, "channels"));
    b = good;
    set_u32(b, 24, 0);
    EXPECT_TRUE(rejected(b, "sample rate"));
    b = good;
    set_u16(b, 34, 12);
    EXPECT_TRUE(rejected(b, "bits per sample"));
    b = good;
    set_u16(b, 32, 4);
    EXPECT_TRUE(rejected(b, "block align"));
    b = good;
    set_u32(b, 28, 1234);
    EXPECT_TRUE(rejected(b, "byte rate"));
    b = good;
    set_u32(b, 16, 8);
    EXPECT_TRUE(rejected(b, "fmt chunk of 8"));
    b = good;
    set_u32(b, 40, static_cast<std::uint32_t>(good.size()));  // data longer than the file
    EXPECT_TRUE(rejected(b, "runs past"));
    b = good;
    set_u32(b, 40, 2001);  // not whole frames
    b += '\0';
    set_u32(b, 4, static_cast<std::uint32_t>(b.size() - 8));
    EXPECT_TRUE(rejected(b, "whole"));
    b = good;
    b.replace(12, 4, "data");  // data before fmt
    EXPECT_TRUE(rejected(b, "before the fmt"));
    b = good.substr(0, 36);  // fmt only, no data chunk
    set_u32(b, 4, static_cast<std::uint32_t>(b.size() - 8));
    EXPECT_TRUE(rejected(b, "no data chunk"));
    b = good;
    set_u32(b, 4, 0xFFFFFFF0u);  // a RIFF size that overflows nothing and still lies
    EXPECT_TRUE(rejected(b, "RIFF size"));
}

TEST(Wav, HeaderOfALargerFile) {
    const std::string wav = make_wav(ramp(48000), 48000);
    auto info = parse_wav_header(std::string_view(wav).substr(0, 64), wav.size());
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->duration_ms, 1000);
    // The file on disk is shorter than its header says: refused.
    EXPECT_FALSE(parse_wav_header(std::string_view(wav).substr(0, 64), wav.size() - 2));
    // The head was cut inside the fmt chunk.
    EXPECT_FALSE(parse_wav_header(std::string_view(wav).substr(0, 30), wav.size()));
}

}  // namespace
}  // namespace confidant::tts
