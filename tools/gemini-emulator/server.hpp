#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

#include "behavior.hpp"
#include "core/task.hpp"
#include "options.hpp"

namespace confidant::emulator {

/// The emulator's HTTP/1.1 server: one accept loop, one coroutine per connection (on its own
/// strand when several threads run the context), keep-alive, chunked streaming. Runs on whatever
/// threads run the io_context.
class Server {
  public:
    /// `behavior` must outlive the server.
    Server(boost::asio::io_context& ioc, const Options& options, Behavior& behavior);

    /// Binds and listens on `endpoint`; returns the bound endpoint (the real port for port 0).
    /// Throws `boost::system::system_error` when the address cannot be bound.
    boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& endpoint);

    /// Starts the accept loop. Call after `listen`, before running the io_context.
    void start();

  private:
    Task<void> accept_loop();
    Task<void> session(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& ioc_;
    const Options& options_;
    Behavior& behavior_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::atomic<std::uint64_t> responses_{0};
};

}  // namespace confidant::emulator
