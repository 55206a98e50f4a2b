#include "http/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <random>
#include <span>

#include "core/error.hpp"
#include "core/log_exception.hpp"
#include "http/header_line.hpp"
#include "http/parse_buffered.hpp"
#include "http/request_body.hpp"
#include "http/socket_now.hpp"

namespace confidant::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

IpAddress to_ip(const asio::ip::address& a) {
    if (a.is_v4()) {
        const auto b = a.to_v4().to_bytes();
        return IpAddress::from_bytes(b.data(), b.size());
    }
    const auto b = a.to_v6().to_bytes();
    return IpAddress::from_bytes(b.data(), b.size());
}

}  // namespace

struct Server::Session {
    Session(std::uint64_t id, tcp::socket socket, const IpAddress& peer, bool peer_trusted)
        : id(id),
          stream(std::move(socket)),
          accepted_at(std::chrono::steady_clock::now()),
          peer(peer),
          peer_text(peer.to_string()),
          peer_trusted(peer_trusted) {}
    std::uint64_t id;
    beast::tcp_stream stream;
    std::atomic<bool> busy{false};
    std::chrono::steady_clock::time_point accepted_at;
    IpAddress peer;
    std::string peer_text;  // formatted once: most requests copy it (no allocation for IPv4)
    bool peer_trusted;      // a TRUSTED_PROXIES peer: its X-Forwarded-For names the client
};

namespace {

std::string make_request_id() {
    static const std::uint32_t prefix = std::random_device{}();
    static std::atomic<std::uint64_t> counter{0};
    return fmt::format("{:08x}-{:x}", prefix, counter.fetch_add(1, std::memory_order_relaxed));
}

bool acceptable_request_id(std::string_view id) {
    if (id.empty() || id.size() > 64) {
        return false;
    }
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_json_content_type(std::string_view ct) {
    const auto semi = ct.find(';');
    auto base = ct.substr(0, semi);
    while (!base.empty() && base.back() == ' ') {
        base.remove_suffix(1);
    }
    if (base.size() != 16) {
        return false;
    }
    for (std::size_t i = 0; i < base.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(base[i])) != "application/json"[i]) {
            return false;
        }
    }
    return true;
}

// SSE over a chunked response. Writes are made by one coroutine at a time (the handler's).
class ChunkedSseWriter final : public SseWriter {
  public:
    // `pipelined`: the session's read buffer; bytes the client sends during the stream are kept
    // there (up to its limit) and parsed as the next request afterwards.
    ChunkedSseWriter(beast::tcp_stream& stream, beast::flat_buffer& pipelined,
                     std::chrono::seconds write_timeout)
        : stream_(stream), pipelined_(pipelined), write_timeout_(write_timeout) {}

    Task<bool> event(std::string_view name, std::string_view data) override {
        std::string payload;
        payload.reserve(name.size() + data.size() + 32);
        payload.append("event: ").append(name).append("\n");
        append_data_lines(payload, data);
        co_return co_await write_chunk(std::move(payload));
    }

    Task<bool> data(std::string_view data) override {
        std::string payload;
        payload.reserve(data.size() + 16);
        append_data_lines(payload, data);
        co_return co_await write_chunk(std::move(payload));
    }

    Task<void> closed() override {
        // The request has been read, so the socket turns readable when the client closes or
        // sends more (a pipelined request). What it sends is read at once, so that readiness
        // keeps meaning "something new": kept for the session while the buffer has room,
        // dropped past it (the connection then closes after the stream). Either way the watch
        // goes on until the end of file or an error, or until the caller cancels it.
        for (;;) {
            auto [ec] = co_await stream_.socket().async_wait(tcp::socket::wait_read, kTuple);
            if (ec == asio::error::operation_aborted) {
                co_return;  // cancelled by the caller: the work finished first
            }
            if (ec) {
                closed_ = true;
                co_return;
            }
            for (;;) {
                boost::system::error_code rec;
                std::size_t n = 0;
                const std::size_t room = pipelined_.max_size() - pipelined_.size();
                if (room > 0) {
                    n = receive_now(stream_.socket(),
                                    pipelined_.prepare(std::min<std::size_t>(room, 4096)), rec);
                    pipelined_.commit(n);
                } else {
                    char scratch[1024];
                    n = receive_now(stream_.socket(), asio::buffer(scratch), rec);
                    overflowed_ = overflowed_ || n > 0;
                }
                if (rec) {
                    closed_ = true;  // end of file or an error: the client has gone
                    co_return;
                }
                if (n == 0) {
                    break;  // nothing more for now: wait again
                }
            }
        }
    }

