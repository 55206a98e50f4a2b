// Drives the built gemini-emulator binary over real sockets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// Runs the binary with `args`; stdout (and optionally stderr) go to pipes.
struct Child {
    pid_t pid = -1;
    int out_fd = -1;
    int err_fd = -1;
};

Child spawn(const std::vector<std::string>& args, bool capture_stderr) {
    int out[2];
    int err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (capture_stderr) {
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    }
    std::vector<std::string> all{GEMINI_EMULATOR_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    Child c;
    const int rc =
        posix_spawn(&c.pid, GEMINI_EMULATOR_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(rc, 0) << "cannot start " << GEMINI_EMULATOR_PATH;
    close(out[1]);
    close(err[1]);
    c.out_fd = out[0];
    c.err_fd = err[0];
    return c;
}

// Reads until EOF or `timeout`.
std::string read_all(int fd, std::chrono::milliseconds timeout) {
    std::string data;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
    return data;
}

// Waits for the child to exit; returns its wait status, or nullopt after `timeout`.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return status;
        }
        std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
}

// A running emulator on a free port; stopped with SIGTERM (by pid) on destruction.
class Emulator {
  public:
    explicit Emulator(std::vector<std::string> args) {
        args.insert(args.begin(), {"--port", "0", "--threads", "2"});
        child_ = spawn(args, false);
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        char c = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{child_.out_fd, POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) {
                continue;
            }
            if (read(child_.out_fd, &c, 1) != 1 || c == '\n') {
                break;
            }
            line += c;
        }
        const std::string prefix = "listening on 127.0.0.1:";
        if (line.rfind(prefix, 0) != 0) {
            ADD_FAILURE() << "unexpected first line: '" << line << "'";
            return;
        }
        port_ = static_cast<unsigned short>(std::stoi(line.substr(prefix.size())));
    }

    ~Emulator() {
        if (child_.pid > 0) {
            stop();
        }
        close(child_.out_fd);
        close(child_.err_fd);
    }

    // SIGTERM, then the exit status (SIGKILL if it does not stop in 30 s).
    int stop() {
        kill(child_.pid, SIGTERM);
        auto status = wait_exit(child_.pid, 30s);
        if (!status) {
            kill(child_.pid, SIGKILL);
            status = wait_exit(child_.pid, 30s);
        }
        child_.pid = -1;
        return status.value_or(-1);
    }

    unsigned short port() const { return port_; }

  private:
    Child child_;
    unsigned short port_ = 0;
};

struct Reply {
    unsigned status = 0;
    http::fields headers;
    std::string body;
    json::value json() const { return json::parse(body); }
};

// One client connection; requests may share it (keep-alive).
class Client {
  public:
    explicit Client(unsigned short port) : stream_(ioc_) {
        stream_.expires_after(30s);
        stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    }

    Reply request(http::verb verb, const std::string& target, const std::string& body = {},
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1");
        for (const auto& [k, v] : headers) {
            req.set(k, v);
        }
        if (!body.empty() || verb == http::verb::post) {
            req.set(http::field::content_type, "application/json");
            req.body() = body;
            req.prepare_payload();
        }
        stream_.expires_after(60s);
        http::write(stream_, req);
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        http::read(stream_, buffer_, parser);
        auto res = parser.release();
        Reply r;
        r.status = res.result_int();
        r.headers = res.base();
        r.body = res.body();
        return r;
    }

    Reply post(const std::string& target, const std::string& body,
               const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        return request(http::verb::post, target, body, headers);
    }

    beast::tcp_stream& stream() { return stream_; }

  private:
    net::io_context ioc_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
};

constexpr const char* kGenerate = "/v1beta/models/gemini-2.0-flash:generateContent";
constexpr const char* kStreamSse = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
constexpr const char* kStreamArray = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";

std::string chat_body(const std::string& user_text, const std::string& system = "Be kind.") {
    json::object body;
    body["systemInstruction"] = {{"parts", json::array{{{"text", system}}}}};
    body["contents"] = json::array{
        {{"role", "user"}, {"parts", json::array{{{"text", "earlier question"}}}}},
        {{"role", "model"}, {"parts", json::array{{{"text", "earlier answer"}}}}},
        {{"role", "user"}, {"parts", json::array{{{"text", user_text}}}}},
    };
    body["generationConfig"] = {{"temperature", 0.7}, {"maxOutputTokens", 1024}};
    return json::serialize(body);
}

