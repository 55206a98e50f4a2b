#include "llm/gemini/gemini_provider.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include "http/client/client.hpp"
#include "test_server.hpp"

namespace confidant::llm {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
namespace asio = boost::asio;

constexpr const char* kEmulator = GEMINI_EMULATOR_PATH;

/// The real gemini-emulator binary on a free loopback port; stopped by pid.
class Emulator {
  public:
    explicit Emulator(std::vector<std::string> flags) {
        std::vector<std::string> args{kEmulator, "--port", "0", "--threads", "1"};
        args.insert(args.end(), flags.begin(), flags.end());
        int out[2];
        if (::pipe(out) != 0) {
            throw std::runtime_error("pipe failed");
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            // Die with the test process even if it crashes before stopping us.
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            ::dup2(out[1], STDOUT_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<char*> argv;
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(kEmulator, argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        // Read "listening on 127.0.0.1:PORT\n" (generous deadline for a loaded machine).
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (line.find('\n') == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            pollfd p{out[0], POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                char buf[256];
                const auto n = ::read(out[0], buf, sizeof buf);
                if (n <= 0) {
                    break;
                }
                line.append(buf, static_cast<std::size_t>(n));
            }
        }
        ::close(out[0]);
        const auto colon = line.rfind(':');
        if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
            stop();
            throw std::runtime_error("gemini-emulator did not start: '" + line + "'");
        }
        port_ = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
    }

    ~Emulator() { stop(); }

    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }

    pid_t pid_ = -1;
    unsigned short port_ = 0;
};

CompletionRequest hello_request(std::string text = "Hello there") {
    CompletionRequest r;
    r.system_instruction = "You are a kind companion.";
    r.contents = {
        {Turn::Role::user, "hi"}, {Turn::Role::model, "hey!"}, {Turn::Role::user, std::move(text)}};
    r.temperature = 0.7;
    r.max_output_tokens = 512;
    return r;
}

class GeminiProviderTest : public ::testing::Test {
  protected:
    // Starts the emulator with `flags` and a provider (own client) for it.
    void start(std::vector<std::string> flags, GeminiSettings settings = {}) {
        emulator_.emplace(std::move(flags));
        client_ = std::make_shared<http_client::Client>(ioc_.get_executor());
        settings.base_url = emulator_->base_url();
        if (settings.api_key.empty()) {
            settings.api_key = "test-key";
        }
        provider_ = std::make_unique<GeminiProvider>(settings, client_);
    }

    LlmResult<Completion> complete(const CompletionRequest& r = hello_request()) {
        return test::run(ioc_, [&]() { return provider_->complete(r); });
    }

    LlmResult<Completion> stream(std::vector<std::string>& deltas,
                                 const CompletionRequest& r = hello_request()) {
        return test::run(ioc_, [&]() {
            return provider_->stream(r, [&](std::string_view d) -> Task<void> {
                deltas.emplace_back(d);
                co_return;
            });
        });
    }

    boost::json::object emulator_stats() {
        auto r = test::run(ioc_, [&]() {
            return client_->request(http_client::Request{.url = emulator_->base_url() + "/stats"});
        });
        EXPECT_TRUE(r);
        return boost::json::parse(r->body).as_object();
    }

    void control(const std::string& json) {
        auto r = test::run(ioc_, [&]() {
            return client_->request(http_client::Request{
                .method = "POST", .url = emulator_->base_url() + "/control", .body = json});
        });
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200u) << r->body;
    }

    asio::io_context ioc_;
    std::optional<Emulator> emulator_;
    std::shared_ptr<http_client::Client> client_;
    std::unique_ptr<GeminiProvider> provider_;
};

TEST_F(GeminiProviderTest, CompletesWithTheEmulatorsEcho) {
    start({});
    auto c = complete();
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->text.rfind("You said: Hello there.", 0), 0u) << c->text;
    EXPECT_EQ(c->finish_reason, "STOP");
    EXPECT_GT(c->usage.prompt_tokens, 0);
    EXPECT_GT(c->usage.completion_tokens, 0);
    EXPECT_EQ(c->usage.total_tokens, c->usage.prompt_tokens + c->usage.completion_tokens);
    EXPECT_FALSE(c->model.empty());
    EXPECT_EQ(provider_->name(), "gemini");
}