    bool is_closed() const { return closed_; }
    /// The client sent more during the stream than the read buffer holds: what it sent is
    /// lost, so the connection must close after this answer.
    bool overflowed() const { return overflowed_; }

    Task<bool> finish() {
        if (closed_) {
            co_return false;
        }
        stream_.expires_after(write_timeout_);
        auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk_last(), kTuple);
        closed_ = closed_ || static_cast<bool>(ec);
        co_return !ec;
    }

  private:
    static void append_data_lines(std::string& out, std::string_view data) {
        std::size_t start = 0;
        for (;;) {
            const auto nl = data.find('\n', start);
            out.append("data: ").append(
                data.substr(start, nl == std::string_view::npos ? nl : nl - start));
            out.push_back('\n');
            if (nl == std::string_view::npos) {
                break;
            }
            start = nl + 1;
        }
        out.push_back('\n');
    }

    Task<bool> write_chunk(std::string payload) {
        if (closed_) {
            co_return false;
        }
        stream_.expires_after(write_timeout_);
        auto [ec, n] =
            co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(payload)), kTuple);
        if (ec) {
            closed_ = true;
        }
        co_return !ec;
    }

    beast::tcp_stream& stream_;
    beast::flat_buffer& pipelined_;
    std::chrono::seconds write_timeout_;
    bool closed_ = false;
    bool overflowed_ = false;
};

// A request that says it has a body framed some other way than by Content-Length alone or by
// `Transfer-Encoding: chunked` alone. Beast reads `chunked, identity` or `gzip` as "no body"
// and the bytes that follow as the next request, so anything but exactly `chunked` is refused,
// and so is Transfer-Encoding together with Content-Length (RFC 9112 6.1: a request smuggling
// vector). Returns the complaint, or nullptr when the framing is fine.
template <class Fields>
const char* framing_problem(const Fields& fields) {
    const auto te = fields.find(bhttp::field::transfer_encoding);
    if (te == fields.end()) {
        return nullptr;
    }
    if (fields.count(bhttp::field::transfer_encoding) != 1) {
        return "Transfer-Encoding must appear once";
    }
    std::string_view v = te->value();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    if (!beast::iequals(v, "chunked")) {
        return "unsupported Transfer-Encoding: only chunked is accepted";
    }
    if (fields.find(bhttp::field::content_length) != fields.end()) {
        return "Transfer-Encoding and Content-Length must not both be sent";
    }
    return nullptr;
}

}  // namespace

Server::Server(std::vector<asio::io_context*> contexts, const ServerSettings& settings,
               const Router& router, HttpMetrics& metrics)
    : contexts_(std::move(contexts)),
      settings_(settings),
      trusted_proxies_(settings.trusted_proxies),
      router_(router),
      metrics_(metrics) {
    metrics_.max_connections.store(settings_.max_connections);
}

Server::~Server() = default;

std::uint16_t Server::listen() {
    using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
    const auto address = asio::ip::make_address(settings_.host);
    tcp::endpoint ep(address, settings_.port);
    for (auto* ctx : contexts_) {
        auto acceptor = std::make_unique<tcp::acceptor>(*ctx);
        acceptor->open(ep.protocol());
        acceptor->set_option(asio::socket_base::reuse_address(true));
        acceptor->set_option(reuse_port(true));
        acceptor->bind(ep);
        acceptor->listen(settings_.backlog);
        ep.port(acceptor->local_endpoint().port());  // port 0: the others join the chosen port
        acceptors_.push_back(std::move(acceptor));
    }
    return ep.port();
}

