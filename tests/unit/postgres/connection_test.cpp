#include "storage/postgres/connection.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg_fixture.hpp"

namespace confidant::storage::pg {
namespace {

namespace asio = boost::asio;
using namespace testing;
using test::IoThreads;
using ConnPtr = std::shared_ptr<Connection>;

Task<ConnPtr> open_ok(std::string conninfo = server().url()) {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await Connection::open(ex, conninfo, 5s);
    if (!c) {
        throw std::runtime_error("connect failed: " + c.error().message);
    }
    co_return *c;
}

/// One statement's result, or a throw (the tests that use it expect success).
Task<QueryResult> one(Connection& c, std::string_view sql, Params params = {},
                      std::string_view name = {}) {
    const Statement st{name, sql, std::move(params)};
    auto r = co_await c.run_one(st, 5s);
    if (!r) {
        throw std::runtime_error("call failed: " + r.error().message);
    }
    co_return std::move(*r);
}

/// A table private to one test.
std::string fresh_table(const std::string& name) {
    server().psql("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name +
                  " (k text PRIMARY KEY, v bigint)");
    return name;
}

TEST(PgConnection, ConnectsWithUrlAndKeywordForms) {
    IoThreads io;
    for (const auto& conninfo : {server().url(), server().keywords()}) {
        auto c = io.run(open_ok(conninfo));
        EXPECT_GT(c->backend_pid(), 0);
        EXPECT_EQ(c->transaction_status(), TxStatus::idle);
        auto r = io.run(one(*c, "SELECT 1 + 1 AS two, current_setting('client_encoding')"));
        ASSERT_TRUE(r.ok()) << r.describe_error();
        EXPECT_EQ(r.get<int>(0, 0), 2);
        EXPECT_EQ(r.column("two"), 0);
        EXPECT_EQ(r.get<std::string>(0, 1), "UTF8");
        c->close();
    }
}

TEST(PgConnection, ResolvesHostNamesItself) {
    IoThreads io;
    // "localhost" may resolve to ::1 first; the server listens on 127.0.0.1 only, so this also
    // shows every address of a name is tried.
    auto c = io.run(open_ok("postgresql://postgres@localhost:" + std::to_string(server().port()) +
                            "/postgres?sslmode=disable"));
    auto r = io.run(one(*c, "SELECT inet_server_addr()::text"));
    EXPECT_EQ(r.get<std::string>(0, 0), "127.0.0.1/32");
}

TEST(PgConnection, BadPasswordIsAnErrorValue) {
    server().psql(
        "DO $$ BEGIN CREATE ROLE pw_user LOGIN PASSWORD 'right'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
    IoThreads io;
    const auto base =
        "postgresql://pw_user:%s@127.0.0.1:" + std::to_string(server().port()) + "/postgres";
    auto url = [&](const char* pw) {
        auto s = base;
        return s.replace(s.find("%s"), 2, pw);
    };
    const auto t0 = std::chrono::steady_clock::now();
    auto bad = io.run(Connection::open(io.executor(), url("wrong"), 2s));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, PgErrc::connect_failed);
    EXPECT_NE(bad.error().message.find("password authentication failed"), std::string::npos)
        << bad.error().message;
    EXPECT_LT(since(t0), 2000ms);
    auto good = io.run(Connection::open(io.executor(), url("right"), 2s));
    ASSERT_TRUE(good) << good.error().message;
}

TEST(PgConnection, RefusedPortAndUnknownDatabaseAreErrorValues) {
    IoThreads io;
    const auto t0 = std::chrono::steady_clock::now();
    auto refused = io.run(Connection::open(
        io.executor(), "host=127.0.0.1 port=" + std::to_string(test::PgServer::free_port()), 2s));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, PgErrc::connect_failed);
    EXPECT_NE(refused.error().message.find("refused"), std::string::npos)
        << refused.error().message;
    EXPECT_LT(since(t0), 2000ms);

    auto nodb = io.run(Connection::open(io.executor(), server().url("no_such_db"), 2s));
    ASSERT_FALSE(nodb);
    EXPECT_EQ(nodb.error().code, PgErrc::connect_failed);
    EXPECT_NE(nodb.error().message.find("does not exist"), std::string::npos);

    auto malformed = io.run(Connection::open(io.executor(), "host=x nonsense=1", 2s));
    ASSERT_FALSE(malformed);
    EXPECT_EQ(malformed.error().code, PgErrc::connect_failed);
}

TEST(PgConnection, SilentServerTimesOut) {
    // A socket that accepts TCP connections (the kernel completes them) but never answers.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    IoThreads io;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = io.run(Connection::open(
        io.executor(),
        "host=127.0.0.1 sslmode=disable port=" + std::to_string(ntohs(addr.sin_port)), 300ms));
    const auto took = since(t0);
    ::close(fd);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, PgErrc::timeout) << r.error().message;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 2000ms);
}