TEST_F(GeminiProviderTest, StreamedDeltasJoinToTheNonStreamedText) {
    start({"--words-per-chunk", "2"});
    auto whole = complete();
    ASSERT_TRUE(whole) << whole.error().message;
    std::vector<std::string> deltas;
    auto streamed = stream(deltas);
    ASSERT_TRUE(streamed) << streamed.error().message;
    EXPECT_GT(deltas.size(), 2u);
    std::string joined;
    for (const auto& d : deltas) {
        joined += d;
    }
    EXPECT_EQ(joined, whole->text);
    EXPECT_EQ(streamed->text, whole->text);
    EXPECT_EQ(streamed->finish_reason, "STOP");
    EXPECT_EQ(streamed->usage.completion_tokens, whole->usage.completion_tokens);
}

TEST_F(GeminiProviderTest, RateLimitWithRetryInfo) {
    start({"--rate-limit-first", "2", "--retry-after-s", "7"});
    auto c = complete();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rate_limited) << c.error().message;
    EXPECT_EQ(c.error().http_status, 429);
    EXPECT_EQ(c.error().status, "RESOURCE_EXHAUSTED");
    ASSERT_TRUE(c.error().retry_after);
    EXPECT_EQ(*c.error().retry_after, 7000ms);
    EXPECT_TRUE(c.error().retryable());
    // The same before a stream starts.
    std::vector<std::string> deltas;
    auto s = stream(deltas);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, FailureKind::rate_limited);
    EXPECT_EQ(s.error().retry_after, 7000ms);
    EXPECT_TRUE(deltas.empty());
    EXPECT_TRUE(complete());  // the limit is over
}

TEST_F(GeminiProviderTest, PerDayQuotaIsExhausted) {
    start({"--daily-quota-rate", "1"});
    auto c = complete();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::quota_exhausted) << c.error().message;
    EXPECT_FALSE(c.error().retryable());
}

TEST_F(GeminiProviderTest, ServiceUnavailable) {
    start({"--fail-first", "2"});
    auto c = complete();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::unavailable);
    EXPECT_EQ(c.error().http_status, 503);
    EXPECT_EQ(c.error().status, "UNAVAILABLE");
    std::vector<std::string> deltas;
    auto s = stream(deltas);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, FailureKind::unavailable);
    EXPECT_TRUE(complete());
}

TEST_F(GeminiProviderTest, WrongApiKeyIsRejected) {
    start({"--api-key", "the-right-key"}, GeminiSettings{.api_key = "a-wrong-key"});
    auto c = complete();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::rejected);
    EXPECT_EQ(c.error().http_status, 400);
    EXPECT_NE(c.error().message.find("API_KEY_INVALID"), std::string::npos) << c.error().message;
    EXPECT_FALSE(c.error().retryable());
}

TEST_F(GeminiProviderTest, RightApiKeyIsAccepted) {
    start({"--api-key", "the-right-key"}, GeminiSettings{.api_key = "the-right-key"});
    EXPECT_TRUE(complete());
}

TEST_F(GeminiProviderTest, LatencyOverTheReadTimeoutIsATimeout) {
    start({"--latency-ms", "5000"}, GeminiSettings{.read_timeout = 300ms});
    auto c = complete();
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::timeout) << c.error().message;
    EXPECT_TRUE(c.error().retryable());
}

TEST_F(GeminiProviderTest, StalledStreamIsATimeoutAfterSomeDeltas) {
    start({"--stall-after-chunks", "1", "--stall-ms", "5000", "--words-per-chunk", "2"},
          GeminiSettings{.read_timeout = 300ms});
    std::vector<std::string> deltas;
    auto s = stream(deltas);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, FailureKind::timeout) << s.error().message;
    EXPECT_EQ(deltas.size(), 1u);
}

