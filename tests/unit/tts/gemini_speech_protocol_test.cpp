#include "tts/gemini/gemini_speech_protocol.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tts/wav.hpp"

namespace confidant::tts::gemini {
namespace {

namespace json = boost::json;

std::string encode(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) {
            out.push_back(kAlphabet[(v >> shift) & 63]);
        }
    }
    if (bytes.size() - i == 1) {
        const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
    } else if (bytes.size() - i == 2) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out +=
            {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
    }
    return out;
}

// A GenerateContentResponse with the given parts in candidates[0].
std::string answer(json::array parts, std::string_view finish = "STOP") {
    json::object content{{"role", "model"}, {"parts", std::move(parts)}};
    json::object candidate{{"content", std::move(content)}, {"finishReason", finish}};
    return json::serialize(json::object{{"candidates", json::array{std::move(candidate)}}});
}

json::object audio_part(std::string_view mime, std::string_view bytes) {
    return {{"inlineData", {{"mimeType", mime}, {"data", encode(bytes)}}}};
}

TEST(GeminiSpeechProtocol, BodyAsksForAudioInTheVoice) {
    const auto body = json::parse(build_speech_body("Say \"hi\"", "Kore", "en-US"));
    EXPECT_EQ(body.at("contents").at(0).at("role").as_string(), "user");
    EXPECT_EQ(body.at("contents").at(0).at("parts").at(0).at("text").as_string(), "Say \"hi\"");
    const auto& config = body.at("generationConfig");
    EXPECT_EQ(config.at("responseModalities"), json::array{"AUDIO"});
    EXPECT_EQ(config.at("speechConfig")
                  .at("voiceConfig")
                  .at("prebuiltVoiceConfig")
                  .at("voiceName")
                  .as_string(),
              "Kore");
    EXPECT_EQ(config.at("speechConfig").at("languageCode").as_string(), "en-US");
    const auto bare = json::parse(build_speech_body("x", "Puck", ""));
    EXPECT_FALSE(
        bare.at("generationConfig").at("speechConfig").as_object().contains("languageCode"));
}

TEST(GeminiSpeechProtocol, WrapsL16IntoAWav) {
    const std::string pcm(24000 * 2, '\x10');  // one second
    auto audio = parse_speech_response(
        answer(json::array{audio_part("audio/L16;codec=pcm;rate=24000", pcm)}));
    ASSERT_TRUE(audio) << audio.error().message;
    EXPECT_EQ(audio->sample_rate, 24000u);
    EXPECT_EQ(audio->channels, 1u);
    EXPECT_EQ(audio->bits_per_sample, 16u);
    EXPECT_EQ(audio->duration_ms, 1000);
    auto info = parse_wav(audio->wav);
    ASSERT_TRUE(info);
    EXPECT_EQ(audio->wav.substr(info->data_offset), pcm);
}

TEST(GeminiSpeechProtocol, RateChannelsAndSeveralParts) {
    const std::string half(16000 * 2 * 2 / 2, '\x01');  // 0.5 s of 16 kHz stereo
    auto audio = parse_speech_response(answer(json::array{
        json::object{{"text", "ignored"}}, audio_part("audio/pcm; rate=16000; channels=2", half),
        audio_part("audio/pcm;rate=16000;channels=2", half)}));
    ASSERT_TRUE(audio) << audio.error().message;
    EXPECT_EQ(audio->sample_rate, 16000u);
    EXPECT_EQ(audio->channels, 2u);
    EXPECT_EQ(audio->duration_ms, 1000);
    // No rate parameter: 24 kHz.
    auto bare = parse_speech_response(answer(json::array{audio_part("audio/L16", "\x01\x02")}));
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->sample_rate, 24000u);
    // Parts that disagree are refused.
    auto mixed = parse_speech_response(answer(json::array{
        audio_part("audio/L16;rate=24000", "ab"), audio_part("audio/L16;rate=16000", "cd")}));
    ASSERT_FALSE(mixed);
    EXPECT_EQ(mixed.error().code, ErrorCode::llm_unavailable);
}

