#pragma once

// A tiny programmable HTTP/1.1 server for the client and OpenAI provider tests: Beast on its
// own io_context and thread, loopback port 0, optional TLS. Each request goes to a handler
// coroutine that writes whatever it likes and says whether the connection stays open.

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/task.hpp"

namespace confidant::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

/// The plain or TLS stream a handler writes to.
class ServerStream {
  public:
    explicit ServerStream(tcp::socket socket) : plain_(std::move(socket)) {}
    ServerStream(tcp::socket socket, asio::ssl::context& ctx)
        : tls_(std::in_place, std::move(socket), ctx) {}

    bool is_tls() const { return tls_.has_value(); }
    beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

    /// Writes raw bytes (already HTTP-framed by the caller).
    Task<bool> write_raw(std::string_view bytes) {
        auto token = asio::as_tuple(asio::use_awaitable);
        // (No co_await inside ?: — GCC 12 miscompiles that.)
        if (tls_) {
            auto [ec, n] = co_await asio::async_write(*tls_, asio::buffer(bytes), token);
            co_return !ec;
        }
        auto [ec, n] = co_await asio::async_write(*plain_, asio::buffer(bytes), token);
        co_return !ec;
    }

    template <class Message>
    Task<bool> write(Message& msg) {
        auto token = asio::as_tuple(asio::use_awaitable);
        if (tls_) {
            auto [ec, n] = co_await bhttp::async_write(*tls_, msg, token);
            co_return !ec;
        }
        auto [ec, n] = co_await bhttp::async_write(*plain_, msg, token);
        co_return !ec;
    }

    Task<bool> read(beast::flat_buffer& buffer, bhttp::request<bhttp::string_body>& req) {
        auto token = asio::as_tuple(asio::use_awaitable);
        if (tls_) {
            auto [ec, n] = co_await bhttp::async_read(*tls_, buffer, req, token);
            co_return !ec;
        }
        auto [ec, n] = co_await bhttp::async_read(*plain_, buffer, req, token);
        co_return !ec;
    }

    Task<bool> handshake() {
        auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                                   asio::as_tuple(asio::use_awaitable));
        co_return !ec;
    }

  private:
    std::optional<beast::tcp_stream> plain_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

struct ServerRequest {
    bhttp::request<bhttp::string_body> msg;
    int connection_id = 0;        ///< 1 for the first accepted connection, ...
    int index_on_connection = 0;  ///< 0 for the first request on its connection
};

/// Returns true to keep the connection open for another request.
using ServerHandler = std::function<Task<bool>(ServerStream&, const ServerRequest&)>;

using Headers = std::vector<std::pair<std::string, std::string>>;

/// A simple 200/any-status response with a body and keep-alive.
inline Task<bool> respond(ServerStream& stream, const ServerRequest& req, unsigned status,
                          std::string body, Headers headers = {},
                          std::string content_type = "application/json") {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, content_type);
    for (auto& [name, value] : headers) {
        res.set(name, value);
    }
    res.body() = std::move(body);
    res.keep_alive(req.msg.keep_alive());
    res.prepare_payload();
    const bool ok = co_await stream.write(res);
    co_return ok&& req.msg.keep_alive();
}

class TestServer {
  public:
    explicit TestServer(ServerHandler handler, asio::ssl::context* tls = nullptr)
        : handler_(std::move(handler)), tls_(tls), acceptor_(ioc_) {
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(ioc_, accept_loop(), [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
        thread_ = std::thread([this] { ioc_.run(); });
    }

    // Stops the thread; pending sessions (sleeping handlers included) are destroyed with the
    // io_context, which closes their sockets.
    ~TestServer() {
        ioc_.stop();
        thread_.join();
    }

    unsigned short port() const { return port_; }
    std::string url(std::string_view path = "/") const {
        return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
               std::string(path);
    }
    int connections_accepted() const { return accepted_.load(); }
    int requests() const { return requests_.load(); }
    /// Connections whose session has ended (peer closed, error, or handler said no).
    int connections_closed() const { return closed_.load(); }
    asio::io_context& context() { return ioc_; }

  private:
    Task<void> accept_loop() {
        for (;;) {
            auto [ec, socket] =
                co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                co_return;
            }
            const int id = ++accepted_;
            asio::co_spawn(ioc_, session(std::move(socket), id), [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        }
    }

    Task<void> session(tcp::socket socket, int id) {
        auto stream = tls_ ? std::make_shared<ServerStream>(std::move(socket), *tls_)
                           : std::make_shared<ServerStream>(std::move(socket));
        struct Closed {
            std::atomic<int>& n;
            ~Closed() { ++n; }
        } closed{closed_};
        if (tls_ && !co_await stream->handshake()) {
            co_return;
        }
        beast::flat_buffer buffer;
        for (int index = 0;; ++index) {
            ServerRequest req;
            req.connection_id = id;
            req.index_on_connection = index;
            if (!co_await stream->read(buffer, req.msg)) {
                co_return;
            }
            ++requests_;
            if (!co_await handler_(*stream, req)) {
                boost::system::error_code ec;
                stream->lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
                stream->lowest().socket().close(ec);
                co_return;
            }
        }
    }

    // Declared before the io_context: sessions destroyed with it still update the counters.
    ServerHandler handler_;
    asio::ssl::context* tls_;
    std::atomic<int> accepted_{0};
    std::atomic<int> requests_{0};
    std::atomic<int> closed_{0};
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::thread thread_;
};

/// Sleeps on the current coroutine's executor.
inline Task<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

template <class A>
struct AwaitableValue;
template <class T, class E>
struct AwaitableValue<asio::awaitable<T, E>> {
    using type = T;
};

/// Runs the coroutine `make()` on `ioc` (with `threads` threads) until it completes and
/// returns its value; exceptions are rethrown. Returns once nothing else keeps `ioc` busy.
template <class F>
auto run(asio::io_context& ioc, F make, int threads = 1) {
    using T = typename AwaitableValue<decltype(make())>::type;
    std::optional<T> out;
    std::exception_ptr error;
    ioc.restart();
    asio::co_spawn(ioc, make(), [&](std::exception_ptr e, T value) {
        error = e;
        if (!e) {
            out.emplace(std::move(value));
        }
    });
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) {
        extra.emplace_back([&] { ioc.run(); });
    }
    ioc.run();
    for (auto& t : extra) {
        t.join();
    }
    if (error) {
        std::rethrow_exception(error);
    }
    return std::move(*out);
}

}  // namespace confidant::test