void Server::start() {
    for (auto& acceptor : acceptors_) {
        asio::co_spawn(acceptor->get_executor(), accept_loop(*acceptor),
                       [](std::exception_ptr e) { log_if_exception("accept loop", e); });
    }
}

Task<void> Server::accept_loop(tcp::acceptor& acceptor) {
    constexpr auto kBackoff = std::chrono::milliseconds(50);
    asio::steady_timer backoff(acceptor.get_executor());
    auto last_warning = std::chrono::steady_clock::time_point{};
    tcp::endpoint peer;
    for (;;) {
        // Nothing that goes wrong with one connection may end the loop: this listener would
        // stop accepting for good.
        bool pause = false;
        try {
            // The socket lives on the acceptor's context, which one thread runs: no strand.
            auto [ec, socket] = co_await acceptor.async_accept(peer, kTuple);
            if (ec == asio::error::operation_aborted || !acceptor.is_open() || draining_) {
                co_return;
            }
            if (ec) {
                // Out of descriptors (EMFILE, ENFILE) or kernel memory: the connection waits in
                // the backlog; try again shortly instead of spinning.
                metrics_.accept_errors.fetch_add(1, std::memory_order_relaxed);
                const auto now = std::chrono::steady_clock::now();
                if (now - last_warning >= std::chrono::seconds(1)) {
                    last_warning = now;
                    spdlog::warn("accept failed: {} ({} connections open); backing off",
                                 ec.message(), metrics_.open_connections.load());
                }
                pause = true;
            } else {
                admit(std::move(socket), peer);
            }
        } catch (const std::exception& e) {
            metrics_.accept_errors.fetch_add(1, std::memory_order_relaxed);
            spdlog::error("accept loop: {}", e.what());
            pause = true;
        }
        if (pause) {
            backoff.expires_after(kBackoff);
            co_await backoff.async_wait(kTuple);
        }
    }
}

void Server::admit(tcp::socket socket, const tcp::endpoint& peer) {
    // Counted before the check, so that listeners on other threads see each other's admissions.
    const auto open = metrics_.open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (settings_.max_connections != 0 &&
        open > static_cast<std::int64_t>(settings_.max_connections)) {
        metrics_.open_connections.fetch_sub(1, std::memory_order_relaxed);
        metrics_.refused_connections.fetch_add(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    struct Uncount {  // undone unless the session takes the count over
        std::atomic<std::int64_t>* open;
        ~Uncount() {
            if (open != nullptr) {
                open->fetch_sub(1, std::memory_order_relaxed);
            }
        }
    } uncount{&metrics_.open_connections};
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto executor = socket.get_executor();
    const auto address = to_ip(peer.address());
    const bool trusted = !trusted_proxies_.empty() && trusted_proxies_.contains(address);
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(sessions_mutex_);
        session =
            std::make_shared<Session>(++next_session_id_, std::move(socket), address, trusted);
        sessions_.emplace(session->id, session);
    }
    metrics_.accepted_connections.fetch_add(1, std::memory_order_relaxed);
    uncount.open = nullptr;
    asio::co_spawn(executor, run_session(session), [this, id = session->id](std::exception_ptr e) {
        log_if_exception(fmt::format("session {}", id), e);
        {
            std::lock_guard lock(sessions_mutex_);
            sessions_.erase(id);
        }
        metrics_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    });
}

namespace {

// Writes a complete (non-streamed) answer in one buffer and one write: the head is formatted
// here instead of by Beast's serializer, which costs more than the write itself for the small
// JSON answers of this API. Returns false when the connection must close.
Task<bool> write_response(beast::tcp_stream& stream, Response& res, bhttp::verb method,
                          bool keep_alive, const std::string& request_id,
                          std::chrono::seconds timeout) {
    const bool no_body = res.status == 204 || res.status == 304;
    const bool send_body = !no_body && method != bhttp::verb::head;
    std::string out;
    out.reserve(256 + (send_body ? res.body.size() : 0));
    out.append("HTTP/1.1 ");
    out.append(std::to_string(res.status));
    out.push_back(' ');
    out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(res.status)));
    out.append("\r\n");
    append_header_line(out, "Server", "confidant");
    if (!res.content_type.empty()) {
        append_header_line(out, "Content-Type",
                           res.content_type == "application/json"
                               ? "application/json; charset=utf-8"
                               : std::string_view(res.content_type));
    }
    append_header_line(out, "X-Request-Id", request_id);
    for (const auto& [k, v] : res.headers) {
        append_header_line(out, k, v);
    }
    if (!keep_alive) {
        append_header_line(out, "Connection", "close");
    }
    if (!no_body) {
        append_header_line(out, "Content-Length", std::to_string(res.body.size()));
    }
    out.append("\r\n");
    if (send_body) {
        out.append(res.body);
    }
    stream.expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kTuple);
    co_return !ec && keep_alive;
}

