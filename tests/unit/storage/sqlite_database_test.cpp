#include "storage/sqlite/sqlite_database.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "storage/migrations/migration.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_migrator.hpp"
#include "temp_dir.hpp"

namespace confidant::storage {
namespace {

using test_util::TempDir;

constexpr UnixSeconds kT0 = 1'800'000'000;

template <class T>
T run_task(Task<T> task) {
    boost::asio::io_context ctx;
    auto future = boost::asio::co_spawn(ctx, std::move(task), boost::asio::use_future);
    ctx.run();
    return future.get();
}

// A raw connection of the test's own, to look behind the Database interface.
class Raw {
  public:
    explicit Raw(const std::filesystem::path& path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
            throw std::runtime_error("open failed");
        }
    }
    ~Raw() { sqlite3_close_v2(db_); }
    std::vector<std::vector<std::string>> rows(const char* sql) {
        std::vector<std::vector<std::string>> out;
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sqlite3_errmsg(db_));
        }
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            std::vector<std::string> row;
            for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
                const auto* text = sqlite3_column_text(stmt, i);
                row.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
            }
            out.push_back(std::move(row));
        }
        sqlite3_finalize(stmt);
        return out;
    }

    void exec(const char* sql) {
        if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sqlite3_errmsg(db_));
        }
    }

  private:
    sqlite3* db_ = nullptr;
};

template <class Op>
typename Op::Result run(Database& db, Op op) {
    return run_task(db.run(op));
}

User create_user(Database& db, std::string name, UnixSeconds at = kT0) {
    auto u = run(db, ops::CreateUser{NewUser{.username = std::move(name), .password_hash = "h"}, at});
    if (!u) {
        throw std::runtime_error("create_user failed");
    }
    return *u;
}

// A write started from plain code: the operation is a named value by the time it reaches the
// coroutine (see Database::run).
Task<StoredExchange> append(Database& db, ops::AppendExchange op) { return db.run(op); }

ops::AppendExchange exchange(UserId user, std::string q, std::string a, UnixSeconds at,
                             std::optional<std::string> key = std::nullopt) {
    return ops::AppendExchange{.user_id = user,
                               .user_text = std::move(q),
                               .reply_text = std::move(a),
                               .at = at,
                               .idempotency_key = std::move(key),
                               .model = "m"};
}

// The newest schema version; migrate() returns it.
const int kLatest = sqlite_migrations().back().version;

TEST(SqlitePathFromUrl, ParsesTheDocumentedForms) {
    EXPECT_EQ(sqlite_path_from_url("sqlite:///var/lib/confidant/db.sqlite"),
              "/var/lib/confidant/db.sqlite");
    EXPECT_EQ(sqlite_path_from_url("sqlite://data/confidant.db"), "data/confidant.db");
    EXPECT_EQ(sqlite_path_from_url("sqlite://:memory:"), ":memory:");
    EXPECT_EQ(sqlite_path_from_url("sqlite:///:memory:"), ":memory:");
    EXPECT_EQ(sqlite_path_from_url("sqlite:///./confidant.db"), "./confidant.db");
    EXPECT_EQ(sqlite_path_from_url("sqlite:///../confidant.db"), "../confidant.db");
}

TEST(SqlitePathFromUrl, RejectsOtherSchemesAndEmptyPaths) {
    EXPECT_THROW(sqlite_path_from_url("postgresql://localhost/db"), std::invalid_argument);
    EXPECT_THROW(sqlite_path_from_url("sqlite:/x.db"), std::invalid_argument);
    EXPECT_THROW(sqlite_path_from_url("sqlite://"), std::invalid_argument);
    EXPECT_THROW(sqlite_path_from_url("sqlite:///"), std::invalid_argument);
    EXPECT_THROW(sqlite_path_from_url("sqlite://x.db?mode=ro"), std::invalid_argument);
    EXPECT_THROW(sqlite_path_from_url(""), std::invalid_argument);
}

