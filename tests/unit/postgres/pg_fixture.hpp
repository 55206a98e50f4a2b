#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <string>

#include "core/task.hpp"
#include "storage/postgres/pool.hpp"
#include "support/io_threads.hpp"
#include "support/pg_server.hpp"

namespace confidant::storage::pg::testing {

using namespace std::chrono_literals;

/// The cluster shared by every test of this binary: started on first use, stopped and removed
/// at exit. Tests that restart it leave it running.
inline test::PgServer& server() {
    // `pw_user` must give a password (scram); everyone else is trusted.
    static test::PgServer s(
        test::PgServerOptions{{}, {"host all pw_user 127.0.0.1/32 scram-sha-256"}});
    return s;
}

inline Task<void> sleep_for(std::chrono::milliseconds d) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

/// Settings that notice failures quickly.
inline PoolSettings fast_settings(std::size_t size = 4, std::size_t overflow = 0) {
    PoolSettings s;
    s.conninfo = server().url();
    s.size = size;
    s.max_overflow = overflow;
    s.acquire_timeout = 1000ms;
    s.connect_timeout = 2000ms;
    s.statement_timeout = 5000ms;
    s.overflow_idle = 200ms;
    s.reconnect_min = 20ms;
    s.reconnect_max = 200ms;
    return s;
}

inline std::chrono::milliseconds since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0);
}

}  // namespace confidant::storage::pg::testing
