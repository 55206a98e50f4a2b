// Opening a connection: host names resolved by Asio, then libpq's PQconnectPoll loop with the
// socket's readiness awaited, then non-blocking pipeline mode.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/detail.hpp"

namespace confidant::storage::pg {

namespace asio = boost::asio;
using asio::posix::descriptor_base;
using detail::kTuple;
using detail::ms_text;
using detail::one_line;
using detail::to_tx_status;

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
    auto r = co_await asio::co_spawn(
        conn->strand_, conn->do_connect(conn, std::move(info), timeout), asio::use_awaitable);
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
            co_return PgError{
                PgErrc::connect_failed,
                "resolving \"" + host + "\": " + (rec ? rec.message() : std::string("no address"))};
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
        auto [wec] =
            co_await socket_.async_wait(poll == PGRES_POLLING_READING ? descriptor_base::wait_read
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

}  // namespace confidant::storage::pg
