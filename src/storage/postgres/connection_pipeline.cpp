// Running a batch in pipeline mode: send every statement (with its PREPARE on first use) and
// one sync, flush, then read the results in order up to the sync.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <stdexcept>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/detail.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using asio::posix::descriptor_base;
using detail::kTuple;
using detail::to_tx_status;

struct Connection::Op {
    std::size_t statement = 0;
    int prepare = -1;  // index into the batch's PendingPrepare list when this op is a prepare
};

struct Connection::PendingPrepare {
    std::string name;
    std::string sql;
    bool failed = false;
};

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
        if (!st.name.empty() && results[o.statement].is_error(sqlstate::kInvalidStatementName)) {
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
        const auto ec =
            which.index() == 0 ? std::get<0>(std::get<0>(which)) : std::get<0>(std::get<1>(which));
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

}  // namespace confidant::storage::pg
