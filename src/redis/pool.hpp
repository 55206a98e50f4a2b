#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/task.hpp"
#include "redis/error.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"
#include "redis/settings.hpp"
#include "redis/url.hpp"

namespace confidant::redis {

struct PoolStats {
    std::size_t open_connections = 0;
    std::size_t in_flight = 0;         ///< calls awaiting a reply right now
    std::uint64_t total_commands = 0;  ///< commands sent (a pipeline counts each command)
    std::uint64_t errors = 0;          ///< calls that returned a failure
    std::uint64_t retries = 0;
    std::uint64_t connections_opened = 0;
    std::uint64_t reconnects = 0;     ///< down → up transitions
    std::uint64_t health_checks = 0;  ///< PINGs sent to idle connections before reuse
    bool up = true;
};

/// The Redis client the rest of the program uses: a lazily grown set of pipelined connections.
///
/// - A call goes to the least-loaded connection and pipelines there; while every connection is
///   busy and fewer than `max_connections` are open, one more is opened in the background. A
///   caller never fails because connections are busy.
/// - A connection idle for `health_check_interval` gets a PING before reuse.
/// - Retries: a timeout is retried (if `retry_on_timeout`) after a backoff of
///   `retry_min_wait * 2^n` clamped to `retry_max_wait`; a broken connection is retried at once
///   on a fresh connection; at most `retry_attempts` retries in all.
/// - Outage: when a connection cannot be opened (or every attempt of a call timed out) the
///   pool is *down*: every call fails at once with `RedisErrc::down`, without waiting or
///   retrying, while a background probe (connect + PING) runs every `down_probe_interval`.
///   The first successful probe makes the pool *up* again.
///
/// Retries can repeat a non-idempotent command whose reply was lost (as redis-py does).
/// Expected failures are values (`RedisResult`); an error *reply* is a successful `Reply`.
/// Thread-safe: call from any thread of the io_context; each connection has its own strand.
class Pool {
  public:
    /// Throws std::invalid_argument when `settings.url` is malformed (a start-up fault).
    Pool(boost::asio::any_io_executor ex, RedisSettings settings);
    /// Stops the probe and closes connections without waiting; prefer `co_await close()`.
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    Task<RedisResult<Reply>> command(std::vector<std::string> args);
    /// `co_await pool.call("SET", key, value)`: command() with the arguments converted to
    /// strings. Prefer it to `command({...})` inside a coroutine: GCC 12 rejects a braced list
    /// of string literals inside a co_await expression ("array used as initializer").
    template <class... Args>
    Task<RedisResult<Reply>> call(Args&&... args) {
        std::vector<std::string> v;
        v.reserve(sizeof...(Args));
        (v.emplace_back(std::forward<Args>(args)), ...);
        return command(std::move(v));
    }
    /// All commands in one write on one connection, all replies in order (one round trip).
    Task<RedisResult<std::vector<Reply>>> pipeline(std::vector<std::vector<std::string>> commands);
    /// EVALSHA, falling back to EVAL (which caches the script) on NOSCRIPT.
    Task<RedisResult<Reply>> eval(const Script& script, std::vector<std::string> keys,
                                  std::vector<std::string> args);

    /// False while Redis is known to be unreachable (calls fail fast).
    bool is_up() const noexcept;
    PoolStats stats() const;
    const RedisSettings& settings() const noexcept;
    const Url& url() const noexcept;
    boost::asio::any_io_executor get_executor() const noexcept;

    /// Stops the probe, closes every connection (pending calls fail with `closed`) and waits
    /// for the background task to finish. Later calls fail with `closed`. Idempotent.
    Task<void> close();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace confidant::redis