TEST(PgConnection, PreparesEachNameOnce) {
    IoThreads io;
    auto c = io.run(open_ok());
    for (int i = 0; i < 3; ++i) {
        auto r = io.run(one(*c, "SELECT $1::int8 + 1", Params(i), "plus_one"));
        ASSERT_TRUE(r.ok()) << r.describe_error();
        EXPECT_EQ(r.get<std::int64_t>(0, 0), i + 1);
    }
    EXPECT_EQ(c->stats().prepares, 1u);
    EXPECT_EQ(c->prepared_count(), 1u);
    auto server_side =
        io.run(one(*c, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'plus_one'"));
    EXPECT_EQ(server_side.get<std::int64_t>(0, 0), 1);
    // One name means one SQL text: a clash is a programming error, caught before sending.
    EXPECT_THROW(io.run(one(*c, "SELECT 2", {}, "plus_one")), std::logic_error);
    EXPECT_EQ(io.run(one(*c, "SELECT $1::int8 + 1", Params(41), "plus_one")).get<int>(0, 0), 42);
}

TEST(PgConnection, HundredStatementsInOneRoundTrip) {
    IoThreads io;
    auto c = io.run(open_ok());
    std::vector<Statement> batch;
    for (int i = 0; i < 100; ++i) {
        batch.push_back(Statement{"double_it", "SELECT $1::int8 * 2, now()", Params(i)});
    }
    const auto before = c->stats();
    auto r = io.run(c->run(batch, 5s));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 100u);
    const auto first_now = (*r)[0].get<std::string>(0, 1);
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE((*r)[i].ok()) << (*r)[i].describe_error();
        EXPECT_EQ((*r)[i].get<std::int64_t>(0, 0), 2 * i);
        // One pipeline, one implicit transaction: the same now() throughout.
        EXPECT_EQ((*r)[i].get<std::string>(0, 1), first_now);
    }
    const auto after = c->stats();
    EXPECT_EQ(after.syncs - before.syncs, 1u);
    EXPECT_EQ(after.statements - before.statements, 100u);
    EXPECT_EQ(after.prepares - before.prepares, 1u);
}

TEST(PgConnection, ParametersRoundTripUnchanged) {
    IoThreads io;
    auto c = io.run(open_ok());
    const std::string quotes = "O'Brien said \"hi\"; DROP TABLE users; -- \\ $1 %s";
    const std::string unicode = "héllo 世界 🙂 \u00e9\u0301 ∑";
    const std::string big(1 << 20, 'x');  // more than one socket buffer
    std::string all_bytes;
    for (int b = 0; b < 256; ++b) {
        all_bytes.push_back(static_cast<char>(b));
    }
    Params p(quotes, unicode, std::numeric_limits<std::int64_t>::min(), -0.1, true, std::string(),
             big);
    p.add_bytes(all_bytes);
    auto r = io.run(one(*c,
                        "SELECT $1::text, $2::text, $3::int8, $4::float8, $5::bool, $6::text, "
                        "length($7::text), $8::bytea, octet_length($2::text)",
                        std::move(p), "round_trip"));
    ASSERT_TRUE(r.ok()) << r.describe_error();
    EXPECT_EQ(r.get<std::string>(0, 0), quotes);
    EXPECT_EQ(r.get<std::string>(0, 1), unicode);
    EXPECT_EQ(r.get<std::int64_t>(0, 2), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(r.get<double>(0, 3), -0.1);
    EXPECT_TRUE(r.get<bool>(0, 4));
    EXPECT_FALSE(r.is_null(0, 5));
    EXPECT_EQ(r.get<std::string>(0, 5), "");
    EXPECT_EQ(r.get<std::int64_t>(0, 6), 1 << 20);
    EXPECT_EQ(r.bytes(0, 7), all_bytes);
    EXPECT_EQ(r.get<std::int64_t>(0, 8), static_cast<std::int64_t>(unicode.size()));

    // A big result arrives in many reads.
    auto rows = io.run(one(*c, "SELECT g, repeat('y', 100) FROM generate_series(1, 50000) g"));
    ASSERT_EQ(rows.rows(), 50000);
    EXPECT_EQ(rows.get<int>(49999, 0), 50000);
}

TEST(PgConnection, Nulls) {
    IoThreads io;
    auto c = io.run(open_ok());
    auto r = io.run(one(*c, "SELECT NULL::int8 AS a, NULL::text AS b, $1::text AS c, 7::int8",
                        Params(std::nullopt)));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.is_null(0, 0));
    EXPECT_EQ(r.get<std::optional<std::int64_t>>(0, 0), std::nullopt);
    EXPECT_EQ(r.get<std::optional<std::string>>(0, 1), std::nullopt);
    EXPECT_TRUE(r.is_null(0, 2));
    EXPECT_EQ(r.get<std::optional<std::int64_t>>(0, 3), 7);
    EXPECT_THROW(r.get<std::int64_t>(0, 0), std::runtime_error);
    EXPECT_THROW(r.get<std::int64_t>(0, 9), std::out_of_range);
    EXPECT_THROW(r.get<std::int64_t>(1, 0), std::out_of_range);
}