std::string candidate_text(const json::value& response) {
    return std::string(
        response.at("candidates").at(0).at("content").at("parts").at(0).at("text").as_string());
}

std::string error_status(const Reply& r) {
    return std::string(r.json().at("error").at("status").as_string());
}

// Splits an SSE body into the JSON of each `data:` event.
std::vector<json::value> sse_events(const std::string& body) {
    std::vector<json::value> events;
    std::size_t pos = 0;
    while (pos < body.size()) {
        const auto end = body.find("\r\n\r\n", pos);
        EXPECT_NE(end, std::string::npos) << "unterminated event";
        if (end == std::string::npos) {
            break;
        }
        const std::string event = body.substr(pos, end - pos);
        EXPECT_EQ(event.rfind("data: ", 0), 0U) << event;
        events.push_back(json::parse(event.substr(6)));
        pos = end + 4;
    }
    return events;
}

TEST(GeminiEmulator, GenerateContentHasGeminiShapeAndIsDeterministic) {
    Emulator emu({});
    Client client(emu.port());
    const auto first = client.post(kGenerate, chat_body("hello there"));
    ASSERT_EQ(first.status, 200U) << first.body;
    EXPECT_EQ(first.headers[http::field::content_type], "application/json; charset=UTF-8");
    const auto j = first.json();
    const auto& candidate = j.at("candidates").at(0);
    EXPECT_EQ(candidate.at("content").at("role").as_string(), "model");
    EXPECT_EQ(candidate.at("finishReason").as_string(), "STOP");
    EXPECT_EQ(candidate.at("index").as_int64(), 0);
    const std::string text = candidate_text(j);
    EXPECT_EQ(text.rfind("You said: hello there. ", 0), 0U) << text;
    EXPECT_GT(text.size(), std::string("You said: hello there. ").size());
    const auto& usage = j.at("usageMetadata");
    EXPECT_GT(usage.at("promptTokenCount").as_int64(), 0);
    EXPECT_GT(usage.at("candidatesTokenCount").as_int64(), 0);
    EXPECT_EQ(
        usage.at("totalTokenCount").as_int64(),
        usage.at("promptTokenCount").as_int64() + usage.at("candidatesTokenCount").as_int64());
    EXPECT_EQ(j.at("modelVersion").as_string(), "gemini-2.0-flash");
    EXPECT_FALSE(j.at("responseId").as_string().empty());

    // Same request on the same keep-alive connection: same text.
    const auto again = client.post(kGenerate, chat_body("hello there"));
    ASSERT_EQ(again.status, 200U);
    EXPECT_EQ(candidate_text(again.json()), text);

    // Another system instruction changes the tail but keeps the echo.
    const auto other = client.post(kGenerate, chat_body("hello there", "Be terse."));
    ASSERT_EQ(other.status, 200U);
    const std::string other_text = candidate_text(other.json());
    EXPECT_EQ(other_text.rfind("You said: hello there. ", 0), 0U);
    EXPECT_NE(other_text, text);
}

TEST(GeminiEmulator, StreamedChunksJoinToTheNonStreamedText) {
    Emulator emu({});
    Client client(emu.port());
    const std::string body = chat_body("tell me a story about the sea");
    const auto whole = client.post(kGenerate, body);
    ASSERT_EQ(whole.status, 200U);
    const std::string expected = candidate_text(whole.json());

    const auto sse = client.post(kStreamSse, body);
    ASSERT_EQ(sse.status, 200U) << sse.body;
    EXPECT_EQ(sse.headers[http::field::content_type], "text/event-stream");
    const auto events = sse_events(sse.body);
    ASSERT_GT(events.size(), 2U);
    std::string joined;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& e = events[i];
        joined += candidate_text(e);
        const auto& cand = e.at("candidates").at(0).as_object();
        const bool last = i + 1 == events.size();
        EXPECT_EQ(cand.contains("finishReason"), last) << i;
        EXPECT_EQ(e.as_object().contains("usageMetadata"), last) << i;
    }
    EXPECT_EQ(joined, expected);
    EXPECT_EQ(events.back().at("candidates").at(0).at("finishReason").as_string(), "STOP");
    EXPECT_GT(events.back().at("usageMetadata").at("candidatesTokenCount").as_int64(), 0);

    // Without alt=sse: one JSON array of the same responses.
    const auto array = client.post(kStreamArray, body);
    ASSERT_EQ(array.status, 200U) << array.body;
    const auto list = array.json().as_array();
    ASSERT_EQ(list.size(), events.size());
    std::string joined_array;
    for (const auto& e : list) {
        joined_array += candidate_text(e);
    }
    EXPECT_EQ(joined_array, expected);
}

