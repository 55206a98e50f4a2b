#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/task.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/error.hpp"
#include "storage/postgres/query_result.hpp"
#include "storage/postgres/statement.hpp"

namespace confidant::storage::pg {

/// Settings of a PostgreSQL pool. Names follow the seed's environment variables; `src/config/`
/// fills them in. Durations are milliseconds so tests can use short ones.
struct PoolSettings {
    /// DATABASE_URL: `postgresql://...`, `postgres://...` or libpq's `keyword=value` form.
    std::string conninfo;
    /// Connections kept open once opened (DB_POOL_SIZE). They are opened on demand (or all at
    /// once by prefill()) and closed only when broken or recycled, and then replaced.
    std::size_t size = 20;
    /// More connections opened under load (DB_MAX_OVERFLOW); closed again once idle for
    /// `overflow_idle` while more than `size` are open.
    std::size_t max_overflow = 10;
    /// A connection older than this is closed when it is handed back (or found idle) and
    /// replaced (DB_POOL_RECYCLE, 1800 s). Zero: never.
    std::chrono::milliseconds recycle{std::chrono::seconds(1800)};
    /// How long acquire() waits for a free connection when size + max_overflow are in use
    /// (DB_POOL_TIMEOUT); then it fails with `pool_timeout`.
    std::chrono::milliseconds acquire_timeout{std::chrono::seconds(5)};
    /// Bound on opening one connection (TCP, TLS, authentication).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
    /// Default bound on one run() through a lease or the pool.
    std::chrono::milliseconds statement_timeout{std::chrono::seconds(30)};
    /// Overflow connections idle this long are closed.
    std::chrono::milliseconds overflow_idle{std::chrono::seconds(30)};
    /// While the server is unreachable, reconnect attempts back off from min to max
    /// (doubling); the pool serves again at most about `reconnect_max` after the server does.
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{500};
};

/// Figures of a pool, as rendered for /metrics.
struct PoolStats {
    std::size_t open = 0;        ///< connections open or being opened (in use + idle + connecting)
    std::size_t in_use = 0;      ///< leased to callers (or being rolled back after a lease)
    std::size_t idle = 0;        ///< ready in the pool
    std::size_t connecting = 0;  ///< being opened
    std::size_t waiting = 0;     ///< callers waiting for a connection
    bool up = true;              ///< false while the server is unreachable
    std::uint64_t acquires = 0;  ///< acquire() calls
    std::uint64_t created = 0;   ///< connections opened
    std::uint64_t recycled = 0;  ///< closed for age (`recycle`)
    std::uint64_t idle_closed = 0;       ///< overflow connections closed when idle
    std::uint64_t broken = 0;            ///< connections found broken and dropped
    std::uint64_t connect_errors = 0;    ///< failed attempts to open a connection
    std::uint64_t acquire_timeouts = 0;  ///< callers that waited `acquire_timeout` in vain
    std::uint64_t unavailable = 0;       ///< callers failed fast while the server was down
};

class Lease;

/// A pool of PostgreSQL connections (SQLAlchemy's QueuePool semantics, asynchronous).
///
/// - acquire() hands out an idle connection (preferring one on the caller's own io_context,
///   then the most recently used), else opens one while fewer than size + max_overflow exist,
///   else waits up to `acquire_timeout` for one to be handed back, then fails with
///   `pool_timeout`. A lease returns its connection when it ends.
/// - Before an idle connection is handed out it gets a non-blocking liveness check; one the
///   server closed (restart, pg_terminate_backend) is dropped and replaced, never handed out.
///   A connection that broke during a lease is dropped when the lease ends. One handed back
///   inside a transaction is rolled back first (or dropped when that fails).
/// - When a connection cannot be opened the pool is *down*: callers that find no idle
///   connection fail at once with `unavailable` (never a hang), while one background task
///   reconnects with backoff (`reconnect_min` doubling to `reconnect_max`); its first success
///   makes the pool *up* again.
/// - Connections older than `recycle` are replaced; overflow connections idle for
///   `overflow_idle` are closed.
///
/// Threads: thread-safe; acquire() and run() may be awaited from coroutines on any thread and
/// any io_context. A connection opened for a caller lives on a strand of that caller's
/// executor; those opened in the background (replacements, reconnects, prefill) on the pool's
/// executor. Every io_context a connection lives on must outlive the pool's connections (close
/// the pool before stopping them). acquire() is not cancellable: it returns within
/// acquire_timeout (or connect_timeout when it opens a connection).
class Pool {
  public:
    /// Throws std::invalid_argument (one line naming DATABASE_URL) when `settings.conninfo`
    /// is malformed. Opens nothing yet.
    Pool(boost::asio::any_io_executor ex, PoolSettings settings);
    /// Closes idle connections and stops background work; leases still out close their
    /// connection when they end. Prefer `co_await close()`.
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// A connection for the caller's exclusive use until the Lease ends. Fails with
    /// `pool_timeout`, `unavailable`, `connect_failed`, `timeout` (opening took longer than
    /// connect_timeout) or `closed`.
    Task<PgResult<Lease>> acquire();
    /// acquire(), run the batch with `statement_timeout` (or `timeout`), hand back.
    Task<PgResult<std::vector<QueryResult>>> run(std::span<const Statement> batch);
    Task<PgResult<std::vector<QueryResult>>> run(std::span<const Statement> batch,
                                                 std::chrono::milliseconds timeout);
    Task<PgResult<QueryResult>> run_one(const Statement& statement);

    /// Opens connections until `size` are open (start-up warm-up); returns the first failure.
    Task<PgResult<void>> prefill();

    /// False while the server is known to be unreachable. Thread-safe.
    bool is_up() const noexcept;
    PoolStats stats() const;
    /// Appends the pool's figures in Prometheus text format (db_pool_*).
    void render(std::string& out) const;
    const PoolSettings& settings() const noexcept;

    /// Closes idle connections, fails waiting callers with `closed` and stops background work;
    /// later acquire() calls fail with `closed`. Idempotent.
    Task<void> close();

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

/// Exclusive use of one pooled connection; hands it back when destroyed (or at release()).
/// Move-only. Use it from one coroutine at a time.
class Lease {
  public:
    Lease() = default;
    Lease(std::shared_ptr<Pool::Impl> pool, std::shared_ptr<Connection> connection) noexcept;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();

    explicit operator bool() const noexcept { return conn_ != nullptr; }
    Connection& connection() const noexcept { return *conn_; }

    /// Connection::run() with the pool's `statement_timeout` (or `timeout`).
    Task<PgResult<std::vector<QueryResult>>> run(std::span<const Statement> batch);
    Task<PgResult<std::vector<QueryResult>>> run(std::span<const Statement> batch,
                                                 std::chrono::milliseconds timeout);
    Task<PgResult<QueryResult>> run_one(const Statement& statement);

    /// Hands the connection back now. Idempotent.
    void release() noexcept;

  private:
    std::shared_ptr<Pool::Impl> pool_;
    std::shared_ptr<Connection> conn_;
};

}  // namespace confidant::storage::pg