TEST(PgConnection, ErrorInPipelineAbortsTheRestAndConnectionStaysUsable) {
    IoThreads io;
    auto c = io.run(open_ok());
    std::vector<Statement> batch;
    batch.push_back(Statement{"", "SELECT 1"});
    batch.push_back(Statement{"div", "SELECT 1 / $1::int", Params(0)});
    batch.push_back(Statement{"", "SELECT 2"});
    auto r = io.run(c->run(batch, 5s));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE((*r)[0].ok());
    EXPECT_EQ((*r)[1].status(), QueryResult::Status::error);
    EXPECT_EQ((*r)[1].sqlstate(), sqlstate::kDivisionByZero);
    EXPECT_NE((*r)[1].describe_error().find("division by zero"), std::string::npos);
    EXPECT_TRUE((*r)[2].aborted());
    EXPECT_FALSE((*r)[2].error_message().empty());
    EXPECT_FALSE(c->broken());
    EXPECT_EQ(c->transaction_status(), TxStatus::idle);
    EXPECT_EQ(io.run(one(*c, "SELECT 3")).get<int>(0, 0), 3);
    // The statement that failed at execution was prepared all the same.
    EXPECT_EQ(io.run(one(*c, "SELECT 1 / $1::int", Params(1), "div")).get<int>(0, 0), 1);

    // A statement that fails to prepare reports the PREPARE's error and is not remembered.
    const auto prepared = c->prepared_count();
    for (int i = 0; i < 2; ++i) {
        auto bad = io.run(one(*c, "SELEC 1", {}, "typo"));
        EXPECT_EQ(bad.sqlstate(), "42601") << bad.describe_error();
    }
    EXPECT_EQ(c->prepared_count(), prepared);
    EXPECT_EQ(io.run(one(*c, "SELECT 4")).get<int>(0, 0), 4);
}

TEST(PgConnection, UniqueViolationCarriesSqlstateAndConstraint) {
    IoThreads io;
    auto c = io.run(open_ok());
    const auto t = fresh_table("conn_unique");
    const std::string insert = "INSERT INTO " + t + " (k, v) VALUES ($1, $2)";
    auto first = io.run(one(*c, insert, Params("a", 1), "ins"));
    ASSERT_TRUE(first.ok()) << first.describe_error();
    EXPECT_EQ(first.affected_rows(), 1);
    auto second = io.run(one(*c, insert, Params("a", 2), "ins"));
    EXPECT_TRUE(second.is_error(sqlstate::kUniqueViolation)) << second.describe_error();
    EXPECT_EQ(second.constraint(), t + "_pkey");
    EXPECT_FALSE(second.error_detail().empty());
}

