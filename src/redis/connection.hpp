#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/task.hpp"
#include "redis/error.hpp"
#include "redis/reply.hpp"
#include "redis/url.hpp"

namespace confidant::redis {

struct ConnectionOptions {
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{1000};
    /// Pub/sub only: receives `message` / `pmessage` arrays instead of the FIFO of callers.
    /// Runs on the connection's strand; must be quick and must not throw.
    std::function<void(Reply)> on_push;
};

/// One TCP connection to Redis speaking RESP2, parsed with hiredis's reader (never a blocking
/// hiredis call). Everything runs on the connection's own strand.
///
/// Pipelining: any number of callers on any threads may call `command()` / `pipeline()`
/// concurrently. Requests are written in call order (queued requests are coalesced into one
/// write) and replies are matched FIFO. Every call is bounded by `command_timeout`.
///
/// Failure: an I/O error, protocol error or a timeout marks the connection broken, closes the
/// socket and fails every pending request (`io`; the timed-out one gets `timeout`). A broken
/// connection is never reused: the pool opens a new one.
///
/// Cancellation: cancelling a caller abandons its request (its replies are read and dropped
/// when they arrive), so the FIFO stays aligned and the connection stays usable.
class Connection : public std::enable_shared_from_this<Connection> {
    struct Private {};

  public:
    using Executor = boost::asio::any_io_executor;

    /// Resolves, connects (bounded by connect_timeout), then sends AUTH and SELECT as the URL
    /// asks. Fails with `connect_failed`.
    static Task<RedisResult<std::shared_ptr<Connection>>> open(Executor ex, Url url,
                                                               ConnectionOptions options);

    Connection(Private, Executor ex, ConnectionOptions options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Sends one command and awaits its reply. An error reply is a `Reply`, not a failure.
    Task<RedisResult<Reply>> command(std::vector<std::string> args);
    /// Sends all commands in one write and awaits all replies (one round trip).
    Task<RedisResult<std::vector<Reply>>> pipeline(std::vector<std::vector<std::string>> commands);
    /// Like pipeline() with commands already RESP-encoded (`replies` = number of commands).
    Task<RedisResult<std::vector<Reply>>> send_encoded(std::string payload, std::size_t replies);

    /// Waits until the connection breaks or `timeout` passes; returns broken(). One waiter at
    /// a time (the subscriber uses it to notice a dead connection promptly).
    Task<bool> wait_broken(std::chrono::milliseconds timeout);

    /// Closes the socket and fails pending requests with `closed`. Thread-safe, idempotent.
    void close();

    bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
    /// Requests written or queued and not yet answered.
    std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
    /// When a request was last queued or a reply last arrived.
    std::chrono::steady_clock::time_point last_used() const noexcept;

  private:
    struct Request;

    Task<RedisResult<void>> do_connect(std::shared_ptr<Connection> self, Url url);
    Task<RedisResult<std::vector<Reply>>> submit(std::shared_ptr<Connection> self,
                                                 std::string payload, std::size_t replies);
    Task<bool> wait_broken_on_strand(std::shared_ptr<Connection> self,
                                     std::chrono::milliseconds timeout);
    Task<void> read_loop(std::shared_ptr<Connection> self);
    Task<void> write_loop(std::shared_ptr<Connection> self);
    void deliver(Reply reply);
    void fail(RedisErrc code, const std::string& message);
    void touch() noexcept;

    boost::asio::strand<Executor> strand_;
    boost::asio::ip::tcp::socket socket_;
    ConnectionOptions options_;
    void* reader_ = nullptr;  // hiredis redisReader*, kept out of this header
    std::deque<std::shared_ptr<Request>> awaiting_;
    std::string outbox_;
    bool writing_ = false;
    boost::asio::steady_timer broken_waiter_;
    std::atomic<bool> broken_{false};
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::int64_t> last_used_ns_{0};
};

}  // namespace confidant::redis
