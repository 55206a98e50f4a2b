#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <limits>
#include <stdexcept>

#include "core/json_writer.hpp"
#include "llm/gemini/gemini_protocol.hpp"
#include "llm/http_support.hpp"
#include "llm/openai/openai_protocol.hpp"

namespace confidant::llm {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

CompletionRequest sample_request() {
    CompletionRequest r;
    r.system_instruction = "You are Mira.";
    r.contents = {{Turn::Role::user, "hi"},
                  {Turn::Role::model, "hello!"},
                  {Turn::Role::user, "how are you?"}};
    r.temperature = 0.5;
    r.max_output_tokens = 77;
    return r;
}

TEST(GeminiProtocol, BuildsGenerateContentBody) {
    const auto body = json::parse(gemini::build_request_body(sample_request())).as_object();
    EXPECT_EQ(body.at("systemInstruction").at("parts").at(0).at("text").as_string(),
              "You are Mira.");
    const auto& contents = body.at("contents").as_array();
    ASSERT_EQ(contents.size(), 3u);
    EXPECT_EQ(contents[0].at("role").as_string(), "user");
    EXPECT_EQ(contents[1].at("role").as_string(), "model");
    EXPECT_EQ(contents[2].at("parts").at(0).at("text").as_string(), "how are you?");
    EXPECT_DOUBLE_EQ(body.at("generationConfig").at("temperature").as_double(), 0.5);
    EXPECT_EQ(body.at("generationConfig").at("maxOutputTokens").as_int64(), 77);
}

// The same escaping writes JSON log lines into fmt's buffer (obs/logging.cpp).
TEST(JsonWriter, EscapesIntoAnyBufferAlike) {
    std::string text = "say \"hi\" \\ \n\t\b\f";
    text += std::string("nul ") + '\0' + " \x1f \xc3\xa9";
    std::string into_string;
    append_json_escaped(into_string, text);
    fmt::memory_buffer into_buffer;
    append_json_escaped(into_buffer, text);
    EXPECT_EQ(std::string(into_buffer.data(), into_buffer.size()), into_string);
    EXPECT_EQ(json::parse("\"" + into_string + "\"").as_string(), text);
}

// The bodies are written by hand (core/json_writer.hpp): every byte a user can type must come
// back unchanged through a JSON parser.
TEST(GeminiProtocol, BodyCarriesAnyTextExactly) {
    std::string nasty = "quote \" backslash \\ slash / newline \n tab \t cr \r ";
    nasty += std::string("nul ") + '\0' + " bell \x07 del \x7f ";
    nasty +=
        "utf-8 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 emoji \xf0\x9f\x98\x80 </script>";
    auto r = sample_request();
    r.system_instruction = nasty;
    r.contents.back().text = nasty;
    r.temperature = 0.1 + 0.2;
    const auto gemini_body = json::parse(gemini::build_request_body(r)).as_object();
    EXPECT_EQ(gemini_body.at("systemInstruction").at("parts").at(0).at("text").as_string(), nasty);
    EXPECT_EQ(gemini_body.at("contents").at(2).at("parts").at(0).at("text").as_string(), nasty);
    EXPECT_EQ(gemini_body.at("generationConfig").at("temperature").as_double(), 0.1 + 0.2);

    const auto openai_body = json::parse(openai::build_request_body(nasty, r, false)).as_object();
    EXPECT_EQ(openai_body.at("model").as_string(), nasty);
    EXPECT_EQ(openai_body.at("messages").at(0).at("content").as_string(), nasty);
    EXPECT_EQ(openai_body.at("messages").at(3).at("content").as_string(), nasty);
    EXPECT_EQ(openai_body.at("temperature").as_double(), 0.1 + 0.2);
    EXPECT_FALSE(openai_body.at("stream").as_bool());
    EXPECT_FALSE(openai_body.contains("stream_options"));

    r.temperature = std::numeric_limits<double>::quiet_NaN();
    EXPECT_THROW(gemini::build_request_body(r), std::invalid_argument);
}

TEST(GeminiProtocol, OmitsEmptySystemInstruction) {
    auto r = sample_request();
    r.system_instruction.clear();
    const auto body = json::parse(gemini::build_request_body(r)).as_object();
    EXPECT_FALSE(body.contains("systemInstruction"));
}

TEST(GeminiProtocol, ParsesResponseJoiningPartsAndSkippingThoughts) {
    const auto c = gemini::parse_response(R"({
        "candidates":[{"content":{"role":"model","parts":[
            {"text":"thinking...","thought":true},{"text":"Hello, "},{"text":"world"}]},
            "finishReason":"STOP"}],
        "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8},
        "modelVersion":"gemini-2.0-flash-001"})",
                                          "fallback");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->text, "Hello, world");
    EXPECT_EQ(c->finish_reason, "STOP");
    EXPECT_EQ(c->usage.prompt_tokens, 5);
    EXPECT_EQ(c->usage.completion_tokens, 3);
    EXPECT_EQ(c->usage.total_tokens, 8);
    EXPECT_EQ(c->model, "gemini-2.0-flash-001");
}

