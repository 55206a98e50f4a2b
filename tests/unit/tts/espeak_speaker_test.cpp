#include "tts/espeak/espeak_speaker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "run.hpp"
#include "tts/wav.hpp"

namespace confidant::tts {
namespace {

Result<Audio> say(EspeakSpeaker& speaker, SpeechRequest request) {
    return test::run(speaker.speak(std::move(request)));
}

// The largest absolute sample: speech is far from silence.
int peak(const Audio& audio) {
    int max = 0;
    for (std::size_t i = kWavHeaderBytes; i + 1 < audio.wav.size(); i += 2) {
        const auto lo = static_cast<unsigned char>(audio.wav[i]);
        const auto hi = static_cast<unsigned char>(audio.wav[i + 1]);
        max = std::max(max, std::abs(static_cast<int>(static_cast<std::int16_t>(lo | (hi << 8)))));
    }
    return max;
}

TEST(EspeakSpeaker, SpeaksAValidWav) {
    EspeakSpeaker speaker;
    EXPECT_EQ(speaker.name(), "espeak");
    EXPECT_EQ(speaker.sample_rate(), 22050u);
    auto audio = say(speaker, {.text = "Hello there"});
    ASSERT_TRUE(audio) << audio.error().message;
    auto info = parse_wav(audio->wav);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format.sample_rate, 22050u);
    EXPECT_EQ(info->format.channels, 1u);
    EXPECT_EQ(info->format.bits_per_sample, 16u);
    EXPECT_EQ(audio->sample_rate, 22050u);
    EXPECT_EQ(audio->channels, 1u);
    EXPECT_EQ(audio->bits_per_sample, 16u);
    EXPECT_EQ(audio->duration_ms, info->duration_ms);
    // Two words at 175 wpm: well under two seconds, well over a tenth of one.
    EXPECT_GT(audio->duration_ms, 300);
    EXPECT_LT(audio->duration_ms, 2500);
    EXPECT_GT(peak(*audio), 1000);
}

TEST(EspeakSpeaker, DurationGrowsWithTheText) {
    EspeakSpeaker speaker;
    const std::string sentence = "The quick brown fox jumps over the lazy dog. ";
    std::string ten;
    for (int i = 0; i < 10; ++i) {
        ten += sentence;
    }
    auto one = say(speaker, {.text = sentence});
    auto many = say(speaker, {.text = ten});
    ASSERT_TRUE(one && many);
    EXPECT_GT(many->duration_ms, 6 * one->duration_ms)
        << one->duration_ms << " ms vs " << many->duration_ms << " ms";
    EXPECT_LT(many->duration_ms, 14 * one->duration_ms);
}

TEST(EspeakSpeaker, VoicesByLanguage) {
    EspeakSpeaker speaker;
    const auto voices = speaker.voices();
    for (const char* v : {"en", "en-us", "ru", "de"}) {
        EXPECT_TRUE(std::find(voices.begin(), voices.end(), v) != voices.end()) << v;
    }
    auto ru = say(speaker, {.text = "Привет, как дела?", .voice = "ru"});
    ASSERT_TRUE(ru) << ru.error().message;
    EXPECT_GT(ru->duration_ms, 300);
    auto de = say(speaker, {.text = "Guten Tag", .voice = "DE"});
    ASSERT_TRUE(de) << de.error().message;
    // A language hint picks the voice when none is named; a region falls back to the language.
    auto hinted = say(speaker, {.text = "Guten Tag", .language = "de-AT"});
    ASSERT_TRUE(hinted) << hinted.error().message;
    EXPECT_EQ(speaker.voice_key({.text = "x", .language = "de-AT"}),
              speaker.voice_key({.text = "x", .voice = "de"}));
    EXPECT_NE(speaker.voice_key({.text = "x"}), speaker.voice_key({.text = "x", .voice = "de"}));
    EXPECT_EQ(speaker.voice_key({.text = "x"}), speaker.voice_key({.text = "y", .voice = "en"}));
}

TEST(EspeakSpeaker, UnknownVoiceIsABadRequestNamingIt) {
    EspeakSpeaker speaker;
    auto r = say(speaker, {.text = "Hello", .voice = "klingon"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::bad_request);
    EXPECT_NE(r.error().message.find("klingon"), std::string::npos) << r.error().message;
    auto hint = say(speaker, {.text = "Hello", .language = "xx-YY"});
    ASSERT_FALSE(hint);
    EXPECT_EQ(hint.error().code, ErrorCode::bad_request);
    // Voice files are not voices: no path-like names reach espeak-ng.
    auto path = say(speaker, {.text = "Hello", .voice = "../../etc/passwd"});
    ASSERT_FALSE(path);
    EXPECT_EQ(path.error().code, ErrorCode::bad_request);

    EXPECT_THROW(EspeakSpeaker({.default_voice = "klingon"}), std::invalid_argument);
    EXPECT_THROW(EspeakSpeaker({.rate_wpm = 20}), std::invalid_argument);
}

TEST(EspeakSpeaker, EmptyAndOversizedTextAreRefused) {
    EspeakSpeaker speaker;
    auto empty = say(speaker, {.text = ""});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, ErrorCode::bad_request);
    auto big = say(speaker, {.text = std::string(EspeakSpeaker::kMaxTextBytes + 1, 'a')});
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, ErrorCode::bad_request);
}

