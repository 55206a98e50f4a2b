#include "server.hpp"

#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <tuple>

#include "gemini_json.hpp"
#include "http/header_line.hpp"
#include "http/parse_buffered.hpp"
#include "http/socket_now.hpp"
#include "reply.hpp"
#include "speech.hpp"

namespace confidant::emulator {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kBodyLimit = 4 * 1024 * 1024;
constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kFirstRead = 8 * 1024;  // a new connection's first read, taken at once
// Long enough for idle keep-alive connections of a load test; a real server closes earlier.
constexpr auto kIdleTimeout = 300s;
constexpr auto kReadTimeout = 60s;
constexpr auto kWriteTimeout = 60s;
constexpr std::string_view kModelsPrefix = "/v1beta/models/";
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

void set_common_headers(http::response_header<>& h) {
    h.set(http::field::server, "scaffolding on HTTPServer2");
    h.set(http::field::vary, "Origin, X-Origin, Referer");
    h.set("X-Content-Type-Options", "nosniff");
    h.set("X-Frame-Options", "SAMEORIGIN");
    h.set("X-XSS-Protection", "0");
}

Response json_response(http::status status, std::string body, unsigned version, bool keep_alive) {
    Response res{status, version};
    set_common_headers(res.base());
    res.set(http::field::content_type, "application/json; charset=UTF-8");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

// A whole answer as one buffer and one write: for these small JSON answers Beast's serializer
// costs more than the write itself, and this process shares the benchmark machine's cores.
Task<bool> send(beast::tcp_stream& stream, Response res) {
    std::string out;
    out.reserve(512 + res.body().size());
    out.append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    out.append(std::to_string(res.result_int()));
    out.push_back(' ');
    out.append(res.reason());
    out.append("\r\n");
    confidant::http::append_header_lines(out, res);
    out.append("\r\n");
    out.append(res.body());
    stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream, net::buffer(out), use_tuple);
    co_return !ec && res.keep_alive();
}

bool valid_model_name(std::string_view m) {
    if (m.empty() || m.size() > 200) {
        return false;
    }
    for (char c : m) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::size_t count_words(std::string_view s) {
    std::size_t words = 0;
    bool in_word = false;
    for (char c : s) {
        const bool space = c == ' ' || c == '\n' || c == '\t';
        if (!space && !in_word) {
            ++words;
        }
        in_word = !space;
    }
    return words;
}

// Buffers a streamed response (header, then chunk-framed data for HTTP/1.1 or raw bytes for
// HTTP/1.0) and writes everything buffered in one call at each flush. The caller flushes only
// before it waits, so an unpaced stream costs a single write.
class StreamWriter {
  public:
    StreamWriter(beast::tcp_stream& stream, const http::response_header<>& header, bool chunked)
        : stream_(stream), chunked_(chunked) {
        http::fields::writer fw{header, header.version(), header.result_int()};
        pending_ = beast::buffers_to_string(fw.get());
    }

    void add(std::string_view data) {
        if (data.empty()) {
            return;
        }
        if (chunked_) {
            pending_ += fmt::format("{:x}\r\n", data.size());
        }
        pending_ += data;
        if (chunked_) {
            pending_ += "\r\n";
        }
    }

    void add_last() {
        if (chunked_) {
            pending_ += "0\r\n\r\n";
        }
    }

    Task<bool> flush() {
        if (pending_.empty()) {
            co_return true;
        }
        stream_.expires_after(kWriteTimeout);
        auto [ec, n] = co_await net::async_write(stream_, net::buffer(pending_), use_tuple);
        pending_.clear();
        co_return !ec;
    }

  private:
    beast::tcp_stream& stream_;
    bool chunked_;
    std::string pending_;
};

Task<void> wait_until(std::chrono::steady_clock::time_point t) {
    if (t <= std::chrono::steady_clock::now()) {
        co_return;
    }
    net::steady_timer timer(co_await net::this_coro::executor, t);
    co_await timer.async_wait(use_tuple);
}

Task<void> wait_for(std::chrono::milliseconds d) {
    co_await wait_until(std::chrono::steady_clock::now() + d);
}

// One request/response exchange on a connection.
class Exchange {
  public:
    Exchange(beast::tcp_stream& stream, const Request& req, const Options& options,
             Behavior& behavior, std::atomic<std::uint64_t>& responses,
             std::chrono::steady_clock::time_point arrived)
        : stream_(stream),
          req_(req),
          arrived_(arrived),
          options_(options),
          behavior_(behavior),
          responses_(responses),
          keep_alive_(req.keep_alive()) {}

    // Returns whether the connection may serve another request.
    Task<bool> run() {
        auto url = boost::urls::parse_origin_form(req_.target());
        if (!url) {
            co_return co_await reply(
                http::status::bad_request,
                error_body(400, "Invalid request target.", "INVALID_ARGUMENT"));
        }
        const std::string path = url->path();
        const auto method = req_.method();

        if (path == "/healthz") {
            co_return co_await reply(http::status::ok, R"({"status":"ok"})");
        }
        if (path == "/stats") {
            if (method != http::verb::get) {
                co_return co_await method_not_allowed();
            }
            co_return co_await reply(http::status::ok, json::serialize(behavior_.stats()));
        }
        if (path == "/stats/reset") {
            if (method != http::verb::post) {
                co_return co_await method_not_allowed();
            }
            behavior_.reset_stats();
            co_return co_await reply(http::status::ok, json::serialize(behavior_.stats()));
        }
        if (path == "/control") {
            co_return co_await control();
        }
        if (path.starts_with(kModelsPrefix)) {
            co_return co_await model_request(std::string_view(path).substr(kModelsPrefix.size()),
                                             *url);
        }
        co_return co_await reply(
            http::status::not_found,
            error_body(404, "The requested URL " + path + " was not found on this server.",
                       "NOT_FOUND"));
    }

  private:
    Task<bool> reply(http::status status, std::string body) {
        co_return co_await send(
            stream_, json_response(status, std::move(body), req_.version(), keep_alive_));
    }

    Task<bool> method_not_allowed() {
        auto res = json_response(http::status::method_not_allowed,
                                 error_body(405, "Method not allowed.", "INVALID_ARGUMENT"),
                                 req_.version(), keep_alive_);
        co_return co_await send(stream_, std::move(res));
    }

    Task<bool> control() {
        if (req_.method() == http::verb::get) {
            co_return co_await reply(http::status::ok, json::serialize(behavior_.settings()));
        }
        if (req_.method() != http::verb::post) {
            co_return co_await method_not_allowed();
        }
        boost::system::error_code ec;
        json::value v = json::parse(req_.body(), ec);
        if (ec || !v.is_object()) {
            co_return co_await reply(
                http::status::bad_request,
                error_body(400, "control body must be a JSON object", "INVALID_ARGUMENT"));
        }
        if (auto err = behavior_.apply_control(v.get_object())) {
            co_return co_await reply(http::status::bad_request,
                                     error_body(400, *err, "INVALID_ARGUMENT"));
        }
        co_return co_await reply(http::status::ok, json::serialize(behavior_.settings()));
    }

    // An error before any streamed byte. Gemini wraps it in an array for the JSON-array stream.
    Task<bool> fail(http::status status, std::string body, bool array_stream,
                    std::int64_t retry_after_s = -1) {
        if (array_stream) {
            body = "[" + body + "]";
        }
        auto res = json_response(status, std::move(body), req_.version(), keep_alive_);
        if (retry_after_s >= 0) {
            res.set(http::field::retry_after, std::to_string(retry_after_s));
        }
        co_return co_await send(stream_, std::move(res));
    }

    bool authorized(const boost::urls::url_view& url) const {
        if (options_.api_key.empty()) {
            return true;
        }
        if (auto it = req_.find("x-goog-api-key"); it != req_.end()) {
            return it->value() == options_.api_key;
        }
        auto params = url.params();
        if (auto it = params.find("key"); it != params.end() && (*it).has_value) {
            return (*it).value == options_.api_key;
        }
        return false;
    }

    Task<bool> model_request(std::string_view rest, const boost::urls::url_view& url) {
        const auto colon = rest.rfind(':');
        const std::string_view action =
            colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        const bool stream = action == "streamGenerateContent";
        if (!stream && action != "generateContent") {
            co_return co_await reply(http::status::not_found,
                                     error_body(404, "Method not found.", "NOT_FOUND"));
        }
        behavior_.count_request();
        if (req_.method() != http::verb::post) {
            // Google answers a wrong verb on an RPC path as an unknown method.
            co_return co_await reply(http::status::not_found,
                                     error_body(404, "Method not found.", "NOT_FOUND"));
        }

        bool sse = false;
        if (stream) {
            auto params = url.params();
            if (auto it = params.find("alt"); it != params.end()) {
                const std::string alt = (*it).value;
                if (alt == "sse") {
                    sse = true;
                } else if (alt != "json") {
                    co_return co_await reply(
                        http::status::bad_request,
                        error_body(400,
                                   "Invalid value at 'alt' (type.googleapis.com/"
                                   "google.api.Alt), \"" +
                                       alt + "\"",
                                   "INVALID_ARGUMENT"));
                }
            }
        }
        const bool array_stream = stream && !sse;

        const std::string_view model = rest.substr(0, colon);
        if (!valid_model_name(model)) {
            co_return co_await fail(
                http::status::not_found,
                error_body(404,
                           "models/" + std::string(model) +
                               " is not found for API version v1beta, or is not supported for "
                               "generateContent. Call ListModels to see the list of available "
                               "models and their supported methods.",
                           "NOT_FOUND"),
                array_stream);
        }
        if (!authorized(url)) {
            co_return co_await fail(http::status::bad_request, api_key_invalid_body(),
                                    array_stream);
        }
        auto parsed = parse_generate_request(req_.body());
        if (!parsed) {
            co_return co_await fail(http::status::bad_request,
                                    error_body(400, parsed.error().message, "INVALID_ARGUMENT"),
                                    array_stream);
        }
        if (parsed->audio) {
            if (stream) {
                co_return co_await fail(
                    http::status::bad_request,
                    error_body(400, "Audio output is answered on generateContent only (emulator).",
                               "INVALID_ARGUMENT"),
                    array_stream);
            }
            if (!parsed->voice_name.empty() && !is_prebuilt_voice(parsed->voice_name)) {
                co_return co_await fail(
                    http::status::bad_request,
                    error_body(400,
                               "Voice name " + parsed->voice_name +
                                   " is not supported. Please use one of the prebuilt voices.",
                               "INVALID_ARGUMENT"),
                    false);
            }
        }

        const Plan plan = behavior_.plan();
        switch (plan.fault) {
            case Fault::none:
                break;
            case Fault::internal:
                co_return co_await fail(
                    http::status::internal_server_error,
                    error_body(500,
                               "An internal error has occurred. Please retry or report in "
                               "https://developers.generativeai.google/guide/troubleshooting",
                               "INTERNAL"),
                    array_stream);
            case Fault::unavailable:
                co_return co_await fail(
                    http::status::service_unavailable,
                    error_body(503, "The model is overloaded. Please try again later.",
                               "UNAVAILABLE"),
                    array_stream);
            case Fault::rate_limited:
                co_return co_await fail(http::status::too_many_requests,
                                        rate_limited_body(plan.knobs.retry_after_s), array_stream,
                                        plan.knobs.retry_after_s);
            case Fault::daily_quota:
                co_return co_await fail(http::status::too_many_requests, daily_quota_body(),
                                        array_stream);
        }

        // The latency counts from the request's arrival, as a remote service's would: time
        // this process spent reading and parsing (on a busy shared machine) is part of it.
        co_await wait_until(arrived_ + plan.delay);
        if (parsed->audio) {
            const std::string id = response_id(
                mix64(parsed->hash ^ responses_.fetch_add(1, std::memory_order_relaxed)));
            const std::string_view voice =
                parsed->voice_name.empty() ? kDefaultVoice : std::string_view(parsed->voice_name);
            const std::string pcm =
                tone_pcm(speech_duration_ms(parsed->last_user_text, plan.knobs), voice);
            co_return co_await reply(http::status::ok, json::serialize(audio_response_object(
                                                           pcm, parsed->prompt_tokens, model, id)));
        }
        const Reply answer = make_reply(*parsed, plan.knobs.reply_words);
        const std::string id =
            response_id(mix64(parsed->hash ^ responses_.fetch_add(1, std::memory_order_relaxed)));
        const Usage usage{answer.prompt_tokens, answer.candidate_tokens};

        if (!stream) {
            co_return co_await reply(
                http::status::ok, json::serialize(response_object(answer.text, answer.finish_reason,
                                                                  usage, model, id)));
        }
        co_return co_await stream_reply(answer, usage, model, id, sse, plan.knobs);
    }

    Task<bool> stream_reply(const Reply& answer, const Usage& usage, std::string_view model,
                            const std::string& id, bool sse, const Knobs& knobs) {
        http::response<http::empty_body> res{http::status::ok, req_.version()};
        set_common_headers(res.base());
        const bool chunked = req_.version() >= 11;
        if (sse) {
            res.set(http::field::content_type, "text/event-stream");
            res.set(http::field::content_disposition, "attachment");
        } else {
            res.set(http::field::content_type, "application/json; charset=UTF-8");
        }
        if (chunked) {
            res.keep_alive(keep_alive_);
            res.chunked(true);
        } else {
            res.keep_alive(false);
        }
        StreamWriter out(stream_, res.base(), chunked);

        const auto chunks = split_chunks(answer.text, knobs.words_per_chunk);
        const bool stall = knobs.stall_ms > 0;
        // Flushes what is buffered, then waits: the client sees every byte sent before a pause.
        auto pause = [&](std::chrono::milliseconds d) -> Task<bool> {
            if (d <= 0ms) {
                co_return true;
            }
            if (!co_await out.flush()) {
                co_return false;
            }
            co_await wait_for(d);
            co_return true;
        };
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            if (stall && static_cast<std::int64_t>(i) == knobs.stall_after_chunks &&
                !co_await pause(std::chrono::milliseconds(knobs.stall_ms))) {
                co_return false;
            }
            if (i > 0 && knobs.tokens_per_second > 0) {
                const double seconds =
                    static_cast<double>(count_words(chunks[i])) / knobs.tokens_per_second;
                if (!co_await pause(
                        std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0)))) {
                    co_return false;
                }
            }
            const bool last = i + 1 == chunks.size();
            const auto obj = response_object(
                chunks[i],
                last ? std::optional<std::string_view>(answer.finish_reason) : std::nullopt,
                last ? std::optional<Usage>(usage) : std::nullopt, model, id);
            if (sse) {
                out.add("data: " + json::serialize(obj) + "\r\n\r\n");
            } else {
                out.add((i == 0 ? "[" : ",\r\n") + json::serialize(obj) + (last ? "]" : ""));
            }
        }
        if (stall && static_cast<std::int64_t>(chunks.size()) == knobs.stall_after_chunks &&
            !co_await pause(std::chrono::milliseconds(knobs.stall_ms))) {
            co_return false;
        }
        out.add_last();
        const bool written = co_await out.flush();
        // HTTP/1.0: the end of the body is the end of the connection.
        co_return written&& chunked&& keep_alive_;
    }

    beast::tcp_stream& stream_;
    const Request& req_;
    std::chrono::steady_clock::time_point arrived_;
    const Options& options_;
    Behavior& behavior_;
    std::atomic<std::uint64_t>& responses_;
    bool keep_alive_;
};