TEST(SqliteDatabase, CreatesParentDirectoriesAndUsesWal) {
    TempDir dir;
    const auto path = dir.path() / "a" / "b" / "store.db";
    {
        SqliteDatabase db(SqliteSettings{.path = path.string(), .pool_threads = 2});
        EXPECT_EQ(run_task(db.migrate()), kLatest);
    }
    EXPECT_TRUE(std::filesystem::exists(path));
    Raw raw(path);
    EXPECT_EQ(raw.rows("PRAGMA journal_mode")[0][0], "wal");
}

TEST(SqliteDatabase, RecordsMigrationsWithClockTime) {
    TempDir dir;
    const auto path = dir.path() / "store.db";
    ManualClock clock;
    {
        SqliteDatabase db(SqliteSettings{.path = path.string()}, clock);
        EXPECT_EQ(run_task(db.migrate()), kLatest);
        clock.advance(std::chrono::hours(1));
        EXPECT_EQ(run_task(db.migrate()), kLatest);
    }
    Raw raw(path);
    const auto rows =
        raw.rows("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1");
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(kLatest));
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "users_and_chat_history", "1800000000"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "idempotency_keys", "1800000000"}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "chat_history_quota_index", "1800000000"}));
    EXPECT_EQ(rows[3], (std::vector<std::string>{"4", "usage_counters_and_idempotency_reservations",
                                                 "1800000000"}));
    EXPECT_EQ(rows[4], (std::vector<std::string>{"5", "jobs_and_audio", "1800000000"}));
    const auto tables = raw.rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name");
    EXPECT_EQ(tables, (std::vector<std::vector<std::string>>{{"audio"},
                                                             {"chat_history"},
                                                             {"idempotency_keys"},
                                                             {"jobs"},
                                                             {"schema_migrations"},
                                                             {"usage_daily"},
                                                             {"users"}}));
}

TEST(SqliteDatabase, MigratesStepByStepFromAnOlderVersion) {
    TempDir dir;
    const auto path = dir.path() / "store.db";
    {
        sqlite::Connection connection(sqlite::ConnectionOptions{.path = path.string()});
        EXPECT_EQ(sqlite::current_schema_version(connection), 0);
        EXPECT_EQ(sqlite::apply_migrations(connection, sqlite_migrations().first(1), kT0), 1);
        EXPECT_EQ(sqlite::current_schema_version(connection), 1);
        connection.exec_script(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('old', 'h', 1)");
    }
    ManualClock clock;
    clock.advance(std::chrono::seconds(60));
    SqliteDatabase db(SqliteSettings{.path = path.string()}, clock);
    EXPECT_EQ(run_task(db.migrate()), kLatest);
    EXPECT_TRUE(run(db, ops::FindUserByName{"old"}).has_value());
    Raw raw(path);
    EXPECT_EQ(raw.rows("SELECT applied_at FROM schema_migrations WHERE version = 2")[0][0],
              std::to_string(kT0 + 60));
}

TEST(SqliteDatabase, RejectsMisnumberedMigrations) {
    TempDir dir;
    sqlite::Connection connection(
        sqlite::ConnectionOptions{.path = (dir.path() / "x.db").string()});
    const Migration bad[] = {{1, "one", "CREATE TABLE t1 (x INTEGER)"},
                             {3, "three", "CREATE TABLE t3 (x INTEGER)"}};
    EXPECT_THROW(sqlite::apply_migrations(connection, bad, kT0), std::logic_error);
}

TEST(SqliteDatabase, FailedMigrationRollsBackAndKeepsVersion) {
    TempDir dir;
    sqlite::Connection connection(
        sqlite::ConnectionOptions{.path = (dir.path() / "x.db").string()});
    const Migration steps[] = {{1, "one", "CREATE TABLE t1 (x INTEGER)"},
                               {2, "broken", "CREATE TABLE t2 (x INTEGER); SELEC nonsense"}};
    EXPECT_THROW(sqlite::apply_migrations(connection, steps, kT0), sqlite::SqliteError);
    EXPECT_EQ(sqlite::current_schema_version(connection), 1);
    EXPECT_FALSE(connection.in_transaction());
    // t2 was created inside the failed step's transaction and rolled back with it.
    auto check = connection.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 't2'");
    ASSERT_TRUE(check.step());
    EXPECT_EQ(check.column_int64(0), 0);
}

TEST(SqliteDatabase, ConcurrentMigrationsApplyEachStepOnce) {
    TempDir dir;
    for (int round = 0; round < 3; ++round) {
        const auto file = dir.path() / ("store" + std::to_string(round) + ".db");
        SqliteDatabase a(SqliteSettings{.path = file.string(), .pool_threads = 1});
        SqliteDatabase b(SqliteSettings{.path = file.string(), .pool_threads = 1});
        int va = 0;
        int vb = 0;
        std::thread ta([&] { va = run_task(a.migrate()); });
        std::thread tb([&] { vb = run_task(b.migrate()); });
        ta.join();
        tb.join();
        EXPECT_EQ(va, kLatest);
        EXPECT_EQ(vb, kLatest);
        Raw raw(file);
        EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM schema_migrations")[0][0],
                  std::to_string(kLatest));
    }
}

