#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/task.hpp"
#include "http/http_metrics.hpp"
#include "http/router.hpp"
#include "http/settings.hpp"

namespace confidant::http {

/// The HTTP/1.1 server: one acceptor, a coroutine per connection on its own strand, keep-alive,
/// header/body limits, timeouts (a slowloris client is dropped when its request head has not
/// arrived within `header_timeout`), SSE responses, and a graceful drain.
///
/// Every handler error becomes API.md's JSON error shape; an exception that is not an
/// `ErrorException` is logged once with the request id and answered 500 `internal`.
class Server {
public:
    Server(boost::asio::io_context& ioc, const ServerSettings& settings, const Router& router,
           HttpMetrics& metrics);
    ~Server();

    /// Binds and listens; returns the bound port (useful with port 0). Throws on failure.
    std::uint16_t listen();
    /// Starts accepting (spawned on the io_context).
    void start();
    /// Stops accepting, closes idle keep-alive connections, lets in-flight requests finish
    /// (they answer with `Connection: close`), and completes when no connection is left or
    /// `drain_timeout` has passed, after which remaining connections are closed.
    Task<void> drain();

    std::int64_t open_connections() const { return metrics_.open_connections.load(); }

    struct Session;

private:
    Task<void> accept_loop();
    Task<void> run_session(std::shared_ptr<Session> session);

    boost::asio::io_context& ioc_;
    ServerSettings settings_;
    const Router& router_;
    HttpMetrics& metrics_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::atomic<bool> draining_{false};
    std::mutex sessions_mutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
    std::uint64_t next_session_id_ = 0;
};

}  // namespace confidant::http