// Keeps the connection gauge right however the session coroutine ends.
class ConnectionGauge {
  public:
    explicit ConnectionGauge(Behavior& b) : behavior_(b) { behavior_.connection_opened(); }
    ~ConnectionGauge() { behavior_.connection_closed(); }
    ConnectionGauge(const ConnectionGauge&) = delete;
    ConnectionGauge& operator=(const ConnectionGauge&) = delete;

  private:
    Behavior& behavior_;
};

}  // namespace

Server::Server(net::io_context& ioc, const Options& options, Behavior& behavior)
    : ioc_(ioc), options_(options), behavior_(behavior), acceptor_(ioc) {}

tcp::endpoint Server::listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    return acceptor_.local_endpoint();
}

void Server::start() {
    net::co_spawn(ioc_, accept_loop(), [](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                fmt::print(stderr, "gemini-emulator: accept loop failed: {}\n", ex.what());
            }
        }
    });
}

Task<void> Server::accept_loop() {
    for (;;) {
        // Each connection gets a strand when several threads run the context; one needs none.
        net::any_io_executor executor = ioc_.get_executor();
        if (options_.threads > 1) {
            executor = net::make_strand(ioc_);
        }
        auto [ec, socket] = co_await acceptor_.async_accept(executor, use_tuple);
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) {
            co_return;
        }
        if (ec) {
            // EMFILE and friends: back off briefly instead of spinning.
            co_await wait_for(10ms);
            continue;
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        net::co_spawn(executor, session(std::move(socket)), [](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    fmt::print(stderr, "gemini-emulator: connection failed: {}\n", ex.what());
                }
            }
        });
    }
}

