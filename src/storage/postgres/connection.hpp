#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/task.hpp"
#include "storage/postgres/conninfo.hpp"
#include "storage/postgres/error.hpp"
#include "storage/postgres/query_result.hpp"
#include "storage/postgres/statement.hpp"

struct pg_conn;  // libpq's PGconn, kept out of this header

namespace confidant::storage::pg {

/// Counters of one connection (for tests and diagnostics).
struct ConnectionStats {
    std::uint64_t calls = 0;       ///< run() calls that reached the server
    std::uint64_t statements = 0;  ///< statements executed (a batch counts each)
    std::uint64_t prepares = 0;    ///< statements prepared (once per name per connection)
    std::uint64_t syncs = 0;       ///< pipeline syncs sent: one per call, i.e. one round trip
};

/// One PostgreSQL connection on libpq's asynchronous API, driven by Asio: the socket's
/// readiness is awaited (a non-owning `posix::stream_descriptor`: libpq owns the fd), so no
/// thread ever blocks in libpq. Host names are resolved with Asio's resolver before libpq sees
/// them (libpq would call getaddrinfo() itself).
///
/// Statements run in pipeline mode: a batch is sent as one pipeline closed by one sync, so it
/// costs one round trip however many statements it holds, and results come back in order.
/// Without an explicit BEGIN the batch is one implicit transaction (PostgreSQL's rule for a
/// pipeline): when a statement fails, the statements before it are rolled back and the ones
/// after it are not run (`QueryResult::aborted()`). With BEGIN ... COMMIT inside the batch, a
/// failure leaves the transaction in the failed state (`TxStatus::in_error`); the caller (or
/// the pool, when a lease ends) must ROLLBACK.
///
/// Threads: all libpq work happens on the connection's own strand (over the executor given to
/// open()); run() may be awaited from a coroutine on any thread and resumes it on its own
/// executor. One call at a time: a second concurrent run() throws std::logic_error (the pool's
/// lease gives one holder exclusive use).
///
/// Failure: a lost connection, a socket error, a protocol surprise, the call's timeout or the
/// caller's cancellation marks the connection broken and closes it at once (the server then
/// ends the session; a statement that was running may go on until it next checks its
/// client). A broken connection is never reused: every later call fails with `broken`.
/// An SQL error is not a failure: it is the `QueryResult` of its statement.
class Connection : public std::enable_shared_from_this<Connection> {
    struct Private {};

  public:
    using Executor = boost::asio::any_io_executor;

    /// Connects (TCP or Unix socket, TLS per `sslmode`, authentication), bounded by `timeout`
    /// as a whole, then enters pipeline mode. Fails with `connect_failed` (libpq's reason) or
    /// `timeout`; `cancelled` when the awaiting coroutine is cancelled.
    static Task<PgResult<std::shared_ptr<Connection>>> open(Executor ex, ConnInfo info,
                                                            std::chrono::milliseconds timeout);
    /// The same from a connection string (URL or keyword form); a malformed one fails with
    /// `connect_failed`.
    static Task<PgResult<std::shared_ptr<Connection>>> open(Executor ex, std::string_view conninfo,
                                                            std::chrono::milliseconds timeout);

    Connection(Private, Executor ex);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Runs `batch` in one round trip and returns one QueryResult per statement, in order.
    /// Fails as a whole (`broken`, `timeout`, `cancelled`, `closed`) only when the connection
    /// cannot say what happened; then the connection is closed, and whether the statements
    /// took effect is unknown. `timeout` bounds the whole call. The statements (and the
    /// strings they view) must stay valid until the call completes. An empty batch returns
    /// an empty vector without a round trip.
    Task<PgResult<std::vector<QueryResult>>> run(std::span<const Statement> batch,
                                                 std::chrono::milliseconds timeout);
    /// run() of one statement.
    Task<PgResult<QueryResult>> run_one(const Statement& statement,
                                        std::chrono::milliseconds timeout);

    /// Closes the connection (a call in flight fails with `closed`). Thread-safe, idempotent,
    /// returns at once.
    void close();

    /// True once the connection failed or was closed. Thread-safe.
    bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
    /// The transaction state after the last call. Thread-safe.
    TxStatus transaction_status() const noexcept {
        return tx_status_.load(std::memory_order_acquire);
    }

    /// A non-blocking liveness check of an idle connection (one recv with MSG_PEEK). False
    /// (and the connection is marked broken) when the server closed the connection or sent
    /// something while it was idle (an administrator's termination, a shutdown, a restart).
    /// Only for the connection's exclusive holder, between calls (no call in flight); the pool
    /// runs it before it hands out an idle connection.
    bool check_idle();

    /// The server process serving this connection (pg_backend_pid()).
    int backend_pid() const noexcept { return backend_pid_; }
    std::chrono::steady_clock::time_point created_at() const noexcept { return created_at_; }
    /// The execution context (io_context) the connection's strand runs on; the pool prefers
    /// handing a caller a connection on the caller's own context.
    const void* context() const noexcept { return context_; }
    Executor executor() const { return strand_; }
    /// Names prepared on this connection so far.
    std::size_t prepared_count() const noexcept {
        return prepared_count_.load(std::memory_order_relaxed);
    }
    ConnectionStats stats() const noexcept;
    /// Why the connection broke, once broken() (for logs).
    std::string last_error() const;

  private:
    struct Op;
    struct PendingPrepare;
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    Task<PgResult<void>> do_connect(std::shared_ptr<Connection> self, ConnInfo info,
                                    std::chrono::milliseconds timeout);
    Task<PgResult<void>> resolve_hosts(ConnInfo& info);
    Task<PgResult<std::vector<QueryResult>>> do_run(std::shared_ptr<Connection> self,
                                                    std::span<const Statement> batch,
                                                    std::chrono::milliseconds timeout);
    Task<PgResult<std::vector<QueryResult>>> pipeline(std::span<const Statement> batch);
    Task<PgResult<void>> flush();
    Task<PgResult<void>> wait_readable();
    PgError wait_error(const boost::system::error_code& ec) const;
    PgError libpq_error(std::string_view what) const;
    void arm_watchdog(std::shared_ptr<Connection> self, std::chrono::milliseconds timeout);
    void fail(const PgError& e);
    void finish() noexcept;
    static void on_notice(void* arg, const struct pg_result* notice);

    boost::asio::strand<Executor> strand_;
    const void* context_;
    boost::asio::posix::stream_descriptor socket_;
    boost::asio::steady_timer watchdog_;
    boost::asio::ip::tcp::resolver* resolver_ = nullptr;  // while do_connect resolves
    pg_conn* conn_ = nullptr;
    std::string describe_;  // user@host:port/db

    // Strand-only state.
    std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> prepared_;
    std::vector<const char*> values_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    std::string sql_scratch_;
    bool busy_ = false;
    bool timed_out_ = false;
    bool closing_ = false;
    std::chrono::milliseconds call_timeout_{0};
    std::uint64_t call_gen_ = 0;

    // Any thread.
    mutable std::mutex error_mu_;
    std::string last_error_;
    std::atomic<bool> broken_{false};
    std::atomic<bool> fatal_notice_{false};
    std::atomic<TxStatus> tx_status_{TxStatus::unknown};
    std::atomic<std::size_t> prepared_count_{0};
    std::atomic<std::uint64_t> calls_{0};
    std::atomic<std::uint64_t> statements_{0};
    std::atomic<std::uint64_t> prepares_{0};
    std::atomic<std::uint64_t> syncs_{0};
    int backend_pid_ = 0;
    std::chrono::steady_clock::time_point created_at_;
};

}  // namespace confidant::storage::pg