// One I/O thread (what bench/chat.sh runs, without strands) serves many connections at once:
// 40 clients waiting on a 300 ms latency finish together, not one after another.
TEST(GeminiEmulator, OneThreadServesManyConnectionsConcurrently) {
    Emulator emu({"--threads", "1", "--latency-ms", "300"});
    constexpr int kClients = 40;
    std::vector<std::string> texts(kClients);
    std::vector<std::string> streamed(kClients);
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            Client client(emu.port());
            const std::string body = chat_body("hello number " + std::to_string(i % 4));
            const auto whole = client.post(kGenerate, body);
            if (whole.status == 200U) {
                texts[static_cast<std::size_t>(i)] = candidate_text(whole.json());
            }
            const auto sse = client.post(kStreamSse, body);
            if (sse.status == 200U) {
                for (const auto& e : sse_events(sse.body)) {
                    streamed[static_cast<std::size_t>(i)] += candidate_text(e);
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    // Two requests each at 300 ms: about 0.6 s together; one after another would be 24 s.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    for (int i = 0; i < kClients; ++i) {
        const auto k = static_cast<std::size_t>(i);
        EXPECT_EQ(texts[k].rfind("You said: hello number " + std::to_string(i % 4), 0), 0U)
            << i << ": " << texts[k];
        EXPECT_EQ(streamed[k], texts[k]) << i;
        EXPECT_EQ(texts[k], texts[k % 4]) << i;  // the same prompt, the same reply
    }
}

TEST(GeminiEmulator, RateLimitFirstAnswers429WithRetryInfo) {
    Emulator emu({"--rate-limit-first", "1", "--retry-after-s", "7"});
    Client client(emu.port());
    const auto limited = client.post(kGenerate, chat_body("hi"));
    ASSERT_EQ(limited.status, 429U) << limited.body;
    EXPECT_EQ(limited.headers[http::field::retry_after], "7");
    const auto err = limited.json().at("error");
    EXPECT_EQ(err.at("code").as_int64(), 429);
    EXPECT_EQ(err.at("status").as_string(), "RESOURCE_EXHAUSTED");
    EXPECT_EQ(err.at("message").as_string(), "Resource has been exhausted (e.g. check quota).");
    const auto& details = err.at("details").as_array();
    ASSERT_EQ(details.size(), 2U);
    EXPECT_EQ(details[0].at("@type").as_string(), "type.googleapis.com/google.rpc.QuotaFailure");
    EXPECT_EQ(details[0].at("violations").at(0).at("quotaId").as_string(),
              "GenerateRequestsPerMinutePerProjectPerModel");
    EXPECT_EQ(details[1].at("@type").as_string(), "type.googleapis.com/google.rpc.RetryInfo");
    EXPECT_EQ(details[1].at("retryDelay").as_string(), "7s");

    const auto ok = client.post(kGenerate, chat_body("hi"));
    EXPECT_EQ(ok.status, 200U) << ok.body;
}

TEST(GeminiEmulator, DailyQuotaAnswers429WithoutRetryInfo) {
    Emulator emu({"--daily-quota-rate", "1"});
    Client client(emu.port());
    const auto r = client.post(kGenerate, chat_body("hi"));
    ASSERT_EQ(r.status, 429U) << r.body;
    EXPECT_EQ(r.headers.count(http::field::retry_after), 0U);
    const auto err = r.json().at("error");
    EXPECT_EQ(err.at("status").as_string(), "RESOURCE_EXHAUSTED");
    const auto& details = err.at("details").as_array();
    ASSERT_EQ(details.size(), 1U);
    EXPECT_EQ(details[0].at("violations").at(0).at("quotaId").as_string(),
              "GenerateRequestsPerDayPerProjectPerModel");
}

TEST(GeminiEmulator, OutageWindowFromFlags) {
    // Starts at once and lasts far longer than the test.
    Emulator emu({"--outage-after-s", "0", "--outage-for-s", "3600"});
    Client client(emu.port());
    const auto r = client.post(kGenerate, chat_body("hi"));
    EXPECT_EQ(r.status, 503U) << r.body;
    EXPECT_EQ(error_status(r), "UNAVAILABLE");
    EXPECT_EQ(client.request(http::verb::get, "/healthz").status, 200U);
}

TEST(GeminiEmulator, FailFirstAnswers503ThenRecovers) {
    Emulator emu({"--fail-first", "2"});
    Client client(emu.port());
    for (int i = 0; i < 2; ++i) {
        const auto r = client.post(kStreamSse, chat_body("hi"));
        ASSERT_EQ(r.status, 503U) << r.body;
        EXPECT_EQ(error_status(r), "UNAVAILABLE");
    }
    EXPECT_EQ(client.post(kStreamSse, chat_body("hi")).status, 200U);
}

TEST(GeminiEmulator, RejectsMissingOrWrongApiKey) {
    Emulator emu({"--api-key", "s3cret"});
    Client client(emu.port());
    for (const auto& r : {client.post(kGenerate, chat_body("hi")),
                          client.post(kGenerate, chat_body("hi"), {{"x-goog-api-key", "nope"}}),
                          client.post(std::string(kGenerate) + "?key=nope", chat_body("hi"))}) {
        ASSERT_EQ(r.status, 400U) << r.body;
        const auto err = r.json().at("error");
        EXPECT_EQ(err.at("status").as_string(), "INVALID_ARGUMENT");
        EXPECT_EQ(err.at("message").as_string(), "API key not valid. Please pass a valid API key.");
        EXPECT_EQ(err.at("details").at(0).at("reason").as_string(), "API_KEY_INVALID");
    }
    EXPECT_EQ(client.post(kGenerate, chat_body("hi"), {{"x-goog-api-key", "s3cret"}}).status, 200U);
    EXPECT_EQ(client.post(std::string(kGenerate) + "?key=s3cret", chat_body("hi")).status, 200U);
}

TEST(GeminiEmulator, StatsCountEveryModelRequest) {
    Emulator emu({});
    Client client(emu.port());
    EXPECT_EQ(client.request(http::verb::get, "/healthz").json().at("status").as_string(), "ok");
    EXPECT_EQ(client.request(http::verb::get, "/stats").json().at("requests").as_int64(), 0);
    EXPECT_EQ(client.post(kGenerate, chat_body("a")).status, 200U);
    EXPECT_EQ(client.post(kStreamSse, chat_body("b")).status, 200U);
    const auto bad = client.post(kGenerate, "{not json");
    EXPECT_EQ(bad.status, 400U);
    EXPECT_EQ(error_status(bad), "INVALID_ARGUMENT");
    EXPECT_EQ(client.request(http::verb::get, "/healthz").status, 200U);
    EXPECT_EQ(client.request(http::verb::get, "/stats").json().at("requests").as_int64(), 3);
    EXPECT_EQ(client.post("/stats/reset", "").status, 200U);
    EXPECT_EQ(client.request(http::verb::get, "/stats").json().at("requests").as_int64(), 0);
}

TEST(GeminiEmulator, ControlOutageFailsEverythingUntilCleared) {
    Emulator emu({});
    Client client(emu.port());
    const auto on = client.post("/control", R"({"outage": true})");
    ASSERT_EQ(on.status, 200U) << on.body;
    EXPECT_TRUE(on.json().at("outage").as_bool());
    for (const char* target : {kGenerate, kStreamSse}) {
        const auto r = client.post(target, chat_body("hi"));
        EXPECT_EQ(r.status, 503U) << target;
        EXPECT_EQ(error_status(r), "UNAVAILABLE");
    }
    const auto off = client.post("/control", R"({"outage": false, "latency_ms": 5})");
    ASSERT_EQ(off.status, 200U);
    EXPECT_FALSE(off.json().at("outage").as_bool());
    EXPECT_EQ(off.json().at("latency_ms").as_int64(), 5);
    EXPECT_EQ(client.post(kGenerate, chat_body("hi")).status, 200U);

    EXPECT_EQ(client.post("/control", R"({"bogus": 1})").status, 400U);
    EXPECT_EQ(client.post("/control", R"({"error_rate": 2})").status, 400U);
    // fail_next through /control.
    ASSERT_EQ(client.post("/control", R"({"fail_next": 1})").status, 200U);
    EXPECT_EQ(client.post(kGenerate, chat_body("hi")).status, 503U);
    EXPECT_EQ(client.post(kGenerate, chat_body("hi")).status, 200U);
}

TEST(GeminiEmulator, RejectsBadRequestsLikeGemini) {
    Emulator emu({});
    Client client(emu.port());
    const auto no_contents = client.post(kGenerate, R"({"generationConfig": {}})");
    EXPECT_EQ(no_contents.status, 400U);
    EXPECT_EQ(error_status(no_contents), "INVALID_ARGUMENT");
    EXPECT_EQ(client.post(kGenerate, R"({"contents": []})").status, 400U);
    EXPECT_EQ(client.post(kGenerate, R"({"contents": [{"role": "bot", "parts": [{"text": "x"}]}]})")
                  .status,
              400U);
    const auto unknown = client.post("/v1beta/nothing", "{}");
    EXPECT_EQ(unknown.status, 404U);
    EXPECT_EQ(error_status(unknown), "NOT_FOUND");
    const auto get = client.request(http::verb::get, kGenerate);
    EXPECT_TRUE(get.status == 404U || get.status == 405U) << get.status;
    // snake_case field names are accepted like the real API.
    const auto snake = client.post(kGenerate, R"({"system_instruction": {"parts": [{"text": "s"}]},
                       "contents": [{"parts": [{"text": "snake"}]}],
                       "generation_config": {"max_output_tokens": 500}})");
    ASSERT_EQ(snake.status, 200U) << snake.body;
    EXPECT_EQ(candidate_text(snake.json()).rfind("You said: snake. ", 0), 0U);
}

