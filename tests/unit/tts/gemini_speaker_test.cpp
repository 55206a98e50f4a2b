#include "tts/gemini/gemini_speaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <thread>

#include "../../support/gemini_emulator.hpp"
#include "http/client/client.hpp"
#include "run.hpp"
#include "tts/wav.hpp"

namespace confidant::tts {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class GeminiSpeakerTest : public ::testing::Test {
  protected:
    // Starts the emulator with `flags` and a speaker (own client) for it.
    void start(std::vector<std::string> flags, GeminiSpeakerSettings settings = {}) {
        emulator_.emplace(GEMINI_EMULATOR_PATH, std::move(flags));
        client_ = std::make_shared<http_client::Client>(ioc_.get_executor());
        settings.base_url = emulator_->base_url();
        if (settings.api_key.empty()) {
            settings.api_key = "test-key";
        }
        speaker_ = std::make_unique<GeminiSpeaker>(settings, client_);
    }

    Result<Audio> speak(SpeechRequest request) {
        return test::run(ioc_, speaker_->speak(std::move(request)));
    }

    std::int64_t emulator_requests() {
        auto r = test::run(
            ioc_, client_->request(http_client::Request{.url = emulator_->base_url() + "/stats"}));
        EXPECT_TRUE(r);
        return boost::json::parse(r->body).at("requests").as_int64();
    }

    asio::io_context ioc_;
    std::optional<confidant::test::GeminiEmulator> emulator_;
    std::shared_ptr<http_client::Client> client_;
    std::unique_ptr<GeminiSpeaker> speaker_;
};

TEST_F(GeminiSpeakerTest, SpeaksA24kHzWavAsLongAsTheEmulatorsFormula) {
    start({});
    EXPECT_EQ(speaker_->name(), "gemini");
    auto audio = speak({.text = "Hello there"});
    ASSERT_TRUE(audio) << audio.error().message;
    auto info = parse_wav(audio->wav);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format.sample_rate, 24000u);
    EXPECT_EQ(info->format.channels, 1u);
    EXPECT_EQ(info->format.bits_per_sample, 16u);
    EXPECT_EQ(audio->sample_rate, 24000u);
    EXPECT_EQ(audio->channels, 1u);
    EXPECT_EQ(audio->bits_per_sample, 16u);
    // The emulator: 60 ms per character.
    EXPECT_EQ(audio->duration_ms, 11 * 60);
    EXPECT_EQ(info->duration_ms, audio->duration_ms);

    // A ten times longer text is ten times longer.
    std::string longer;
    for (int i = 0; i < 10; ++i) {
        longer += "Hello there";
    }
    auto more = speak({.text = longer});
    ASSERT_TRUE(more);
    EXPECT_EQ(more->duration_ms, 110 * 60);
}

TEST_F(GeminiSpeakerTest, VoicesAndLanguages) {
    start({});
    auto kore = speak({.text = "Hi"});
    auto puck = speak({.text = "Hi", .voice = "puck", .language = "en-US"});
    ASSERT_TRUE(kore && puck) << (kore ? puck.error().message : kore.error().message);
    EXPECT_NE(kore->wav, puck->wav);  // the emulator's pitch follows the voice
    EXPECT_EQ(kore->duration_ms, puck->duration_ms);
    EXPECT_EQ(speaker_->voice_key({.text = "x"}), "gemini-2.5-flash-preview-tts/Kore");
    EXPECT_EQ(speaker_->voice_key({.text = "x", .voice = "KORE"}),
              speaker_->voice_key({.text = "y"}));
    EXPECT_EQ(speaker_->voice_key({.text = "x", .voice = "puck", .language = "de-DE"}),
              "gemini-2.5-flash-preview-tts/Puck/de-DE");

    const auto before = emulator_requests();
    auto klingon = speak({.text = "Hi", .voice = "Klingon"});
    ASSERT_FALSE(klingon);
    EXPECT_EQ(klingon.error().code, ErrorCode::bad_request);
    EXPECT_NE(klingon.error().message.find("Klingon"), std::string::npos);
    auto language = speak({.text = "Hi", .language = "en\"US"});
    ASSERT_FALSE(language);
    EXPECT_EQ(language.error().code, ErrorCode::bad_request);
    auto empty = speak({.text = ""});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, ErrorCode::bad_request);
    EXPECT_EQ(emulator_requests(), before);  // refused without a call

    EXPECT_THROW(GeminiSpeaker({.default_voice = "Nobody"}, client_), std::invalid_argument);
}