TEST(SqliteDatabase, InMemoryDatabaseWorks) {
    SqliteDatabase db(
        SqliteSettings{.path = sqlite_path_from_url("sqlite://:memory:"), .pool_threads = 4});
    EXPECT_EQ(run_task(db.migrate()), kLatest);
    const User u = create_user(db, "alice");
    run(db, exchange(u.id, "a", "b", kT0));
    EXPECT_EQ(run(db, ops::History{u.id, 10, std::nullopt}).messages.size(), 2u);
    EXPECT_TRUE(run(db, ops::FindUserByName{"alice"}).has_value());
}

TEST(SqliteDatabase, AppendForUnknownUserThrowsAndStoresNothing) {
    TempDir dir;
    const auto path = dir.path() / "s.db";
    SqliteDatabase db(SqliteSettings{.path = path.string()});
    run_task(db.migrate());
    EXPECT_THROW(run(db, exchange(999, "a", "b", kT0)), sqlite::SqliteError);
    Raw raw(path);
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0], "0");
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM usage_daily")[0][0], "0");
}

// Version 4 counts usage in usage_daily: an older database is seeded from its history, and
// the replay records (which held rendered answers) start empty.
TEST(SqliteDatabase, MigrationToUsageCountersSeedsTodaysCount) {
    TempDir dir;
    const auto path = dir.path() / "old.db";
    {
        sqlite::Connection c(sqlite::ConnectionOptions{.path = path.string()});
        sqlite::apply_migrations(c, sqlite_migrations().first(3), kT0);
        c.exec_script(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (7, 'a', 'h', 0);"
            "INSERT INTO chat_history (user_id, role, content, created_at) VALUES "
            "(7, 'user', 'q1', 1800000000), (7, 'assistant', 'r1', 1800000000), "
            "(7, 'user', 'q2', 1800000100), (7, 'user', 'old', 1700000000);"
            "INSERT INTO idempotency_keys (user_id, key, response, created_at) "
            "VALUES (7, 'k', '{}', 1800000000);");
    }
    SqliteDatabase db(SqliteSettings{.path = path.string()});
    EXPECT_EQ(run_task(db.migrate()), kLatest);
    EXPECT_EQ(run(db, ops::UsageOn{7, utc_day(kT0)}), 2);
    EXPECT_EQ(run(db, ops::UsageOn{7, utc_day(1'700'000'000)}), 1);
    EXPECT_EQ(run(db, ops::ReserveIdempotencyKey{7, "k", kT0, kT0 + 180, kT0 - 86400}).state,
              IdempotencyReservation::State::reserved);
}

TEST(SqliteDatabase, RetentionDeletesInBatchesOldestFirst) {
    TempDir dir;
    const auto path = dir.path() / "s.db";
    SqliteDatabase db(SqliteSettings{.path = path.string()});
    run_task(db.migrate());
    const User u = create_user(db, "alice");
    run_task([&]() -> Task<void> {
        for (int i = 0; i < 50; ++i) {
            // A named local: GCC 12 destroys aggregate temporaries in a co_await operand twice.
            auto ex = exchange(u.id, "q", "r", kT0 + i);
            co_await db.run(ex);
        }
    }());
    // A batch takes the oldest rows first, never more than asked.
    EXPECT_EQ(run(db, ops::PurgeMessagesBefore{kT0 + 40, 30}), 30);
    const HistoryPage page = run(db, ops::History{u.id, 200, std::nullopt});
    ASSERT_EQ(page.messages.size(), 70u);
    EXPECT_EQ(page.messages.front().created_at, kT0 + 15);
    EXPECT_EQ(run(db, ops::PurgeMessagesBefore{kT0 + 40, 1000}), 50);
    EXPECT_EQ(run(db, ops::PurgeMessagesBefore{kT0 + 40, 1000}), 0);
    EXPECT_EQ(run(db, ops::History{u.id, 200, std::nullopt}).messages.size(), 20u);
}

TEST(SqliteDatabase, WorkRunsOnThePoolAndResumesOnTheCaller) {
    SqliteDatabase db(SqliteSettings{.path = ":memory:"});
    run_task(db.migrate());
    const User u = create_user(db, "alice");
    const auto caller = std::this_thread::get_id();
    std::thread::id resumed_on;
    // Holding the only connection's pool thread busy shows where the work runs: a read queued
    // behind it completes only when the pool thread is free, on the pool, and resumes here.
    run_task([&]() -> Task<void> {
        auto ex = exchange(u.id, "a", "b", kT0);
        co_await db.run(ex);
        resumed_on = std::this_thread::get_id();
    }());
    EXPECT_EQ(resumed_on, caller);
}

// `prefix + std::to_string(i)`, spelled so that GCC 12's -Wrestrict false positive stays quiet.
std::string numbered(std::string prefix, int i) {
    prefix += std::to_string(i);
    return prefix;
}

// Appends started while another connection holds the write lock queue up behind the first
// one and are committed together once the lock is free: far fewer transactions than exchanges.
TEST(SqliteDatabase, QueuedExchangesShareOneCommit) {
    TempDir dir;
    const auto path = dir.path() / "g.db";
    SqliteDatabase db(SqliteSettings{.path = path.string()});
    run_task(db.migrate());
    const User u = create_user(db, "alice");
    const long long before = db.write_commits();

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    constexpr int kCount = 40;
    boost::asio::io_context ctx;
    std::vector<std::future<StoredExchange>> results;
    for (int i = 0; i < kCount; ++i) {
        results.push_back(boost::asio::co_spawn(
            ctx, append(db, exchange(u.id, numbered("q", i), numbered("a", i), kT0 + i)),
            boost::asio::use_future));
    }
    std::thread runner([&ctx] { ctx.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    raw.exec("COMMIT");
    runner.join();

    std::set<MessageId> ids;
    for (int i = 0; i < kCount; ++i) {
        auto [q, a] = results[static_cast<std::size_t>(i)].get();
        EXPECT_LT(q.id, a.id);
        EXPECT_EQ(q.content, numbered("q", i));
        EXPECT_EQ(a.content, numbered("a", i));
        EXPECT_EQ(q.created_at, kT0 + i);
        ids.insert(q.id);
        ids.insert(a.id);
    }
    EXPECT_EQ(ids.size(), 2u * kCount);
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0], std::to_string(2 * kCount));
    EXPECT_EQ(raw.rows("SELECT last_active_at FROM users")[0][0], std::to_string(kT0 + kCount - 1));
    EXPECT_EQ(raw.rows("SELECT messages FROM usage_daily")[0][0], std::to_string(kCount));
    // The first exchange may have gone alone; everything queued behind it went in one more.
    EXPECT_LE(db.write_commits() - before, 2);
}

// Reads use the writing connection when it is free and a reading connection when it is busy:
// a write stuck behind another process's lock holds up no read, and every read sees what was
// committed before it, whichever connection served it.
TEST(SqliteDatabase, ReadsDoNotWaitForABusyWriter) {
    TempDir dir;
    const auto path = dir.path() / "r.db";
    SqliteDatabase db(SqliteSettings{.path = path.string(), .pool_threads = 2});
    run_task(db.migrate());
    const User u = create_user(db, "alice");
    run(db, exchange(u.id, "q0", "a0", kT0));
    EXPECT_EQ(run(db, ops::History{u.id, 10, std::nullopt}).messages.size(), 2u);

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    boost::asio::io_context ctx;
    auto pending =
        boost::asio::co_spawn(ctx, append(db, exchange(u.id, "q1", "a1", kT0 + 1)), boost::asio::use_future);
    std::thread runner([&ctx] { ctx.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the writer is now waiting

    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto turn = run(db, ops::LoadTurnContext{u.id, utc_day(kT0), 10});
        EXPECT_EQ(turn.used_today, 1);
        ASSERT_EQ(turn.recent.size(), 2u);
        EXPECT_EQ(turn.recent[0].content, "q0");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
    EXPECT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

    raw.exec("COMMIT");
    runner.join();
    EXPECT_EQ(pending.get().message.content, "q1");
    for (int i = 0; i < 5; ++i) {
        auto turn = run(db, ops::LoadTurnContext{u.id, utc_day(kT0), 10});
        EXPECT_EQ(turn.used_today, 2);
        ASSERT_EQ(turn.recent.size(), 4u);
        EXPECT_EQ(turn.recent[3].content, "a1");
    }
}

// One bad exchange in a shared commit fails alone: the others are written, it is not.
TEST(SqliteDatabase, AFailingExchangeDoesNotFailItsBatch) {
    TempDir dir;
    const auto path = dir.path() / "f.db";
    SqliteDatabase db(SqliteSettings{.path = path.string()});
    run_task(db.migrate());
    const User u = create_user(db, "alice");

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    constexpr int kCount = 20;
    constexpr int kBad = 13;
    boost::asio::io_context ctx;
    std::vector<std::future<StoredExchange>> results;
    for (int i = 0; i < kCount; ++i) {
        results.push_back(boost::asio::co_spawn(
            ctx, append(db, exchange(i == kBad ? UserId{999} : u.id, numbered("q", i), "a", kT0)),
            boost::asio::use_future));
    }
    std::thread runner([&ctx] { ctx.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    raw.exec("COMMIT");
    runner.join();

    for (int i = 0; i < kCount; ++i) {
        auto& result = results[static_cast<std::size_t>(i)];
        if (i == kBad) {
            EXPECT_THROW(result.get(), sqlite::SqliteError);
        } else {
            EXPECT_EQ(result.get().message.content, numbered("q", i));
        }
    }
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0],
              std::to_string(2 * (kCount - 1)));
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history WHERE content = 'q13'")[0][0], "0");
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history WHERE user_id = 999")[0][0], "0");
    EXPECT_EQ(raw.rows("SELECT messages FROM usage_daily")[0][0], std::to_string(kCount - 1));
}

// Commits never checkpoint; the background checkpointer copies the WAL into the database file
// once the WAL passes the threshold.
TEST(SqliteDatabase, CheckpointsRunInTheBackground) {
    TempDir dir;
    const auto path = dir.path() / "c.db";
    SqliteDatabase db(SqliteSettings{.path = path.string(), .checkpoint_pages = 8});
    run_task(db.migrate());
    const User u = create_user(db, "alice");
    const auto size_before = std::filesystem::file_size(path);
    const std::string text(2000, 'x');
    for (int i = 0; i < 40; ++i) {
        run(db, exchange(u.id, text, text, kT0));
    }
    // 160 KB of text went through the WAL; checkpoints (each after 8 pages) move it into the
    // main file in the background, so wait for them rather than for the first one.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::filesystem::file_size(path) <= size_before + 100'000 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(db.checkpoints(), 1);
    EXPECT_GT(std::filesystem::file_size(path), size_before + 100'000);
}

}  // namespace
}  // namespace confidant::storage