TEST(GeminiEmulator, SurvivesClientDisconnectMidStream) {
    Emulator emu({"--tokens-per-second", "20", "--reply-words", "60"});
    {
        Client client(emu.port());
        http::request<http::string_body> req{http::verb::post, kStreamSse, 11};
        req.set(http::field::host, "127.0.0.1");
        req.body() = chat_body("going away");
        req.prepare_payload();
        http::write(client.stream(), req);
        beast::flat_buffer buffer;
        http::response_parser<http::empty_body> parser;
        http::read_header(client.stream(), buffer, parser);
        EXPECT_EQ(parser.get().result_int(), 200U);
        client.stream().socket().close();  // the emulator is still streaming
    }
    std::this_thread::sleep_for(300ms);
    Client again(emu.port());
    EXPECT_EQ(again.request(http::verb::get, "/healthz").status, 200U);
    EXPECT_EQ(again.post(kGenerate, chat_body("still here")).status, 200U);
    EXPECT_EQ(emu.stop(), 0);  // SIGTERM → exit status 0
}

// --latency-ms counts from the request's arrival (its header), as a remote service's latency
// would: a body that trickles in slowly is not added on top of it.
TEST(GeminiEmulator, LatencyCountsFromTheRequestsArrival) {
    Emulator emu({"--latency-ms", "400"});
    Client client(emu.port());
    const std::string body = chat_body("slow body");
    std::string head = std::string("POST ") + kGenerate +
                       " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n";
    const auto start = std::chrono::steady_clock::now();
    net::write(client.stream().socket(), net::buffer(head));
    std::this_thread::sleep_for(600ms);
    net::write(client.stream().socket(), net::buffer(body));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(client.stream(), buffer, res);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(res.result_int(), 200U);
    // Counted from the body instead, it would take 600 + 400 ms.
    EXPECT_GE(took, 600ms);
    EXPECT_LT(took, 850ms);
}

TEST(GeminiEmulator, BadFlagsExitWithStatus2AndOneLine) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--no-such-flag"}, {"--error-rate", "1.5"}, {"--port", "http"}, {"--threads"}}) {
        Child c = spawn(args, true);
        const std::string err = read_all(c.err_fd, 30s);
        const auto status = wait_exit(c.pid, 30s);
        ASSERT_TRUE(status.has_value());
        EXPECT_TRUE(WIFEXITED(*status));
        EXPECT_EQ(WEXITSTATUS(*status), 2) << args[0];
        EXPECT_FALSE(err.empty());
        EXPECT_EQ(err.find('\n'), err.size() - 1) << err;
        close(c.out_fd);
        close(c.err_fd);
    }
}

}  // namespace
