#include "llm/openai/openai_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>

#include "http/client/client.hpp"
#include "test_server.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
namespace asio = boost::asio;
namespace json = boost::json;
using test::respond;
using test::ServerRequest;
using test::ServerStream;

enum class Mode { ok, rate_limited, server_error, bad_request, error_mid_stream, slow };

/// A fake OpenAI-compatible server: answers /v1/chat/completions per `mode`, in whole or as
/// SSE depending on the request's "stream", and records what it was sent.
class FakeOpenAi {
  public:
    FakeOpenAi()
        : server_([this](ServerStream& s, const ServerRequest& req) { return handle(s, req); }) {}

    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
    void set_mode(Mode m) { mode_ = m; }

    json::object last_body() {
        std::lock_guard lock(mutex_);
        return last_body_;
    }
    std::string last_header(const std::string& name) {
        std::lock_guard lock(mutex_);
        return headers_[name];
    }
    std::string last_target() {
        std::lock_guard lock(mutex_);
        return target_;
    }

  private:
    static std::string chunk(std::string_view data) {
        const std::string event = "data: " + std::string(data) + "\n\n";
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", event.size());
        return size + event + "\r\n";
    }

    Task<bool> handle(ServerStream& s, const ServerRequest& req) {
        json::object body;
        {
            std::lock_guard lock(mutex_);
            target_ = std::string(req.msg.target());
            headers_["authorization"] = std::string(req.msg["authorization"]);
            headers_["content-type"] = std::string(req.msg["content-type"]);
            boost::system::error_code ec;
            auto v = json::parse(req.msg.body(), ec);
            last_body_ = !ec && v.is_object() ? v.as_object() : json::object{};
            body = last_body_;
        }
        if (req.msg.target() != "/v1/chat/completions") {
            co_return co_await respond(s, req, 404, R"({"error":{"message":"no route"}})");
        }
        const bool stream = body.contains("stream") && body.at("stream").as_bool();
        switch (mode_.load()) {
            case Mode::rate_limited: {
                test::Headers headers;
                headers.emplace_back("Retry-After", "3");
                co_return co_await respond(
                    s, req, 429,
                    R"({"error":{"message":"Rate limit reached","type":"requests",)"
                    R"("code":"rate_limit_exceeded"}})",
                    std::move(headers));
            }
            case Mode::server_error:
                co_return co_await respond(
                    s, req, 500,
                    R"({"error":{"code":500,"message":"boom","type":"server_error"}})");
            case Mode::bad_request:
                co_return co_await respond(
                    s, req, 400,
                    R"({"error":{"message":"model not found","type":"invalid_request_error",)"
                    R"("code":"model_not_found"}})");
            case Mode::slow:
                co_await test::sleep_for(5000ms);
                break;
            case Mode::ok:
            case Mode::error_mid_stream:
                break;
        }
        if (!stream) {
            co_return co_await respond(
                s, req, 200,
                R"({"id":"chatcmpl-1","object":"chat.completion","model":"fake-model",)"
                R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello world"},)"
                R"("finish_reason":"stop"}],)"
                R"("usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})");
        }
        std::string out =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n";
        out += chunk(R"({"model":"fake-model","choices":[{"index":0,"delta":{"role":"assistant"},)"
                     R"("finish_reason":null}]})");
        for (const char* piece : {"Hel", "lo", " world"}) {
            out += chunk(std::string(R"({"model":"fake-model","choices":[{"index":0,"delta":)") +
                         R"({"content":")" + piece + R"("},"finish_reason":null}]})");
            if (mode_ == Mode::error_mid_stream) {
                out += chunk(R"({"error":{"message":"model crashed","type":"server_error"}})");
                break;
            }
        }
        out += chunk(R"({"model":"fake-model","choices":[{"index":0,"delta":{},)"
                     R"("finish_reason":"stop"}]})");
        out += chunk(R"({"model":"fake-model","choices":[],)"
                     R"("usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}})");
        out += chunk("[DONE]");
        out += "0\r\n\r\n";
        co_return co_await s.write_raw(out);
    }

    std::atomic<Mode> mode_{Mode::ok};
    std::mutex mutex_;
    json::object last_body_;
    std::map<std::string, std::string> headers_;
    std::string target_;
    test::TestServer server_;  // last: stopped before the state it uses goes away
};

CompletionRequest chat_request() {
    CompletionRequest r;
    r.system_instruction = "Be brief.";
    r.contents = {{Turn::Role::user, "hi"},
                  {Turn::Role::model, "hello"},
                  {Turn::Role::user, "say hello world"}};
    r.temperature = 0.2;
    r.max_output_tokens = 64;
    return r;
}

class OpenAiProviderTest : public ::testing::Test {
  protected:
    OpenAiProvider make(OpenAiSettings settings = {}) {
        if (settings.base_url == OpenAiSettings{}.base_url) {
            settings.base_url = fake_.base_url();
        }
        return OpenAiProvider(settings, client_);
    }

    // The request must outlive the coroutine, which starts only when run() spawns it.
    LlmResult<Completion> complete(OpenAiProvider& p) {
        return test::run(ioc_, [&]() { return p.complete(request_); });
    }

    LlmResult<Completion> stream(OpenAiProvider& p, std::vector<std::string>& deltas) {
        return test::run(ioc_, [&]() {
            return p.stream(request_, [&](std::string_view d) -> Task<void> {
                deltas.emplace_back(d);
                co_return;
            });
        });
    }