// Answers a request that never reached a handler (bad framing, limits); the caller closes.
// Before it does, the sending side is shut and what the client still sends is read and dropped
// for a moment: closing a socket with unread bytes resets the connection, and a reset can
// destroy the answer before the client has read it.
Task<void> write_parser_error(beast::tcp_stream& stream, unsigned status, std::string_view code,
                              std::string_view message, std::chrono::seconds timeout) {
    Response res = error_response(status, code, message);
    co_await write_response(stream, res, bhttp::verb::get, false, make_request_id(), timeout);
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
        co_return;
    }
    constexpr std::size_t kLingerBytes = 64 << 10;
    stream.expires_after(std::chrono::seconds(1));
    std::array<char, 4096> sink;
    for (std::size_t dropped = 0; dropped < kLingerBytes;) {
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
        if (rec) {
            break;  // end of file (the client read the answer and closed), timeout or error
        }
        dropped += n;
    }
}

// The client of this request: the peer, or whom a trusted proxy's X-Forwarded-For names.
template <class Fields>
void set_client_address(std::string& out, const IpAddress& peer, const std::string& peer_text,
                        bool peer_trusted, const TrustedProxies& trusted, const Fields& fields) {
    if (!peer_trusted) {
        out = peer_text;
        return;
    }
    std::array<std::string_view, 8> values;
    std::size_t n = 0;
    const auto range = fields.equal_range("X-Forwarded-For");
    for (auto it = range.first; it != range.second; ++it) {
        if (n == values.size()) {
            // More headers than any proxy chain sends: the left-most are the client's own words.
            std::move(values.begin() + 1, values.end(), values.begin());
            --n;
        }
        values[n++] = it->value();
    }
    if (n == 0) {
        out = peer_text;
        return;
    }
    out = trusted.resolve(peer, std::span<const std::string_view>(values.data(), n)).to_string();
}

}  // namespace