TEST(EspeakSpeaker, SurvivesHostileText) {
    EspeakSpeaker speaker;
    const std::vector<std::string> texts = {
        std::string("nul\0inside\0text", 15),
        "\xff\xfe\xc0\xaf broken \xed\xa0\x80 utf8 \xf4\x90\x80\x80",
        "<speak><audio src=\"file:///etc/passwd\"/>tags</speak> &amp; &#0; <break "
        "time=\"99999s\"/>",
        "[[h@'loU]] phonemes [[ unterminated",
        "\x1b[31m escape \x7f \xc2\x85 controls",
        "   ",
        std::string(5000, '.'),
        "🙂🙂🙂 emoji and \u202e bidi",
    };
    for (const auto& text : texts) {
        auto r = say(speaker, {.text = text});
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_TRUE(parse_wav(r->wav));
    }
    // SSML is not interpreted: a 99999 s break would be cut off as too long, not obeyed.
    auto tag = say(speaker, {.text = "<break time=\"99999s\"/>"});
    ASSERT_TRUE(tag);
    EXPECT_LT(tag->duration_ms, 20'000);
}

TEST(EspeakSpeaker, ConcurrentCallsFromManyThreadsAreSafe) {
    // Two instances with different voices and rates share the one engine thread; each call
    // must get its own voice and rate, whatever ran just before it.
    EspeakSpeaker english;
    EspeakSpeaker german({.default_voice = "de", .rate_wpm = 350});
    const std::string text = "Hello there, how are you today?";
    const auto en = say(english, {.text = text});
    const auto de = say(german, {.text = text});
    ASSERT_TRUE(en && de);
    ASSERT_LT(de->duration_ms * 10, en->duration_ms * 8);  // clearly faster
    // espeak-ng is not bit-for-bit repeatable (a few samples either way), so compare lengths.
    auto close_to = [](std::int64_t ms, std::int64_t expected) {
        return ms > expected * 95 / 100 && ms < expected * 105 / 100;
    };
    constexpr int kThreads = 4;
    constexpr int kCalls = 3;
    std::vector<std::thread> threads;
    std::vector<std::string> failures(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCalls; ++i) {
                const bool use_english = (t + i) % 2 == 0;
                auto r = say(use_english ? english : german, {.text = text});
                const auto expected = use_english ? en->duration_ms : de->duration_ms;
                if (!r) {
                    failures[t] += r.error().message + "; ";
                } else if (!parse_wav(r->wav) || !close_to(r->duration_ms, expected)) {
                    failures[t] += std::to_string(r->duration_ms) + " ms, expected about " +
                                   std::to_string(expected) + "; ";
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& f : failures) {
        EXPECT_EQ(f, "");
    }
}

}  // namespace
}  // namespace confidant::tts