TEST_F(GeminiProviderTest, CancellationReturnsPromptlyAndDropsTheConnection) {
    start({"--latency-ms", "60000"});
    const auto started = std::chrono::steady_clock::now();
    std::optional<LlmResult<Completion>> seen;
    auto winner = test::run(ioc_, [&]() -> Task<int> {
        asio::steady_timer timer(ioc_, 200ms);
        auto call = [&]() -> Task<void> { seen = co_await provider_->complete(hello_request()); };
        auto r = co_await (call() || timer.async_wait(asio::use_awaitable));
        co_return static_cast<int>(r.index());
    });
    EXPECT_EQ(winner, 1);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);  // not the 60 s latency
    ASSERT_TRUE(seen);
    ASSERT_FALSE(*seen);
    EXPECT_EQ(seen->error().kind, FailureKind::cancelled);
    EXPECT_EQ(client_->stats().open_connections, 0u);
    EXPECT_EQ(client_->stats().idle_connections, 0u);

    control(R"({"latency_ms":0})");  // on a new connection
    auto c = complete();
    ASSERT_TRUE(c) << c.error().message;
    // The cancelled connection was not reused: control + complete ran on a second one.
    EXPECT_EQ(client_->stats().connections_opened, 2u);
}

TEST_F(GeminiProviderTest, CancellingAStreamMidwayStopsIt) {
    start({"--stall-after-chunks", "1", "--stall-ms", "60000", "--words-per-chunk", "2"});
    std::vector<std::string> deltas;
    std::optional<LlmResult<Completion>> seen;
    test::run(ioc_, [&]() -> Task<int> {
        asio::steady_timer timer(ioc_, 300ms);
        auto call = [&]() -> Task<void> {
            seen =
                co_await provider_->stream(hello_request(), [&](std::string_view d) -> Task<void> {
                    deltas.emplace_back(d);
                    co_return;
                });
        };
        co_await (call() || timer.async_wait(asio::use_awaitable));
        co_return 0;
    });
    ASSERT_TRUE(seen);
    ASSERT_FALSE(*seen);
    EXPECT_EQ(seen->error().kind, FailureKind::cancelled);
    EXPECT_EQ(deltas.size(), 1u);
    EXPECT_EQ(client_->stats().open_connections, 0u);
}

TEST_F(GeminiProviderTest, SequentialCallsReuseOneConnection) {
    start({});
    for (int i = 0; i < 20; ++i) {
        auto c = complete(hello_request("message " + std::to_string(i)));
        ASSERT_TRUE(c) << c.error().message;
        EXPECT_NE(c->text.find("message " + std::to_string(i)), std::string::npos);
    }
    std::vector<std::string> deltas;
    ASSERT_TRUE(stream(deltas));
    const auto stats = emulator_stats();
    EXPECT_EQ(stats.at("requests").to_number<int>(), 21);
    EXPECT_EQ(stats.at("connections").to_number<int>(), 1);
    EXPECT_EQ(client_->stats().connections_opened, 1u);
    EXPECT_EQ(client_->stats().connections_reused, 21u);  // 20 calls after the first + /stats
}

TEST_F(GeminiProviderTest, ConcurrentCallsAllSucceed) {
    start({"--latency-ms", "20"});
    constexpr int kCalls = 40;
    auto ok = test::run(ioc_, [&]() -> Task<int> {
        int n = 0;
        auto one = [&](int i) -> Task<void> {
            auto c = co_await provider_->complete(hello_request("n" + std::to_string(i)));
            n += c && c->text.find("n" + std::to_string(i)) != std::string::npos ? 1 : 0;
        };
        for (int batch = 0; batch < kCalls / 4; ++batch) {
            const int b = batch * 4;
            co_await (one(b) && one(b + 1) && one(b + 2) && one(b + 3));
        }
        co_return n;
    });
    EXPECT_EQ(ok, kCalls);
    EXPECT_LE(client_->stats().connections_opened, 4u);
}

TEST_F(GeminiProviderTest, AcceptsABaseUrlWithTheVersion) {
    start({});
    GeminiSettings settings{.api_key = "k", .base_url = emulator_->base_url() + "/v1beta/"};
    GeminiProvider provider(settings, client_);
    const auto request = hello_request();  // outlives the lazily started coroutine
    auto c = test::run(ioc_, [&]() { return provider.complete(request); });
    ASSERT_TRUE(c) << c.error().message;
}

TEST_F(GeminiProviderTest, NothingListeningIsUnavailable) {
    start({});
    GeminiSettings settings{.api_key = "k", .base_url = "http://127.0.0.1:1"};
    GeminiProvider provider(settings, client_);
    const auto request = hello_request();  // outlives the lazily started coroutine
    auto c = test::run(ioc_, [&]() { return provider.complete(request); });
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind, FailureKind::unavailable) << c.error().message;
}

}  // namespace
}  // namespace confidant::llm
