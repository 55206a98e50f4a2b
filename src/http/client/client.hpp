#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/task.hpp"

namespace confidant::http_client {

/// Why a request produced no HTTP response (an HTTP error status is NOT an error here: it is a
/// `Response` with that status).
enum class ErrorKind {
    invalid_url,     ///< not an absolute http:// or https:// URL
    connect_failed,  ///< DNS, TCP connect or TLS handshake/verification failed
    timeout,         ///< connect, write, or read (headers or next body bytes) took too long
    closed,          ///< the peer closed or reset the connection mid-exchange
    protocol,        ///< the answer was not valid HTTP/1.1 or exceeded a size limit
    cancelled,       ///< the awaiting coroutine was cancelled
};

const char* to_string(ErrorKind kind) noexcept;

struct Error {
    ErrorKind kind = ErrorKind::closed;
    std::string message;
    /// True once the response head was received (e.g. the stream broke mid-body).
    bool response_started = false;
};

/// Found by ADL when `Result<T>::value()` is called on an error; throws std::runtime_error.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

struct Header {
    std::string name;
    std::string value;
};

struct Request {
    std::string method = "GET";   ///< any HTTP method token: "GET", "POST", ...
    std::string url;              ///< absolute http:// or https:// URL, query included
    std::vector<Header> headers;  ///< Host, Content-Length and Connection are set by the client
    std::string body;
    /// Per-request overrides of `ClientSettings::connect_timeout` / `read_timeout`.
    std::optional<std::chrono::milliseconds> connect_timeout;
    std::optional<std::chrono::milliseconds> read_timeout;
};

struct Response {
    unsigned status = 0;
    std::vector<Header> headers;
    /// The whole body for `request()`; for `request_stream()` only when the status is not 2xx.
    std::string body;

    /// The first header named `name` (case-insensitive), if any.
    std::optional<std::string_view> header(std::string_view name) const;
};

/// Receives body bytes as they arrive. Awaited before the client reads on (back-pressure).
/// An exception thrown here closes the connection and propagates out of `request_stream`.
using BodySink = std::function<Task<void>(std::string_view chunk)>;

struct ClientSettings {
    /// Open (busy + idle) connections per (scheme, host, port) and I/O context (connections are
    /// pooled per context: each is reused only on the thread that opened it). A request that
    /// finds the limit reached waits for a connection to be released, up to its connect timeout.
    std::size_t max_connections_per_host = 4096;
    /// Idle keep-alive connections older than this are closed instead of reused.
    std::chrono::milliseconds idle_timeout{30'000};
    /// DNS is not bounded by it (the system resolver's own limits apply); TCP connect + TLS
    /// handshake are.
    std::chrono::milliseconds connect_timeout{5'000};
    std::chrono::milliseconds write_timeout{30'000};
    /// Longest wait for the response head, and then for each next piece of the body.
    std::chrono::milliseconds read_timeout{60'000};
    std::size_t max_header_bytes = 64 << 10;
    /// Limit for bodies collected into `Response::body` (streamed 2xx bodies are unlimited).
    std::size_t max_body_bytes = 64 << 20;
    /// Extra PEM CA file trusted besides the system store (tests, private CAs). Empty = none.
    std::string ca_file;
    std::string user_agent = "confidant-http-client";
};

struct ClientStats {
    std::uint64_t requests = 0;            ///< requests started
    std::uint64_t connections_opened = 0;  ///< successful new connections (TCP + TLS)
    std::uint64_t connections_reused = 0;  ///< requests served on a pooled connection
    std::uint64_t retries = 0;             ///< stale pooled connections retried on a fresh one
    std::size_t open_connections = 0;      ///< busy + idle, all hosts
    std::size_t idle_connections = 0;      ///< in the pool, all hosts
};

/// An HTTP/1.1 client over Boost.Beast with TLS (OpenSSL, system CA store, SNI, host name
/// verification) and a keep-alive connection pool per (scheme, host, port) and I/O context.
///
/// Each request owns its connection while it runs and hands it back to the pool only after a
/// complete, keep-alive response; on any error, timeout or cancellation the connection is
/// closed. A pooled connection that turns out to be stale (closed by the server before any
/// response byte arrived) is discarded and the request retried once on a fresh connection.
///
/// Thread-safe: requests may be awaited concurrently from any threads running the executor's
/// io_context. Cancellation: terminal cancellation of the awaiting coroutine (e.g. losing an
/// `||` race) aborts the pending operation, closes the connection and returns
/// `ErrorKind::cancelled`. The Client must outlive the requests awaiting it (they keep its
/// internals alive, but destroying the Client closes the idle connections).
class Client {
  public:
    explicit Client(boost::asio::any_io_executor executor, ClientSettings settings = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Sends `request` and reads the whole response (status, headers, body).
    Task<Result<Response>> request(Request request);

    /// Sends `request`; for a 2xx answer, delivers the body to `on_body_chunk` as it arrives
    /// and returns the response with an empty body once it is complete. Any other status is
    /// answered like `request()` (body collected, sink not called).
    Task<Result<Response>> request_stream(Request request, BodySink on_body_chunk);

    ClientStats stats() const;
    /// Closes every idle pooled connection.
    void close_idle();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace confidant::http_client