TEST_F(GeminiSpeakerTest, HostileTextStillMakesAValidRequest) {
    start({});
    static constexpr char kHostile[] = "\"quotes\" \\ \xff\xfe nul\0 \x1b";
    auto r = speak({.text = std::string(kHostile, sizeof kHostile - 1)});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_GT(r->duration_ms, 0);
}

TEST_F(GeminiSpeakerTest, RateLimitIsAValueWithRetryAfter) {
    start({"--rate-limit-first", "1", "--retry-after-s", "7"});
    auto limited = speak({.text = "Hi"});
    ASSERT_FALSE(limited);
    EXPECT_EQ(limited.error().code, ErrorCode::rate_limited);
    ASSERT_TRUE(limited.error().retry_after_s.has_value());
    EXPECT_EQ(*limited.error().retry_after_s, 7);
    EXPECT_TRUE(speak({.text = "Hi"}));
}

TEST_F(GeminiSpeakerTest, ServiceUnavailableAndDailyQuota) {
    start({"--fail-first", "1"});
    auto down = speak({.text = "Hi"});
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().code, ErrorCode::llm_unavailable);
    EXPECT_NE(down.error().message.find("UNAVAILABLE"), std::string::npos) << down.error().message;
    EXPECT_TRUE(speak({.text = "Hi"}));

    start({"--daily-quota-rate", "1"});
    auto quota = speak({.text = "Hi"});
    ASSERT_FALSE(quota);
    EXPECT_EQ(quota.error().code, ErrorCode::quota_exceeded);
}

TEST_F(GeminiSpeakerTest, WrongKeyIsRefused) {
    start({"--api-key", "right"}, {.api_key = "wrong"});
    auto r = speak({.text = "Hi"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::bad_request);
    EXPECT_NE(r.error().message.find("API_KEY_INVALID"), std::string::npos) << r.error().message;
}

TEST_F(GeminiSpeakerTest, SlowAnswerIsATimeout) {
    start({"--latency-ms", "3000"}, {.read_timeout = 200ms});
    const auto started = std::chrono::steady_clock::now();
    auto r = speak({.text = "Hi"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::llm_unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2500ms);
}

TEST_F(GeminiSpeakerTest, NothingListeningIsUnavailable) {
    start({});
    const std::string url = emulator_->base_url();
    emulator_->stop();
    GeminiSpeaker speaker({.base_url = url}, client_);
    auto r = test::run(ioc_, speaker.speak({.text = "Hi"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::llm_unavailable);
}

TEST_F(GeminiSpeakerTest, CancellationStopsTheWait) {
    using namespace asio::experimental::awaitable_operators;
    start({"--latency-ms", "5000"});
    const auto started = std::chrono::steady_clock::now();
    auto race = [&]() -> Task<std::size_t> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
        auto speech = speaker_->speak({.text = "Hi"});
        auto waited = timer.async_wait(asio::use_awaitable);
        auto winner = co_await (std::move(speech) || std::move(waited));
        co_return winner.index();
    };
    EXPECT_EQ(test::run(ioc_, race()), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2000ms);
}

TEST_F(GeminiSpeakerTest, ConcurrentCallsFromTwoThreadsAllSucceed) {
    start({"--latency-ms", "50"});
    constexpr int kCalls = 8;
    std::atomic<int> ok{0};
    ioc_.restart();
    for (int i = 0; i < kCalls; ++i) {
        asio::co_spawn(ioc_, speaker_->speak({.text = "call " + std::to_string(i)}),
                       [&ok](std::exception_ptr e, Result<Audio> r) {
                           if (!e && r && r->duration_ms == 6 * 60) {
                               ++ok;
                           }
                       });
    }
    std::thread second([this] { ioc_.run(); });
    ioc_.run();
    second.join();
    EXPECT_EQ(ok.load(), kCalls);
}

}  // namespace
}  // namespace confidant::tts
