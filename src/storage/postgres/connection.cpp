// A connection's life: construction, failure and closing, the call watchdog, the idle check.
// Connecting is in connection_connect.cpp, running statements in connection_pipeline.cpp.
#include "storage/postgres/connection.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <cerrno>

#include "storage/postgres/detail.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using detail::ms_text;
using detail::one_line;

Connection::Connection(Private, Executor ex)
    : strand_(asio::make_strand(ex)),
      context_(&asio::query(ex, asio::execution::context)),
      socket_(strand_),
      watchdog_(strand_),
      created_at_(std::chrono::steady_clock::now()) {}

Connection::~Connection() { finish(); }

void Connection::finish() noexcept {
    // The fd belongs to libpq: take it away from Asio (deregistering it from the reactor)
    // before PQfinish closes it.
    if (socket_.is_open()) {
        socket_.release();
    }
    if (conn_ != nullptr) {
        PQfinish(conn_);
        conn_ = nullptr;
    }
    tx_status_.store(TxStatus::unknown, std::memory_order_release);
}

ConnectionStats Connection::stats() const noexcept {
    return ConnectionStats{
        calls_.load(std::memory_order_relaxed), statements_.load(std::memory_order_relaxed),
        prepares_.load(std::memory_order_relaxed), syncs_.load(std::memory_order_relaxed)};
}

std::string Connection::last_error() const {
    std::lock_guard<std::mutex> lock(error_mu_);
    return last_error_;
}

void Connection::on_notice(void* arg, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    const std::string_view sev = severity != nullptr ? severity : "";
    const auto text = one_line(PQresultErrorMessage(notice));
    if (sev == "FATAL" || sev == "PANIC") {
        // An error while no statement runs: the server is ending the session.
        static_cast<Connection*>(arg)->fatal_notice_.store(true, std::memory_order_release);
        spdlog::warn("postgres: {}", text);
    } else if (sev == "WARNING") {
        spdlog::warn("postgres: {}", text);
    } else {
        spdlog::debug("postgres: {}", text);
    }
}

PgError Connection::libpq_error(std::string_view what) const {
    std::string msg(what);
    if (conn_ != nullptr) {
        const auto detail = one_line(PQerrorMessage(conn_));
        if (!detail.empty()) {
            msg += ": " + detail;
        }
    }
    return PgError{PgErrc::broken, std::move(msg)};
}

void Connection::fail(const PgError& e) {
    // On the strand. The first failure wins.
    if (!broken_.exchange(true, std::memory_order_acq_rel)) {
        std::lock_guard<std::mutex> lock(error_mu_);
        last_error_ = std::string(to_string(e.code)) + ": " + e.message;
    }
    watchdog_.cancel();
    finish();
}

void Connection::close() {
    asio::post(strand_, [self = shared_from_this()] {
        if (self->busy_) {
            // The call in flight sees its wait aborted, fails with `closed` and finishes.
            self->closing_ = true;
            boost::system::error_code ignored;
            self->socket_.cancel(ignored);
            if (self->resolver_ != nullptr) {
                self->resolver_->cancel();
            }
            return;
        }
        self->closing_ = true;
        self->fail(PgError{PgErrc::closed, "connection closed"});
    });
}

void Connection::arm_watchdog(std::shared_ptr<Connection> self, std::chrono::milliseconds timeout) {
    // A watchdog rather than a raced awaitable: it also bounds the resolver. It runs on the
    // strand, so it only fires while the call is suspended in a wait; `gen` keeps an expiry
    // that was already queued when a call ended from touching the next call.
    timed_out_ = false;
    call_timeout_ = timeout;
    const auto gen = ++call_gen_;
    watchdog_.expires_after(timeout);
    watchdog_.async_wait([self = std::move(self), gen](boost::system::error_code ec) {
        if (ec || self->call_gen_ != gen || !self->busy_) {
            return;
        }
        self->timed_out_ = true;
        boost::system::error_code ignored;
        self->socket_.cancel(ignored);
        if (self->resolver_ != nullptr) {
            self->resolver_->cancel();
        }
    });
}

PgError Connection::wait_error(const boost::system::error_code& ec) const {
    if (timed_out_) {
        return PgError{PgErrc::timeout, "no answer within " + ms_text(call_timeout_) +
                                            "; the connection was closed"};
    }
    if (closing_) {
        return PgError{PgErrc::closed, "connection closed"};
    }
    if (ec == asio::error::operation_aborted) {
        return PgError{PgErrc::cancelled, "cancelled; the connection was closed"};
    }
    return PgError{PgErrc::broken, "socket: " + ec.message()};
}

bool Connection::check_idle() {
    if (broken() || conn_ == nullptr) {
        return false;
    }
    auto dead = [this](const char* why) {
        broken_.store(true, std::memory_order_release);
        std::lock_guard<std::mutex> lock(error_mu_);
        last_error_ = std::string("broken while idle: ") + why;
        return false;
    };
    if (PQstatus(conn_) != CONNECTION_OK || fatal_notice_.load(std::memory_order_acquire)) {
        return dead("the server ended the session");
    }
    // Every call reads up to its sync, so an idle connection has nothing to read. Anything
    // there now is the server going away (an error before it closes, or the close itself):
    // one non-blocking peek tells, without disturbing libpq.
    char byte = 0;
    const auto n = ::recv(PQsocket(conn_), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        return dead("the server closed the connection");
    }
    if (n > 0) {
        return dead("the server sent data while the connection was idle");
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return dead("socket error");
    }
    return true;
}

}  // namespace confidant::storage::pg
