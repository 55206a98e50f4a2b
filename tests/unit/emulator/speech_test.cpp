// The emulator's speech answers (responseModalities AUDIO), over real sockets.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "../../support/gemini_emulator.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kTts = "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent";
constexpr const char* kTtsStream =
    "/v1beta/models/gemini-2.5-flash-preview-tts:streamGenerateContent?alt=sse";

struct Answer {
    unsigned status = 0;
    http::fields headers;
    std::string body;
    json::value json() const { return json::parse(body); }
};

// A keep-alive connection to the emulator.
class Connection {
  public:
    explicit Connection(unsigned short port) : stream_(ioc_) {
        stream_.expires_after(30s);
        stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    }

    Answer post(const std::string& target, const std::string& body) {
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        stream_.expires_after(60s);
        http::write(stream_, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        http::read(stream_, buffer_, parser);
        auto res = parser.release();
        return Answer{res.result_int(), res.base(), res.body()};
    }

  private:
    net::io_context ioc_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

std::string tts_body(const std::string& text, std::optional<std::string> voice = "Kore") {
    json::object config;
    config["responseModalities"] = json::array{"AUDIO"};
    if (voice) {
        config["speechConfig"] = {
            {"voiceConfig", {{"prebuiltVoiceConfig", {{"voiceName", *voice}}}}}};
    }
    json::object body;
    body["contents"] = json::array{{{"parts", json::array{{{"text", text}}}}}};
    body["generationConfig"] = std::move(config);
    return json::serialize(body);
}

std::string base64_decode(std::string_view in) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    auto value = [](char c) { return static_cast<int>(kAlphabet.find(c)); };
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : in) {
        if (c == '=') {
            break;
        }
        const int v = value(c);
        EXPECT_GE(v, 0) << "not base64: " << c;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

// The PCM of a speech answer, after checking the answer's shape.
std::string audio_of(const Answer& a) {
    EXPECT_EQ(a.status, 200U) << a.body;
    const auto j = a.json();
    const auto& candidate = j.at("candidates").at(0);
    EXPECT_EQ(candidate.at("finishReason").as_string(), "STOP");
    const auto& parts = candidate.at("content").at("parts").as_array();
    EXPECT_EQ(parts.size(), 1U);
    EXPECT_EQ(parts[0].as_object().count("text"), 0U);
    const auto& data = parts[0].at("inlineData");
    EXPECT_EQ(data.at("mimeType").as_string(), "audio/L16;codec=pcm;rate=24000");
    return base64_decode(data.at("data").as_string());
}

std::string error_status(const Answer& a) {
    return std::string(a.json().at("error").at("status").as_string());
}

std::string emulator_path() { return GEMINI_EMULATOR_PATH; }

constexpr std::size_t kBytesPerMs = 24 * 2;  // 24 kHz, 16-bit mono

TEST(GeminiEmulatorSpeech, AnswersAToneSixtyMsPerCharacter) {
    confidant::test::GeminiEmulator emu(emulator_path(), {});
    Connection c(emu.port());
    const std::string text = "Hello there";  // 11 characters
    const auto a = c.post(kTts, tts_body(text));
    const std::string pcm = audio_of(a);
    EXPECT_EQ(pcm.size(), 11 * 60 * kBytesPerMs);
    // A tone, not silence: the peak is about a quarter of full scale.
    int peak = 0;
    for (std::size_t i = 0; i + 1 < pcm.size(); i += 2) {
        const auto s = static_cast<std::int16_t>(static_cast<unsigned char>(pcm[i]) |
                                                 (static_cast<unsigned char>(pcm[i + 1]) << 8));
        peak = std::max(peak, std::abs(static_cast<int>(s)));
    }
    EXPECT_GT(peak, 7000);
    EXPECT_LT(peak, 9000);
    const auto j = a.json();
    EXPECT_EQ(j.at("modelVersion").as_string(), "gemini-2.5-flash-preview-tts");
    EXPECT_EQ(j.at("usageMetadata").at("candidatesTokenCount").as_int64(), 17);  // 25 a second

    // Deterministic: the same request gives the same bytes; another voice another pitch.
    EXPECT_EQ(audio_of(c.post(kTts, tts_body(text))), pcm);
    const std::string puck = audio_of(c.post(kTts, tts_body(text, "Puck")));
    EXPECT_EQ(puck.size(), pcm.size());
    EXPECT_NE(puck, pcm);
    // No voice: the default one (Kore).
    EXPECT_EQ(audio_of(c.post(kTts, tts_body(text, std::nullopt))), pcm);
}

TEST(GeminiEmulatorSpeech, LengthCountsCodePointsAndIsCapped) {
    confidant::test::GeminiEmulator emu(emulator_path(), {"--tts-max-ms", "3000"});
    Connection c(emu.port());
    EXPECT_EQ(audio_of(c.post(kTts, tts_body("Привет"))).size(), 6 * 60 * kBytesPerMs);
    EXPECT_EQ(audio_of(c.post(kTts, tts_body(std::string(1000, 'a')))).size(), 3000 * kBytesPerMs);
    // /control changes the rate.
    ASSERT_EQ(c.post("/control", R"({"tts_ms_per_char": 10})").status, 200U);
    EXPECT_EQ(audio_of(c.post(kTts, tts_body("abcde"))).size(), 50 * kBytesPerMs);
    EXPECT_EQ(c.post("/control", R"({"tts_max_ms": 0})").status, 400U);
}

TEST(GeminiEmulatorSpeech, AcceptsSnakeCaseFieldNames) {
    confidant::test::GeminiEmulator emu(emulator_path(), {});
    Connection c(emu.port());
    const std::string body = R"({"contents":[{"parts":[{"text":"hi"}]}],
        "generation_config":{"response_modalities":["AUDIO"],
        "speech_config":{"language_code":"en-US","voice_config":{"prebuilt_voice_config":
        {"voice_name":"Charon"}}}}})";
    EXPECT_EQ(audio_of(c.post(kTts, body)).size(), 2 * 60 * kBytesPerMs);
}