Task<void> Server::session(tcp::socket socket) {
    ConnectionGauge gauge(behavior_);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    {
        // A new client has usually sent its request with the connection: taken at once, so
        // that its latency starts when it arrived, not a trip through the I/O queue later.
        beast::error_code ec;
        const auto got =
            confidant::http::receive_now(stream.socket(), buffer.prepare(kFirstRead), ec);
        if (ec) {
            co_return;
        }
        buffer.commit(got);
    }
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(kHeaderLimit);
        parser.body_limit(kBodyLimit);

        beast::error_code ec =
            confidant::http::parse_buffered(parser, buffer, confidant::http::ParseUntil::head);
        if (ec == http::error::need_more) {
            stream.expires_after(kIdleTimeout);
            auto [rec, rn] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
            ec = rec;
        }
        const auto arrived = std::chrono::steady_clock::now();
        if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
            stream.expires_after(kWriteTimeout);
            if (auto [wec, wn] = co_await http::async_write(stream, cont, use_tuple); wec) {
                break;
            }
        }
        if (!ec) {
            ec =
                confidant::http::parse_buffered(parser, buffer, confidant::http::ParseUntil::whole);
        }
        if (ec == http::error::need_more) {
            stream.expires_after(kReadTimeout);
            auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
            ec = rec;
        }
        if (ec) {
            // The parser rejects a too-large Content-Length while reading the header.
            if (ec == http::error::body_limit) {
                co_await send(stream,
                              json_response(http::status::bad_request,
                                            error_body(400,
                                                       "Request payload size exceeds the limit: " +
                                                           std::to_string(kBodyLimit) + " bytes.",
                                                       "INVALID_ARGUMENT"),
                                            11, false));
            } else if (ec == http::error::header_limit) {
                co_await send(stream, json_response(http::status::request_header_fields_too_large,
                                                    error_body(431, "Request headers too large.",
                                                               "INVALID_ARGUMENT"),
                                                    11, false));
            } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                       ec != http::error::end_of_stream && ec != http::error::partial_message) {
                co_await send(stream, json_response(http::status::bad_request,
                                                    error_body(400, "Malformed HTTP request.",
                                                               "INVALID_ARGUMENT"),
                                                    11, false));
            }
            break;
        }
        const Request& req = parser.get();
        Exchange exchange(stream, req, options_, behavior_, responses_, arrived);
        if (!co_await exchange.run()) {
            break;
        }
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace confidant::emulator