TEST(GeminiProtocol, SafetyFinishIsAnAnswerNotAnError) {
    const auto c = gemini::parse_response(
        R"({"candidates":[{"finishReason":"SAFETY","safetyRatings":[]}]})", "m");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->text, "");
    EXPECT_EQ(c->finish_reason, "SAFETY");
    EXPECT_EQ(c->model, "m");
}

TEST(GeminiProtocol, BlockedPromptIsRejected) {
    const auto c =
        gemini::parse_response(R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}})", "m");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rejected);
    EXPECT_EQ(c.error().status, "PROHIBITED_CONTENT");
    EXPECT_NE(c.error().message.find("blocked"), std::string::npos);
}

TEST(GeminiProtocol, NoCandidatesIsRejectedAndBadJsonIsProtocol) {
    auto c = gemini::parse_response(R"({"usageMetadata":{}})", "m");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rejected);
    c = gemini::parse_response("<html>", "m");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::protocol);
}

TEST(GeminiProtocol, RateLimitHonoursRetryInfo) {
    const auto e = gemini::map_error(429, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
        "message":"slow down","details":[
          {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
             {"quotaMetric":"m","quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]},
          {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}})",
                                     std::chrono::milliseconds(9000));
    EXPECT_EQ(e.kind, FailureKind::rate_limited);
    EXPECT_EQ(e.http_status, 429);
    EXPECT_EQ(e.status, "RESOURCE_EXHAUSTED");
    ASSERT_TRUE(e.retry_after);
    EXPECT_EQ(*e.retry_after, 1500ms);  // RetryInfo wins over the header
    EXPECT_NE(e.message.find("slow down"), std::string::npos);
}

TEST(GeminiProtocol, RateLimitFallsBackToRetryAfterHeader) {
    const auto e = gemini::map_error(
        429, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"x"}})", 4000ms);
    EXPECT_EQ(e.kind, FailureKind::rate_limited);
    ASSERT_TRUE(e.retry_after);
    EXPECT_EQ(*e.retry_after, 4000ms);
}

TEST(GeminiProtocol, PerDayQuotaIsExhaustedNotRateLimited) {
    const auto e = gemini::map_error(429, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",
        "message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",
        "violations":[{"quotaMetric":"generativelanguage.googleapis.com/requests",
                       "quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}})",
                                     std::nullopt);
    EXPECT_EQ(e.kind, FailureKind::quota_exhausted);
    EXPECT_FALSE(e.retryable());
}

TEST(GeminiProtocol, MapsStatusesAndKeepsErrorInfoReason) {
    auto e = gemini::map_error(400, R"({"error":{"code":400,"status":"INVALID_ARGUMENT",
        "message":"API key not valid. Please pass a valid API key.","details":[
        {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}})",
                               std::nullopt);
    EXPECT_EQ(e.kind, FailureKind::rejected);
    EXPECT_EQ(e.status, "INVALID_ARGUMENT");
    EXPECT_NE(e.message.find("API_KEY_INVALID"), std::string::npos);
    EXPECT_NE(e.message.find("API key not valid"), std::string::npos);
    EXPECT_EQ(gemini::map_error(503, "{}", std::nullopt).kind, FailureKind::unavailable);
    EXPECT_EQ(gemini::map_error(500, "oops", std::nullopt).kind, FailureKind::unavailable);
    EXPECT_EQ(gemini::map_error(504, "", std::nullopt).kind, FailureKind::unavailable);
    EXPECT_EQ(gemini::map_error(404, "", std::nullopt).kind, FailureKind::rejected);
    EXPECT_EQ(gemini::map_error(403, "", std::nullopt).kind, FailureKind::rejected);
    // The JSON-array form of streamGenerateContent errors.
    e = gemini::map_error(503, R"([{"error":{"code":503,"status":"UNAVAILABLE","message":"m"}}])",
                          std::nullopt);
    EXPECT_EQ(e.status, "UNAVAILABLE");
    // A non-JSON body ends up in the message.
    e = gemini::map_error(502, "<html>bad gateway</html>", std::nullopt);
    EXPECT_NE(e.message.find("bad gateway"), std::string::npos);
}

TEST(GeminiProtocol, ErrorObjectInsideAStreamIsUnavailable) {
    const auto c =
        gemini::parse_chunk(R"({"error":{"code":500,"status":"INTERNAL","message":"boom"}})");
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::unavailable);
}