TEST(GeminiSpeechProtocol, TakesAWavPartAsItIs) {
    const std::vector<std::int16_t> samples(8000, 100);
    const std::string wav = make_wav(samples, 8000);
    auto audio = parse_speech_response(answer(json::array{audio_part("audio/wav", wav)}));
    ASSERT_TRUE(audio) << audio.error().message;
    EXPECT_EQ(audio->wav, wav);
    EXPECT_EQ(audio->sample_rate, 8000u);
    EXPECT_EQ(audio->duration_ms, 1000);
    auto broken = parse_speech_response(answer(json::array{audio_part("audio/wav", "RIFFjunk")}));
    ASSERT_FALSE(broken);
    EXPECT_EQ(broken.error().code, ErrorCode::llm_unavailable);
}

TEST(GeminiSpeechProtocol, UnusableAnswers) {
    auto code = [](std::string_view body) {
        auto r = parse_speech_response(body);
        return r ? ErrorCode::internal : r.error().code;
    };
    EXPECT_EQ(code("not json"), ErrorCode::llm_unavailable);
    EXPECT_EQ(code("[]"), ErrorCode::llm_unavailable);
    EXPECT_EQ(code(R"({"candidates":[]})"), ErrorCode::llm_unavailable);
    EXPECT_EQ(code(answer(json::array{json::object{{"text", "I cannot speak"}}})),
              ErrorCode::llm_unavailable);
    EXPECT_EQ(code(answer(json::array{audio_part("audio/mpeg", "abc")})),
              ErrorCode::llm_unavailable);
    EXPECT_EQ(code(answer(json::array{audio_part("audio/L16;rate=0", "ab")})),
              ErrorCode::llm_unavailable);
    EXPECT_EQ(code(answer(json::array{
                  json::object{{"inlineData", {{"mimeType", "audio/L16"}, {"data", "!!!!"}}}}})),
              ErrorCode::llm_unavailable);
    // Refusals are the text's fault: do not retry.
    EXPECT_EQ(code(R"({"promptFeedback":{"blockReason":"SAFETY"}})"), ErrorCode::bad_request);
    EXPECT_EQ(code(answer(json::array{}, "SAFETY")), ErrorCode::bad_request);
}

TEST(GeminiSpeechProtocol, Base64) {
    EXPECT_EQ(decode_base64(""), "");
    EXPECT_EQ(decode_base64("aGk="), "hi");
    EXPECT_EQ(decode_base64("aGk"), "hi");
    EXPECT_EQ(decode_base64("aGVsbG8gd29ybGQ="), "hello world");
    EXPECT_EQ(decode_base64("-_-_"), decode_base64("+/+/"));
    EXPECT_EQ(decode_base64(encode(std::string("\0\xff\x10", 3))), std::string("\0\xff\x10", 3));
    EXPECT_FALSE(decode_base64("a"));
    EXPECT_FALSE(decode_base64("aG k="));
    EXPECT_FALSE(decode_base64("aGk*"));
}

TEST(GeminiSpeechProtocol, Voices) {
    EXPECT_EQ(canonical_voice("Kore"), "Kore");
    EXPECT_EQ(canonical_voice("zubenelgenubi"), "Zubenelgenubi");
    EXPECT_FALSE(canonical_voice("Klingon"));
    EXPECT_FALSE(canonical_voice(""));
}

TEST(GeminiSpeechProtocol, ErrorMapping) {
    using llm::FailureKind;
    auto map = [](FailureKind kind, int status = 0) {
        llm::ProviderError e;
        e.kind = kind;
        e.http_status = status;
        e.message = "gemini: something";
        if (kind == FailureKind::rate_limited) {
            e.retry_after = std::chrono::milliseconds(1500);
        }
        return to_error(e);
    };
    const auto limited = map(FailureKind::rate_limited, 429);
    EXPECT_EQ(limited.code, ErrorCode::rate_limited);
    EXPECT_EQ(limited.retry_after_s, 2);
    EXPECT_EQ(limited.message, "gemini tts: something");
    EXPECT_EQ(map(FailureKind::quota_exhausted, 429).code, ErrorCode::quota_exceeded);
    EXPECT_EQ(map(FailureKind::unavailable, 503).code, ErrorCode::llm_unavailable);
    EXPECT_EQ(map(FailureKind::timeout).code, ErrorCode::llm_unavailable);
    EXPECT_EQ(map(FailureKind::protocol).code, ErrorCode::llm_unavailable);
    EXPECT_EQ(map(FailureKind::rejected, 400).code, ErrorCode::bad_request);
    EXPECT_EQ(map(FailureKind::rejected, 403).code, ErrorCode::internal);
}

}  // namespace
}  // namespace confidant::tts::gemini
