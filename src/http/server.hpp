#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/task.hpp"
#include "http/http_metrics.hpp"
#include "http/router.hpp"
#include "http/settings.hpp"

namespace confidant::http {

/// The HTTP/1.1 server: one acceptor per I/O context, all bound to the same port with
/// SO_REUSEPORT so the kernel spreads connections over the contexts; each context is run by
/// one thread, so a connection's coroutine needs no strand and no lock. Keep-alive,
/// header/body limits, timeouts (a slowloris client is dropped when its request head has not
/// arrived within `header_timeout`), SSE responses, and a graceful drain.
///
/// At most `max_connections` client connections are open at once: past it a new connection is
/// accepted and closed at once, while the open ones go on. The accept loop outlives every error
/// (out of descriptors: it backs off and retries). Request bodies are held in memory that grows
/// with the bytes received, whatever Content-Length announced. A Transfer-Encoding other than
/// exactly `chunked`, or one together with Content-Length, is answered 400 and the connection
/// closed (the bytes after it are never read as another request).
///
/// Every handler error becomes API.md's JSON error shape; an exception that is not an
/// `ErrorException` is logged once with the request id and answered 500 `internal`.
class Server {
  public:
    /// `contexts`: one per I/O thread, each run by exactly one thread.
    Server(std::vector<boost::asio::io_context*> contexts, const ServerSettings& settings,
           const Router& router, HttpMetrics& metrics);
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
    Task<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
    /// Starts a session for a new connection, or closes it at once past max_connections.
    void admit(boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer);
    Task<void> run_session(std::shared_ptr<Session> session);

    std::vector<boost::asio::io_context*> contexts_;
    ServerSettings settings_;
    TrustedProxies trusted_proxies_;
    const Router& router_;
    HttpMetrics& metrics_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::atomic<bool> draining_{false};
    std::mutex sessions_mutex_;
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;
    std::uint64_t next_session_id_ = 0;
};

}  // namespace confidant::http