Task<void> Server::run_session(std::shared_ptr<Session> s) {
    auto& stream = s->stream;
    beast::flat_buffer buffer(64 << 10);
    bool first = true;
    for (;;) {
        if (draining_) {
            break;
        }
        // One deadline per request head: the first one's counts from the accept; a later one's
        // from the moment its first byte is there (the wait for it is the idle timeout).
        const bool first_request = first;
        if (buffer.size() == 0) {
            // A new client has usually sent its request with the connection: taken at once.
            // (A kept-alive connection's next request is rarely there yet.)
            std::size_t got = 0;
            if (first) {
                boost::system::error_code rec;
                got = receive_now(stream.socket(), buffer.prepare(4096), rec);
                if (rec) {
                    break;
                }
            }
            if (got == 0) {
                if (first) {
                    stream.expires_at(s->accepted_at + settings_.header_timeout);
                } else {
                    stream.expires_after(settings_.idle_timeout);
                }
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
                if (ec) {
                    break;
                }
                got = n;
            }
            buffer.commit(got);
        }
        first = false;
        s->busy = true;
        bhttp::request_parser<RequestBody> parser;
        parser.header_limit(static_cast<std::uint32_t>(settings_.max_header_bytes));
        parser.body_limit(settings_.max_body_bytes);
        beast::error_code hec = parse_buffered(parser, buffer, ParseUntil::head);
        if (hec == bhttp::error::need_more) {
            if (first_request) {
                stream.expires_at(s->accepted_at + settings_.header_timeout);
            } else {
                stream.expires_after(settings_.header_timeout);
            }
            auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
            hec = ec;
        }
        if (hec == bhttp::error::header_limit) {
            co_await write_parser_error(stream, 431, "headers_too_large",
                                        "request headers are too large", settings_.write_timeout);
            break;
        }
        if (hec == bhttp::error::body_limit) {
            co_await write_parser_error(
                stream, 413, "payload_too_large",
                fmt::format("request body exceeds {} bytes", settings_.max_body_bytes),
                settings_.write_timeout);
            break;
        }
        if (hec == beast::error::timeout || hec == asio::error::eof ||
            hec == bhttp::error::end_of_stream || hec == asio::error::connection_reset ||
            hec == asio::error::operation_aborted) {
            break;
        }
        if (hec) {
            co_await write_parser_error(stream, 400, "bad_request",
                                        fmt::format("malformed request: {}", hec.message()),
                                        settings_.write_timeout);
            break;
        }
        if (const char* problem = framing_problem(parser.get())) {
            co_await write_parser_error(stream, 400, "bad_request", problem,
                                        settings_.write_timeout);
            break;
        }
        const auto started = std::chrono::steady_clock::now();
        if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
            bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
            stream.expires_after(settings_.write_timeout);
            co_await bhttp::async_write(stream, cont, kTuple);
        }
        if (!parser.is_done()) {
            beast::error_code bec = parse_buffered(parser, buffer, ParseUntil::whole);
            if (bec == bhttp::error::need_more) {
                stream.expires_after(settings_.body_timeout);
                auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
                bec = ec;
            }
            if (bec == bhttp::error::body_limit) {
                co_await write_parser_error(
                    stream, 413, "payload_too_large",
                    fmt::format("request body exceeds {} bytes", settings_.max_body_bytes),
                    settings_.write_timeout);
                break;
            }
            if (bec == beast::error::timeout || bec == asio::error::eof ||
                bec == bhttp::error::partial_message || bec == asio::error::connection_reset ||
                bec == asio::error::operation_aborted) {
                break;
            }
            if (bec) {
                co_await write_parser_error(
                    stream, 400, "bad_request",
                    fmt::format("malformed request body: {}", bec.message()),
                    settings_.write_timeout);
                break;
            }
        }

        Request req;
        req.msg = parser.release();
        const std::string_view target = req.msg.target();
        const auto q = target.find('?');
        req.path = target.substr(0, q);
        req.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
        const auto rid = req.msg["X-Request-Id"];
        req.request_id = acceptable_request_id(rid) ? std::string(rid) : make_request_id();
        set_client_address(req.client_address, s->peer, s->peer_text, s->peer_trusted,
                           trusted_proxies_, req.msg);
        const bool keep_alive = req.msg.keep_alive() && !draining_;

        Response res;
        const Route* route = nullptr;
        if (req.path.empty() || req.path.front() != '/') {
            res = error_response(400, "bad_request", "request target must be an absolute path");
        } else {
            auto match = router_.match(req.method(), req.path);
            route = match.route;
            if (route == nullptr) {
                res = match.path_known ? error_response(405, "method_not_allowed",
                                                        fmt::format("{} is not allowed here",
                                                                    bhttp::to_string(req.method())))
                                       : error_response(404, "not_found", "no such resource");
                if (match.path_known) {
                    res.with_header("Allow", match.allow);
                }
            } else if (route->options.json_body &&
                       (req.method() == bhttp::verb::post || req.method() == bhttp::verb::put ||
                        req.method() == bhttp::verb::patch) &&
                       !req.body().empty() &&
                       !is_json_content_type(req.msg[bhttp::field::content_type])) {
                res = error_response(415, "unsupported_media_type",
                                     "the body must be application/json");
            } else {
                req.params = std::move(match.params);
                try {
                    res = co_await route->handler(req);
                } catch (const ErrorException& e) {
                    const auto& err = e.error();
                    res = error_response(http_status(err.code), to_string(err.code), err.message,
                                         err.retry_after_s);
                } catch (const std::exception& e) {
                    spdlog::error("request {} {} {} failed: {}", req.request_id,
                                  bhttp::to_string(req.method()), route->pattern, e.what());
                    res = error_response(500, "internal", "internal error");
                }
            }
        }

        bool again = false;
        if (res.stream) {
            bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(res.status), 11};
            head.set(bhttp::field::server, "confidant");
            head.set(bhttp::field::content_type, "text/event-stream; charset=utf-8");
            head.set(bhttp::field::cache_control, "no-cache");
            head.set("X-Accel-Buffering", "no");
            head.set("X-Request-Id", req.request_id);
            for (const auto& [k, v] : res.headers) {
                head.set(k, v);
            }
            head.chunked(true);
            head.keep_alive(keep_alive);
            bhttp::response_serializer<bhttp::empty_body> sr{head};
            stream.expires_after(settings_.write_timeout);
            auto [wec, wn] = co_await bhttp::async_write_header(stream, sr, kTuple);
            if (!wec) {
                ChunkedSseWriter writer(stream, buffer, settings_.write_timeout);
                try {
                    co_await res.stream(writer);
                } catch (const std::exception& e) {
                    spdlog::error("request {} stream failed: {}", req.request_id, e.what());
                }
                if (writer.is_closed()) {
                    spdlog::debug("request {}: the client left during the stream", req.request_id);
                }
                again = co_await writer.finish() && keep_alive && !writer.overflowed();
            }
        } else {
            again = co_await write_response(stream, res, req.method(), keep_alive, req.request_id,
                                            settings_.write_timeout);
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        metrics_.observe(route, req.method(), res.status, seconds);
        if (res.status >= 500) {
            spdlog::warn("request {} {} {} -> {} in {:.1f} ms", req.request_id,
                         bhttp::to_string(req.method()), req.path, res.status, seconds * 1000);
        } else if (spdlog::should_log(spdlog::level::debug)) {
            spdlog::debug("request {} {} {} -> {} in {:.1f} ms", req.request_id,
                          bhttp::to_string(req.method()), req.path, res.status, seconds * 1000);
        }
        s->busy = false;
        if (!again) {
            break;
        }
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.close();
}

Task<void> Server::drain() {
    draining_ = true;
    for (auto& acceptor : acceptors_) {
        asio::post(acceptor->get_executor(), [a = acceptor.get()] {
            boost::system::error_code ec;
            a->close(ec);
        });
    }
    auto close_idle = [this](bool all) {
        std::lock_guard lock(sessions_mutex_);
        for (auto& [id, weak] : sessions_) {
            if (auto s = weak.lock()) {
                asio::post(s->stream.get_executor(), [s, all] {
                    if (all || !s->busy) {
                        s->stream.cancel();
                        boost::system::error_code ignored;
                        s->stream.socket().close(ignored);
                    }
                });
            }
        }
    };
    close_idle(false);
    const auto deadline = std::chrono::steady_clock::now() + settings_.drain_timeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (metrics_.open_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(kTuple);
        close_idle(false);  // connections that finished their request since
    }
    if (metrics_.open_connections.load() > 0) {
        spdlog::warn("drain timeout: closing {} connections", metrics_.open_connections.load());
        close_idle(true);
        timer.expires_after(std::chrono::milliseconds(100));
        co_await timer.async_wait(kTuple);
    }
}

}  // namespace confidant::http
