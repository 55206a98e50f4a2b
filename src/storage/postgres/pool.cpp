#include "storage/postgres/pool.hpp"

#include <spdlog/spdlog.h>

#include "storage/postgres/pool_impl.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;

Pool::Pool(asio::any_io_executor ex, PoolSettings settings)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(settings))) {}

Pool::~Pool() { impl_->shutdown(); }

Task<PgResult<Lease>> Pool::acquire() {
    auto impl = impl_;
    co_return co_await impl->acquire(impl);
}

Task<PgResult<std::vector<QueryResult>>> Pool::run(std::span<const Statement> batch) {
    co_return co_await run(batch, impl_->settings_.statement_timeout);
}

Task<PgResult<std::vector<QueryResult>>> Pool::run(std::span<const Statement> batch,
                                                   std::chrono::milliseconds timeout) {
    auto impl = impl_;
    auto lease = co_await impl->acquire(impl);
    if (!lease) {
        co_return lease.error();
    }
    co_return co_await lease->run(batch, timeout);
}

Task<PgResult<QueryResult>> Pool::run_one(const Statement& statement) {
    auto r = co_await run(std::span<const Statement>(&statement, 1));
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

Task<PgResult<void>> Pool::prefill() {
    auto impl = impl_;
    co_return co_await impl->prefill(impl);
}

bool Pool::is_up() const noexcept { return impl_->up_flag_.load(std::memory_order_acquire); }

PoolStats Pool::stats() const { return impl_->stats(); }

const PoolSettings& Pool::settings() const noexcept { return impl_->settings_; }

Task<void> Pool::close() {
    impl_->shutdown();
    co_return;
}

void Pool::render(std::string& out) const {
    const auto s = stats();
    const auto& cfg = impl_->settings_;
    auto gauge = [&out](const char* name, const char* help, double value) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += " gauge\n";
        out += name;
        out += ' ';
        out += std::to_string(static_cast<long long>(value));
        out += '\n';
    };
    auto counter = [&out](const char* name, const char* help, std::uint64_t value) {
        out += "# HELP ";
        out += name;
        out += ' ';
        out += help;
        out += "\n# TYPE ";
        out += name;
        out += " counter\n";
        out += name;
        out += ' ';
        out += std::to_string(value);
        out += '\n';
    };
    out +=
        "# HELP db_pool_connections PostgreSQL pool connections by state.\n"
        "# TYPE db_pool_connections gauge\n";
    out += "db_pool_connections{state=\"in_use\"} " + std::to_string(s.in_use) + "\n";
    out += "db_pool_connections{state=\"idle\"} " + std::to_string(s.idle) + "\n";
    out += "db_pool_connections{state=\"connecting\"} " + std::to_string(s.connecting) + "\n";
    gauge("db_pool_open", "PostgreSQL connections open or being opened.",
          static_cast<double>(s.open));
    gauge("db_pool_size", "Connections the pool keeps open (DB_POOL_SIZE).",
          static_cast<double>(cfg.size));
    gauge("db_pool_max_overflow", "Extra connections allowed under load (DB_MAX_OVERFLOW).",
          static_cast<double>(cfg.max_overflow));
    gauge("db_pool_waiting", "Callers waiting for a free connection.",
          static_cast<double>(s.waiting));
    gauge("db_pool_up", "1 while PostgreSQL is reachable, 0 while the pool reconnects.",
          s.up ? 1 : 0);
    counter("db_pool_acquires_total", "Connections asked of the pool.", s.acquires);
    counter("db_pool_connections_created_total", "Connections opened.", s.created);
    counter("db_pool_connections_recycled_total",
            "Connections closed for age (DB_POOL_RECYCLE) and replaced.", s.recycled);
    counter("db_pool_connections_idle_closed_total", "Overflow connections closed after idling.",
            s.idle_closed);
    out +=
        "# HELP db_pool_errors_total PostgreSQL pool errors: connections found broken, failed "
        "connection attempts, callers failed fast while the server was down.\n"
        "# TYPE db_pool_errors_total counter\n";
    out += "db_pool_errors_total{kind=\"broken\"} " + std::to_string(s.broken) + "\n";
    out += "db_pool_errors_total{kind=\"connect\"} " + std::to_string(s.connect_errors) + "\n";
    out += "db_pool_errors_total{kind=\"unavailable\"} " + std::to_string(s.unavailable) + "\n";
    counter("db_pool_acquire_timeouts_total",
            "Callers that waited DB_POOL_TIMEOUT for a connection in vain.", s.acquire_timeouts);
}

Lease::Lease(std::shared_ptr<Pool::Impl> pool, std::shared_ptr<Connection> connection) noexcept
    : pool_(std::move(pool)), conn_(std::move(connection)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::move(other.pool_);
        conn_ = std::move(other.conn_);
    }
    return *this;
}

Lease::~Lease() { release(); }

void Lease::release() noexcept {
    if (!conn_) {
        return;
    }
    auto pool = std::move(pool_);
    auto conn = std::move(conn_);
    try {
        pool->release(pool, std::move(conn));
    } catch (const std::exception& e) {
        // Only allocation can fail here; the connection is then dropped with its shared_ptr.
        spdlog::error("postgres pool: handing a connection back failed: {}", e.what());
    }
}

Task<PgResult<std::vector<QueryResult>>> Lease::run(std::span<const Statement> batch) {
    co_return co_await conn_->run(batch, pool_->settings_.statement_timeout);
}

Task<PgResult<std::vector<QueryResult>>> Lease::run(std::span<const Statement> batch,
                                                    std::chrono::milliseconds timeout) {
    co_return co_await conn_->run(batch, timeout);
}

Task<PgResult<QueryResult>> Lease::run_one(const Statement& statement) {
    co_return co_await conn_->run_one(statement, pool_->settings_.statement_timeout);
}

}  // namespace confidant::storage::pg
