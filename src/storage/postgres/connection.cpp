#include "storage/postgres/connection.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <iterator>
#include <stdexcept>

namespace confidant::storage::pg {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using asio::posix::descriptor_base;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

/// libpq's messages end with a newline and may span lines; logs and errors want one line.
std::string one_line(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (auto& c : s) {
        if (c == '\n' || c == '\r' || c == '\t') {
            c = ' ';
        }
    }
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    return s;
}

TxStatus to_tx_status(PGTransactionStatusType t) {
    switch (t) {
        case PQTRANS_IDLE:
            return TxStatus::idle;
        case PQTRANS_INTRANS:
            return TxStatus::in_transaction;
        case PQTRANS_INERROR:
            return TxStatus::in_error;
        default:
            return TxStatus::unknown;
    }
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

struct Connection::Op {
    std::size_t statement = 0;
    int prepare = -1;  // index into the batch's PendingPrepare list when this op is a prepare
};

struct Connection::PendingPrepare {
    std::string name;
    std::string sql;
    bool failed = false;
};

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
    return ConnectionStats{calls_.load(std::memory_order_relaxed),
                           statements_.load(std::memory_order_relaxed),
                           prepares_.load(std::memory_order_relaxed),
                           syncs_.load(std::memory_order_relaxed)};
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

// ---------------------------------------------------------------------------------------------
// Connecting

Task<PgResult<std::shared_ptr<Connection>>> Connection::open(Executor ex, std::string_view conninfo,
                                                             std::chrono::milliseconds timeout) {
    auto info = parse_conninfo(conninfo);
    if (!info) {
        co_return PgError{PgErrc::connect_failed, info.error()};
    }
    co_return co_await open(std::move(ex), std::move(*info), timeout);
}

Task<PgResult<std::shared_ptr<Connection>>> Connection::open(Executor ex, ConnInfo info,
                                                             std::chrono::milliseconds timeout) {
    auto conn = std::make_shared<Connection>(Private{}, ex);
    auto r = co_await asio::co_spawn(conn->strand_,
                                     conn->do_connect(conn, std::move(info), timeout),
                                     asio::use_awaitable);
    if (!r) {
        co_return r.error();
    }
    co_return conn;
}

Task<PgResult<void>> Connection::resolve_hosts(ConnInfo& info) {
    // libpq resolves `host` with a blocking getaddrinfo(). Resolve names here instead (Asio's
    // resolver runs it off the I/O threads) and hand libpq `hostaddr`, one entry per address
    // (a name listed once per address, as libpq would try them), keeping `host` for TLS
    // checks and messages.
    if (!info.has("host") || info.has("hostaddr")) {
        co_return PgResult<void>{};
    }
    auto split = [](const std::string& text) {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (;;) {
            const auto end = std::min(text.find(',', start), text.size());
            out.push_back(text.substr(start, end - start));
            if (end >= text.size()) {
                return out;
            }
            start = end + 1;
        }
    };
    auto join = [](const std::vector<std::string>& items) {
        std::string out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            out += (i == 0 ? "" : ",") + items[i];
        }
        return out;
    };
    const auto hosts = split(info.get("host"));
    const auto ports = info.has("port") ? split(info.get("port")) : std::vector<std::string>{};
    std::vector<std::string> out_hosts;
    std::vector<std::string> out_addrs;
    std::vector<std::string> out_ports;
    bool any_name = false;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        const auto& host = hosts[i];
        const std::string port = ports.size() > 1 && i < ports.size() ? ports[i]
                                 : ports.empty()                      ? std::string()
                                                                      : ports[0];
        boost::system::error_code ec;
        const auto literal = asio::ip::make_address(host, ec);
        if (host.empty() || host[0] == '/' || host[0] == '@' || !ec) {
            out_hosts.push_back(host);
            out_addrs.push_back(!host.empty() && !ec ? literal.to_string() : std::string());
            out_ports.push_back(port);
            continue;
        }
        any_name = true;
        asio::ip::tcp::resolver resolver(strand_);
        resolver_ = &resolver;
        auto [rec, results] = co_await resolver.async_resolve(host, "", kTuple);
        resolver_ = nullptr;
        if (timed_out_ || closing_ || rec == asio::error::operation_aborted) {
            co_return wait_error(rec);
        }
        if (rec || results.empty()) {
            co_return PgError{PgErrc::connect_failed,
                              "resolving \"" + host + "\": " +
                                  (rec ? rec.message() : std::string("no address"))};
        }
        std::vector<std::string> seen;
        for (const auto& entry : results) {
            auto addr = entry.endpoint().address().to_string();
            if (std::find(seen.begin(), seen.end(), addr) != seen.end()) {
                continue;
            }
            seen.push_back(addr);
            out_hosts.push_back(host);
            out_addrs.push_back(std::move(addr));
            out_ports.push_back(port);
        }
    }
    if (any_name) {
        info.set("host", join(out_hosts));
        info.set("hostaddr", join(out_addrs));
        if (ports.size() > 1) {
            info.set("port", join(out_ports));
        }
    }
    co_return PgResult<void>{};
}