TEST(PgConnection, TransactionsInOneBatch) {
    IoThreads io;
    auto c = io.run(open_ok());
    const auto t = fresh_table("conn_tx");
    const std::string insert = "INSERT INTO " + t + " (k, v) VALUES ($1, 0)";
    auto count = [&](const std::string& key) {
        return io.run(one(*c, "SELECT count(*) FROM " + t + " WHERE k = $1", Params(key)))
            .get<std::int64_t>(0, 0);
    };
    {
        std::vector<Statement> b;
        b.push_back(Statement{"", "BEGIN"});
        b.push_back(Statement{"tx_ins", insert, Params("a")});
        b.push_back(Statement{"tx_ins", insert, Params("b")});
        b.push_back(Statement{"", "COMMIT"});
        auto r = io.run(c->run(b, 5s));
        ASSERT_TRUE(r);
        for (auto& q : *r) {
            EXPECT_TRUE(q.ok()) << q.describe_error();
        }
        EXPECT_EQ(count("a") + count("b"), 2);
    }
    {
        // A failure inside BEGIN ... COMMIT: COMMIT is not run, the block is left failed, and
        // ROLLBACK undoes the insert that had succeeded.
        std::vector<Statement> b;
        b.push_back(Statement{"", "BEGIN"});
        b.push_back(Statement{"tx_ins", insert, Params("c")});
        b.push_back(Statement{"tx_ins", insert, Params("a")});
        b.push_back(Statement{"", "COMMIT"});
        auto r = io.run(c->run(b, 5s));
        ASSERT_TRUE(r);
        EXPECT_TRUE((*r)[1].ok());
        EXPECT_TRUE((*r)[2].is_error(sqlstate::kUniqueViolation));
        EXPECT_TRUE((*r)[3].aborted());
        EXPECT_EQ(c->transaction_status(), TxStatus::in_error);
        EXPECT_TRUE(io.run(one(*c, "ROLLBACK")).ok());
        EXPECT_EQ(c->transaction_status(), TxStatus::idle);
        EXPECT_EQ(count("c"), 0);
    }
    {
        // Without BEGIN the batch is one implicit transaction: all or nothing.
        std::vector<Statement> b;
        b.push_back(Statement{"tx_ins", insert, Params("d")});
        b.push_back(Statement{"tx_ins", insert, Params("a")});
        auto r = io.run(c->run(b, 5s));
        ASSERT_TRUE(r);
        EXPECT_TRUE((*r)[0].ok());
        EXPECT_TRUE((*r)[1].is_error(sqlstate::kUniqueViolation));
        EXPECT_EQ(c->transaction_status(), TxStatus::idle);
        EXPECT_EQ(count("d"), 0);
    }
    {
        // A transaction spanning calls.
        EXPECT_TRUE(io.run(one(*c, "BEGIN")).ok());
        EXPECT_EQ(c->transaction_status(), TxStatus::in_transaction);
        EXPECT_TRUE(io.run(one(*c, insert, Params("e"), "tx_ins")).ok());
        EXPECT_TRUE(io.run(one(*c, "COMMIT")).ok());
        EXPECT_EQ(count("e"), 1);
    }
}

TEST(PgConnection, TimeoutClosesTheConnection) {
    IoThreads io;
    auto c = io.run(open_ok());
    const auto pid = c->backend_pid();
    const Statement sleep{"", "SELECT pg_sleep(5)"};
    const auto t0 = std::chrono::steady_clock::now();
    auto r = io.run(c->run_one(sleep, 200ms));
    const auto took = since(t0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, PgErrc::timeout);
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 2000ms);
    EXPECT_TRUE(c->broken());
    EXPECT_EQ(c->transaction_status(), TxStatus::unknown);
    auto again = io.run(c->run_one(Statement{"", "SELECT 1"}, 1s));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, PgErrc::broken);
    // The server notices the closed socket when pg_sleep ends at the latest; the backend is
    // gone within its 5 s.
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        gone = server().psql("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                             std::to_string(pid)) == "0";
        if (!gone) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_TRUE(gone);
}

TEST(PgConnection, CloseFailsTheCallInFlight) {
    IoThreads io;
    auto c = io.run(open_ok());
    const Statement sleep{"", "SELECT pg_sleep(3)"};  // must outlive the spawned call
    auto fut = asio::co_spawn(io.io(), c->run_one(sleep, 10s), asio::use_future);
    std::this_thread::sleep_for(100ms);
    const auto t0 = std::chrono::steady_clock::now();
    c->close();
    ASSERT_EQ(fut.wait_for(2s), std::future_status::ready);
    auto r = fut.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, PgErrc::closed);
    EXPECT_LT(since(t0), 1000ms);
    EXPECT_TRUE(c->broken());
}

TEST(PgConnection, CancellationClosesTheConnection) {
    using asio::experimental::awaitable_operators::operator||;
    IoThreads io;
    auto c = io.run(open_ok());
    const Statement sleep{"", "SELECT pg_sleep(5)"};
    auto raced = io.run([&]() -> Task<std::variant<PgResult<QueryResult>, std::monostate>> {
        co_return co_await (c->run_one(sleep, 10s) || sleep_for(100ms));
    }());
    EXPECT_EQ(raced.index(), 1u);
    // The cancelled call closed the connection on its way out.
    for (int i = 0; i < 50 && !c->broken(); ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(c->broken());
}

TEST(PgConnection, IdleCheckNoticesATerminatedBackend) {
    IoThreads io;
    auto c = io.run(open_ok());
    EXPECT_TRUE(c->check_idle());
    server().psql("SELECT pg_terminate_backend(" + std::to_string(c->backend_pid()) + ")");
    bool alive = true;
    for (int i = 0; i < 100 && alive; ++i) {
        alive = c->check_idle();
        if (alive) {
            std::this_thread::sleep_for(10ms);
        }
    }
    EXPECT_FALSE(alive);
    EXPECT_TRUE(c->broken());
}

}  // namespace
}  // namespace confidant::storage::pg