    const CompletionRequest request_ = chat_request();
    FakeOpenAi fake_;
    asio::io_context ioc_;
    std::shared_ptr<http_client::Client> client_ =
        std::make_shared<http_client::Client>(ioc_.get_executor());
};

TEST_F(OpenAiProviderTest, CompletesAndSendsTheChatCompletionsShape) {
    auto p = make({.api_key = "sk-test", .model = "my-model"});
    auto c = complete(p);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->text, "Hello world");
    EXPECT_EQ(c->finish_reason, "stop");
    EXPECT_EQ(c->usage.prompt_tokens, 9);
    EXPECT_EQ(c->usage.total_tokens, 11);
    EXPECT_EQ(c->model, "fake-model");
    EXPECT_EQ(p.name(), "openai");
    EXPECT_EQ(p.model(), "my-model");

    EXPECT_EQ(fake_.last_target(), "/v1/chat/completions");
    EXPECT_EQ(fake_.last_header("authorization"), "Bearer sk-test");
    EXPECT_EQ(fake_.last_header("content-type"), "application/json");
    const auto body = fake_.last_body();
    EXPECT_EQ(body.at("model").as_string(), "my-model");
    EXPECT_FALSE(body.at("stream").as_bool());
    EXPECT_EQ(body.at("max_tokens").as_int64(), 64);
    const auto& messages = body.at("messages").as_array();
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0].at("role").as_string(), "system");
    EXPECT_EQ(messages[2].at("role").as_string(), "assistant");
    EXPECT_EQ(messages[3].at("content").as_string(), "say hello world");
}

TEST_F(OpenAiProviderTest, NoKeyMeansNoAuthorizationHeader) {
    auto p = make();
    ASSERT_TRUE(complete(p));
    EXPECT_EQ(fake_.last_header("authorization"), "");
}

TEST_F(OpenAiProviderTest, AcceptsABaseUrlEndingInV1) {
    auto p = make({.base_url = fake_.base_url() + "/v1/"});
    auto c = complete(p);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(fake_.last_target(), "/v1/chat/completions");
}

TEST_F(OpenAiProviderTest, StreamsDeltasUntilDone) {
    auto p = make();
    std::vector<std::string> deltas;
    auto c = stream(p, deltas);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(deltas, (std::vector<std::string>{"Hel", "lo", " world"}));
    EXPECT_EQ(c->text, "Hello world");
    EXPECT_EQ(c->finish_reason, "stop");
    EXPECT_EQ(c->usage.completion_tokens, 3);
    EXPECT_EQ(c->usage.total_tokens, 12);
    EXPECT_TRUE(fake_.last_body().at("stream").as_bool());
    // The complete chunked answer left the connection reusable.
    ASSERT_TRUE(complete(p));
    EXPECT_EQ(client_->stats().connections_opened, 1u);
}

TEST_F(OpenAiProviderTest, RateLimitHonoursRetryAfter) {
    fake_.set_mode(Mode::rate_limited);
    auto p = make();
    auto c = complete(p);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rate_limited);
    EXPECT_EQ(c.error().http_status, 429);
    EXPECT_EQ(c.error().retry_after, 3000ms);
    std::vector<std::string> deltas;
    auto s = stream(p, deltas);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, FailureKind::rate_limited);
    EXPECT_EQ(s.error().retry_after, 3000ms);
}

TEST_F(OpenAiProviderTest, ServerErrorIsUnavailable) {
    fake_.set_mode(Mode::server_error);
    auto p = make();
    auto c = complete(p);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::unavailable);
    EXPECT_EQ(c.error().http_status, 500);
    EXPECT_NE(c.error().message.find("boom"), std::string::npos);
}

TEST_F(OpenAiProviderTest, BadRequestIsRejected) {
    fake_.set_mode(Mode::bad_request);
    auto p = make();
    auto c = complete(p);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rejected);
    EXPECT_EQ(c.error().status, "model_not_found");
}

TEST_F(OpenAiProviderTest, ErrorInTheMiddleOfAStreamIsUnavailable) {
    fake_.set_mode(Mode::error_mid_stream);
    auto p = make();
    std::vector<std::string> deltas;
    auto s = stream(p, deltas);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, FailureKind::unavailable);
    EXPECT_NE(s.error().message.find("model crashed"), std::string::npos);
    EXPECT_EQ(deltas, std::vector<std::string>{"Hel"});
}

TEST_F(OpenAiProviderTest, SlowServerTimesOutAndCancellationIsCancelled) {
    fake_.set_mode(Mode::slow);
    auto p = make({.read_timeout = 300ms});
    auto c = complete(p);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::timeout);

    auto patient = make({.read_timeout = 60s});
    std::optional<LlmResult<Completion>> seen;
    test::run(ioc_, [&]() -> Task<int> {
        asio::steady_timer timer(ioc_, 100ms);
        auto call = [&]() -> Task<void> { seen = co_await patient.complete(chat_request()); };
        co_await (call() || timer.async_wait(asio::use_awaitable));
        co_return 0;
    });
    ASSERT_TRUE(seen && !*seen);
    EXPECT_EQ(seen->error().kind, FailureKind::cancelled);
    EXPECT_EQ(client_->stats().open_connections, 0u);
}

}  // namespace
}  // namespace confidant::llm