Task<PgResult<void>> Connection::do_connect(std::shared_ptr<Connection> self, ConnInfo info,
                                            std::chrono::milliseconds timeout) {
    // On the strand. Errors are values; never throw on cancellation.
    co_await asio::this_coro::throw_if_cancelled(false);
    describe_ = info.describe();
    busy_ = true;
    arm_watchdog(self, timeout);
    auto failed = [this](PgError e) -> PgError {
        busy_ = false;
        if (e.code == PgErrc::broken) {
            e.code = PgErrc::connect_failed;
        }
        e.message = "connecting to " + describe_ + ": " + e.message;
        fail(e);
        return e;
    };

    if (auto r = co_await resolve_hosts(info); !r) {
        co_return failed(r.error());
    }
    // Our defaults, unless the connection string says otherwise: text is UTF-8, and the
    // server's views show who is connected.
    if (!info.has("client_encoding")) {
        info.set("client_encoding", "UTF8");
    }
    if (!info.has("fallback_application_name")) {
        info.set("fallback_application_name", "confidant");
    }
    std::vector<const char*> keywords;
    std::vector<const char*> values;
    for (const auto& [k, v] : info.options) {
        keywords.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keywords.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectStartParams(keywords.data(), values.data(), 0);
    if (conn_ == nullptr) {
        co_return failed(PgError{PgErrc::connect_failed, "out of memory"});
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
        co_return failed(libpq_error("cannot start"));
    }
    PQsetNoticeReceiver(conn_, &Connection::on_notice, this);

    // The documented loop: behave as if PQconnectPoll last said "writing". libpq may replace
    // the socket between polls (another host, a retry without TLS), so the descriptor is
    // registered only for the wait and released before libpq runs again.
    auto poll = PGRES_POLLING_WRITING;
    while (poll != PGRES_POLLING_OK) {
        if (poll == PGRES_POLLING_FAILED) {
            co_return failed(PgError{PgErrc::connect_failed, one_line(PQerrorMessage(conn_))});
        }
        const int fd = PQsocket(conn_);
        boost::system::error_code ec;
        socket_.assign(fd, ec);
        if (ec) {
            co_return failed(PgError{PgErrc::connect_failed, "socket: " + ec.message()});
        }
        auto [wec] = co_await socket_.async_wait(poll == PGRES_POLLING_READING
                                                     ? descriptor_base::wait_read
                                                     : descriptor_base::wait_write,
                                                 kTuple);
        socket_.release();
        if (wec || timed_out_ || closing_) {
            auto e = wait_error(wec);
            if (e.code == PgErrc::timeout) {
                e.message = "no connection within " + ms_text(timeout);
            }
            co_return failed(e);
        }
        poll = PQconnectPoll(conn_);
    }
    if (PQsetnonblocking(conn_, 1) != 0) {
        co_return failed(libpq_error("PQsetnonblocking"));
    }
    if (PQenterPipelineMode(conn_) != 1) {
        co_return failed(libpq_error("PQenterPipelineMode"));
    }
    boost::system::error_code ec;
    socket_.assign(PQsocket(conn_), ec);
    if (ec) {
        co_return failed(PgError{PgErrc::connect_failed, "socket: " + ec.message()});
    }
    backend_pid_ = PQbackendPID(conn_);
    tx_status_.store(to_tx_status(PQtransactionStatus(conn_)), std::memory_order_release);
    busy_ = false;
    watchdog_.cancel();
    co_return PgResult<void>{};
}

// ---------------------------------------------------------------------------------------------
// Running statements

Task<PgResult<QueryResult>> Connection::run_one(const Statement& statement,
                                                std::chrono::milliseconds timeout) {
    auto r = co_await run(std::span<const Statement>(&statement, 1), timeout);
    if (!r) {
        co_return r.error();
    }
    co_return std::move(r->front());
}

Task<PgResult<std::vector<QueryResult>>> Connection::run(std::span<const Statement> batch,
                                                         std::chrono::milliseconds timeout) {
    if (batch.empty()) {
        co_return std::vector<QueryResult>{};
    }
    co_return co_await asio::co_spawn(strand_, do_run(shared_from_this(), batch, timeout),
                                      asio::use_awaitable);
}

Task<PgResult<std::vector<QueryResult>>> Connection::do_run(std::shared_ptr<Connection> self,
                                                            std::span<const Statement> batch,
                                                            std::chrono::milliseconds timeout) {
    // On the strand. Errors are values; never throw on cancellation.
    co_await asio::this_coro::throw_if_cancelled(false);
    if (broken_.load(std::memory_order_acquire) || conn_ == nullptr) {
        co_return PgError{closing_ ? PgErrc::closed : PgErrc::broken,
                          "connection is not usable (" + last_error() + ")"};
    }
    if (busy_) {
        throw std::logic_error("pg::Connection: a call is already in flight (one at a time)");
    }
    busy_ = true;
    calls_.fetch_add(1, std::memory_order_relaxed);
    arm_watchdog(self, timeout);
    PgResult<std::vector<QueryResult>> r = PgError{};
    try {
        r = co_await pipeline(batch);
    } catch (...) {
        // A misuse caught before anything was sent (one name, two SQL texts).
        busy_ = false;
        watchdog_.cancel();
        throw;
    }
    busy_ = false;
    watchdog_.cancel();
    if (!r) {
        fail(r.error());
        co_return r.error();
    }
    tx_status_.store(to_tx_status(PQtransactionStatus(conn_)), std::memory_order_release);
    co_return r;
}

Task<PgResult<std::vector<QueryResult>>> Connection::pipeline(std::span<const Statement> batch) {
    // One name, one SQL text: checked before anything is queued in libpq.
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& st = batch[i];
        if (st.name.empty()) {
            continue;
        }
        const auto it = prepared_.find(st.name);
        bool clash = it != prepared_.end() && it->second != st.sql;
        for (std::size_t j = 0; j < i && !clash; ++j) {
            clash = batch[j].name == st.name && batch[j].sql != st.sql;
        }
        if (clash) {
            throw std::logic_error("pg::Statement \"" + std::string(st.name) +
                                   "\" is used with two different SQL texts");
        }
    }

    std::vector<Op> ops;
    ops.reserve(batch.size() * 2);
    std::vector<PendingPrepare> pending;

    // Send: every statement (preceded by its PREPARE on first use), then one sync.
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& st = batch[i];
        st.params.fill(values_, lengths_, formats_);
        const int n = st.params.size();
        int sent = 0;
        if (st.name.empty()) {
            sql_scratch_.assign(st.sql);
            sent = PQsendQueryParams(conn_, sql_scratch_.c_str(), n, nullptr, values_.data(),
                                     lengths_.data(), formats_.data(), 0);
        } else {
            const char* name = nullptr;
            if (auto it = prepared_.find(st.name); it != prepared_.end()) {
                name = it->first.c_str();
            } else {
                auto same = std::find_if(pending.begin(), pending.end(),
                                         [&st](const auto& p) { return p.name == st.name; });
                if (same == pending.end()) {
                    pending.push_back(PendingPrepare{std::string(st.name), std::string(st.sql)});
                    same = std::prev(pending.end());
                    if (PQsendPrepare(conn_, same->name.c_str(), same->sql.c_str(), n, nullptr) !=
                        1) {
                        co_return libpq_error("sending PREPARE");
                    }
                    ops.push_back(Op{i, static_cast<int>(pending.size() - 1)});
                    prepares_.fetch_add(1, std::memory_order_relaxed);
                }
                name = same->name.c_str();
            }
            sent = PQsendQueryPrepared(conn_, name, n, values_.data(), lengths_.data(),
                                       formats_.data(), 0);
        }
        if (sent != 1) {
            co_return libpq_error("sending a statement");
        }
        ops.push_back(Op{i, -1});
    }
    if (PQpipelineSync(conn_) != 1) {
        co_return libpq_error("PQpipelineSync");
    }
    syncs_.fetch_add(1, std::memory_order_relaxed);
    statements_.fetch_add(batch.size(), std::memory_order_relaxed);
    if (auto f = co_await flush(); !f) {
        co_return f.error();
    }

    // Receive: each op yields one result then a NULL; an op after a failure yields
    // PGRES_PIPELINE_ABORTED; the sync yields PGRES_PIPELINE_SYNC.
    std::vector<QueryResult> results(batch.size());
    std::vector<bool> prepare_failed(batch.size(), false);
    std::size_t op = 0;
    bool got = false;
    for (;;) {
        if (PQisBusy(conn_) != 0) {
            if (auto w = co_await wait_readable(); !w) {
                co_return w.error();
            }
            continue;
        }
        PGresult* res = PQgetResult(conn_);
        if (res == nullptr) {
            if (!got) {
                co_return libpq_error(PQstatus(conn_) == CONNECTION_BAD
                                          ? "connection lost"
                                          : "protocol: a statement ended without a result");
            }
            ++op;
            got = false;
            continue;
        }
        const auto status = PQresultStatus(res);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            if (op != ops.size()) {
                co_return libpq_error("protocol: pipeline sync before all results");
            }
            break;
        }
        if (op >= ops.size() || got || status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
            status == PGRES_COPY_BOTH) {
            PQclear(res);
            co_return libpq_error(status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
                                          status == PGRES_COPY_BOTH
                                      ? "COPY is not supported"
                                      : "protocol: more results than statements");
        }
        got = true;
        const auto& o = ops[op];
        if (status == PGRES_FATAL_ERROR && PQstatus(conn_) == CONNECTION_BAD) {
            PgError e = libpq_error("connection lost");
            PQclear(res);
            co_return e;
        }
        if (o.prepare >= 0) {
            auto& p = pending[static_cast<std::size_t>(o.prepare)];
            if (status == PGRES_COMMAND_OK) {
                PQclear(res);
            } else {
                // Report the PREPARE's error (a syntax error, say) as the statement's result;
                // its execution then comes back aborted and is dropped.
                p.failed = true;
                prepare_failed[o.statement] = true;
                results[o.statement] = QueryResult::adopt(res);
            }
            continue;
        }
        if (prepare_failed[o.statement]) {
            PQclear(res);
            continue;
        }
        results[o.statement] = QueryResult::adopt(res);
        const auto& st = batch[o.statement];
        if (!st.name.empty() &&
            results[o.statement].is_error(sqlstate::kInvalidStatementName)) {
            // Someone ran DEALLOCATE: forget the name so the next call prepares it again.
            if (auto it = prepared_.find(st.name); it != prepared_.end()) {
                prepared_.erase(it);
                prepared_count_.store(prepared_.size(), std::memory_order_relaxed);
            }
        }
    }
    for (auto& p : pending) {
        if (!p.failed) {
            prepared_.emplace(std::move(p.name), std::move(p.sql));
        }
    }
    prepared_count_.store(prepared_.size(), std::memory_order_relaxed);
    co_return results;
}