TEST(GeminiEmulatorSpeech, HasTheUsualErrorsRateLimitsAndLatency) {
    confidant::test::GeminiEmulator emu(emulator_path(),
                                        {"--rate-limit-first", "1", "--latency-ms", "300"});
    Connection c(emu.port());
    const auto limited = c.post(kTts, tts_body("hi"));
    EXPECT_EQ(limited.status, 429U);
    EXPECT_EQ(limited.headers[http::field::retry_after], "1");
    EXPECT_EQ(error_status(limited), "RESOURCE_EXHAUSTED");

    ASSERT_EQ(c.post("/control", R"({"fail_next": 1})").status, 200U);
    const auto down = c.post(kTts, tts_body("hi"));
    EXPECT_EQ(down.status, 503U);
    EXPECT_EQ(error_status(down), "UNAVAILABLE");

    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(audio_of(c.post(kTts, tts_body("hi"))).size(), 2 * 60 * kBytesPerMs);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST(GeminiEmulatorSpeech, RejectsBadSpeechRequests) {
    confidant::test::GeminiEmulator emu(emulator_path(), {});
    Connection c(emu.port());
    const auto voice = c.post(kTts, tts_body("hi", "Klingon"));
    EXPECT_EQ(voice.status, 400U);
    EXPECT_EQ(error_status(voice), "INVALID_ARGUMENT");
    EXPECT_NE(voice.body.find("Klingon"), std::string::npos);

    const auto modality = c.post(kTts, R"({"contents":[{"parts":[{"text":"hi"}]}],
                  "generationConfig":{"responseModalities":["SMELL"]}})");
    EXPECT_EQ(modality.status, 400U);
    EXPECT_NE(modality.body.find("response_modalities[0]"), std::string::npos);

    const auto config = c.post(kTts, R"({"contents":[{"parts":[{"text":"hi"}]}],
                  "generationConfig":{"responseModalities":["AUDIO"],"speechConfig":"Kore"}})");
    EXPECT_EQ(config.status, 400U);

    const auto stream = c.post(kTtsStream, tts_body("hi"));
    EXPECT_EQ(stream.status, 400U);

    // A text request is unchanged by the speech support.
    const auto text = c.post(kTts, R"({"contents":[{"parts":[{"text":"hi"}]}]})");
    ASSERT_EQ(text.status, 200U);
    const std::string reply(
        text.json().at("candidates").at(0).at("content").at("parts").at(0).at("text").as_string());
    EXPECT_EQ(reply.rfind("You said: hi.", 0), 0U) << reply;
}

}  // namespace