TEST(HttpSupport, ParsesSecondsAndDurations) {
    EXPECT_EQ(detail::parse_seconds("57s"), 57000ms);
    EXPECT_EQ(detail::parse_seconds("1.5s"), 1500ms);
    EXPECT_EQ(detail::parse_seconds("0.25"), 250ms);
    EXPECT_EQ(detail::parse_seconds(" 3 "), 3000ms);
    EXPECT_FALSE(detail::parse_seconds(""));
    EXPECT_FALSE(detail::parse_seconds("-1"));
    EXPECT_FALSE(detail::parse_seconds("Wed, 21 Oct 2015 07:28:00 GMT"));
}

TEST(OpenAiProtocol, BuildsChatCompletionsBody) {
    const auto body =
        json::parse(openai::build_request_body("m1", sample_request(), true)).as_object();
    EXPECT_EQ(body.at("model").as_string(), "m1");
    const auto& messages = body.at("messages").as_array();
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0].at("role").as_string(), "system");
    EXPECT_EQ(messages[0].at("content").as_string(), "You are Mira.");
    EXPECT_EQ(messages[1].at("role").as_string(), "user");
    EXPECT_EQ(messages[2].at("role").as_string(), "assistant");
    EXPECT_EQ(messages[3].at("content").as_string(), "how are you?");
    EXPECT_EQ(body.at("max_tokens").as_int64(), 77);
    EXPECT_TRUE(body.at("stream").as_bool());
    EXPECT_TRUE(body.at("stream_options").at("include_usage").as_bool());
}

TEST(OpenAiProtocol, ParsesResponseAndChunks) {
    auto c = openai::parse_response(R"({"id":"x","model":"llama","choices":[{"index":0,
        "message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})",
                                    "fallback");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->text, "Hi there");
    EXPECT_EQ(c->finish_reason, "stop");
    EXPECT_EQ(c->usage.total_tokens, 6);
    EXPECT_EQ(c->model, "llama");

    auto chunk = openai::parse_stream_chunk(
        R"({"choices":[{"index":0,"delta":{"content":"He"},"finish_reason":null}]})");
    ASSERT_TRUE(chunk);
    EXPECT_EQ(chunk->text, "He");
    EXPECT_EQ(chunk->finish_reason, "");
    chunk = openai::parse_stream_chunk(R"({"choices":[],"usage":{"prompt_tokens":1,
        "completion_tokens":2,"total_tokens":3}})");
    ASSERT_TRUE(chunk);
    ASSERT_TRUE(chunk->usage);
    EXPECT_EQ(chunk->usage->completion_tokens, 2);
}

TEST(OpenAiProtocol, MapsErrors) {
    auto e = openai::map_error(429, R"({"error":{"message":"Rate limit reached","type":
        "requests","code":"rate_limit_exceeded"}})",
                               2000ms);
    EXPECT_EQ(e.kind, FailureKind::rate_limited);
    EXPECT_EQ(e.retry_after, 2000ms);
    EXPECT_EQ(e.status, "rate_limit_exceeded");
    e = openai::map_error(429, R"({"error":{"message":"You exceeded your current quota",
        "type":"insufficient_quota","code":"insufficient_quota"}})",
                          std::nullopt);
    EXPECT_EQ(e.kind, FailureKind::quota_exhausted);
    e = openai::map_error(400, R"({"object":"error","message":"bad model","type":
        "BadRequestError","code":400})",
                          std::nullopt);  // vLLM
    EXPECT_EQ(e.kind, FailureKind::rejected);
    EXPECT_NE(e.message.find("bad model"), std::string::npos);
    EXPECT_EQ(openai::map_error(500, R"({"error":{"code":500,"message":"x","type":
        "server_error"}})",
                                std::nullopt)
                  .kind,
              FailureKind::unavailable);
}

}  // namespace
}  // namespace confidant::llm