Task<PgResult<void>> Connection::flush() {
    // PQflush returns 1 while output remains. Wait for the socket to take more, but also read
    // meanwhile: the server stops reading when its own output to us is not being drained.
    for (;;) {
        const int f = PQflush(conn_);
        if (f == 0) {
            co_return PgResult<void>{};
        }
        if (f < 0) {
            co_return libpq_error("sending");
        }
        auto which = co_await (socket_.async_wait(descriptor_base::wait_read, kTuple) ||
                               socket_.async_wait(descriptor_base::wait_write, kTuple));
        const auto ec = which.index() == 0 ? std::get<0>(std::get<0>(which))
                                           : std::get<0>(std::get<1>(which));
        if (ec || timed_out_ || closing_) {
            co_return wait_error(ec);
        }
        if (which.index() == 0 && PQconsumeInput(conn_) != 1) {
            co_return libpq_error("receiving");
        }
    }
}

Task<PgResult<void>> Connection::wait_readable() {
    auto [ec] = co_await socket_.async_wait(descriptor_base::wait_read, kTuple);
    if (ec || timed_out_ || closing_) {
        co_return wait_error(ec);
    }
    if (PQconsumeInput(conn_) != 1) {
        co_return libpq_error("receiving");
    }
    co_return PgResult<void>{};
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
