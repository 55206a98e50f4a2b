#include "storage/sqlite/sqlite_store.hpp"

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

// A raw connection of the test's own, to look behind the Store interface.
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

TEST(SqliteStore, CreatesParentDirectoriesAndUsesWal) {
    TempDir dir;
    const auto path = dir.path() / "a" / "b" / "store.db";
    {
        SqliteStore store(SqliteSettings{.path = path.string(), .pool_threads = 2});
        EXPECT_EQ(run_task(store.migrate()), kLatest);
    }
    EXPECT_TRUE(std::filesystem::exists(path));
    Raw raw(path);
    EXPECT_EQ(raw.rows("PRAGMA journal_mode")[0][0], "wal");
}

TEST(SqliteStore, RecordsMigrationsWithClockTime) {
    TempDir dir;
    const auto path = dir.path() / "store.db";
    ManualClock clock;
    {
        SqliteStore store(SqliteSettings{.path = path.string()}, clock);
        EXPECT_EQ(run_task(store.migrate()), kLatest);
        clock.advance(std::chrono::hours(1));
        EXPECT_EQ(run_task(store.migrate()), kLatest);
    }
    Raw raw(path);
    const auto rows =
        raw.rows("SELECT version, name, applied_at FROM schema_migrations ORDER BY 1");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "users_and_chat_history", "1800000000"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "idempotency_keys", "1800000000"}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "chat_history_quota_index", "1800000000"}));
    const auto tables = raw.rows(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name");
    EXPECT_EQ(tables,
              (std::vector<std::vector<std::string>>{
                  {"chat_history"}, {"idempotency_keys"}, {"schema_migrations"}, {"users"}}));
}

TEST(SqliteStore, MigratesStepByStepFromAnOlderVersion) {
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
    SqliteStore store(SqliteSettings{.path = path.string()}, clock);
    EXPECT_EQ(run_task(store.migrate()), kLatest);
    EXPECT_TRUE(run_task(store.find_user_by_name("old")).has_value());
    Raw raw(path);
    EXPECT_EQ(raw.rows("SELECT applied_at FROM schema_migrations WHERE version = 2")[0][0],
              std::to_string(kT0 + 60));
}

TEST(SqliteStore, RejectsMisnumberedMigrations) {
    TempDir dir;
    sqlite::Connection connection(
        sqlite::ConnectionOptions{.path = (dir.path() / "x.db").string()});
    const Migration bad[] = {{1, "one", "CREATE TABLE t1 (x INTEGER)"},
                             {3, "three", "CREATE TABLE t3 (x INTEGER)"}};
    EXPECT_THROW(sqlite::apply_migrations(connection, bad, kT0), std::logic_error);
}

TEST(SqliteStore, FailedMigrationRollsBackAndKeepsVersion) {
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

TEST(SqliteStore, ConcurrentMigrationsApplyEachStepOnce) {
    TempDir dir;
    for (int round = 0; round < 3; ++round) {
        const auto file = dir.path() / ("store" + std::to_string(round) + ".db");
        SqliteStore a(SqliteSettings{.path = file.string(), .pool_threads = 1});
        SqliteStore b(SqliteSettings{.path = file.string(), .pool_threads = 1});
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

TEST(SqliteStore, CreatedAtComesFromTheClock) {
    TempDir dir;
    ManualClock clock;
    SqliteStore store(SqliteSettings{.path = (dir.path() / "s.db").string()}, clock);
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->created_at, kT0);
    clock.advance(std::chrono::seconds(42));
    auto v = run_task(store.create_user(NewUser{.username = "bob", .password_hash = "h"}));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->created_at, kT0 + 42);
}

TEST(SqliteStore, InMemoryDatabaseWorks) {
    SqliteStore store(
        SqliteSettings{.path = sqlite_path_from_url("sqlite://:memory:"), .pool_threads = 4});
    EXPECT_EQ(run_task(store.migrate()), kLatest);
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    run_task(store.append_exchange(
        Exchange{.user_id = u->id, .user_text = "a", .reply_text = "b", .at = kT0}));
    EXPECT_EQ(run_task(store.history(u->id, 10, std::nullopt)).messages.size(), 2u);
    EXPECT_TRUE(run_task(store.find_user_by_name("alice")).has_value());
}

TEST(SqliteStore, AppendForUnknownUserThrowsAndStoresNothing) {
    TempDir dir;
    const auto path = dir.path() / "s.db";
    SqliteStore store(SqliteSettings{.path = path.string()});
    run_task(store.migrate());
    EXPECT_THROW(run_task(store.append_exchange(
                     Exchange{.user_id = 999, .user_text = "a", .reply_text = "b", .at = kT0})),
                 sqlite::SqliteError);
    Raw raw(path);
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0], "0");
}

TEST(SqliteStore, IdempotencyKeyWithoutRendererIsRejected) {
    SqliteStore store(SqliteSettings{.path = ":memory:"});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    EXPECT_THROW(run_task(store.append_exchange(Exchange{.user_id = u->id,
                                                         .user_text = "a",
                                                         .reply_text = "b",
                                                         .at = kT0,
                                                         .idempotency_key = "k"})),
                 std::invalid_argument);
    EXPECT_TRUE(run_task(store.history(u->id, 10, std::nullopt)).messages.empty());
}

TEST(SqliteStore, RetentionDeletesInBatchesAndPurgesOldIdempotencyKeys) {
    TempDir dir;
    const auto path = dir.path() / "s.db";
    SqliteStore store(SqliteSettings{.path = path.string()});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    // More than two batches of old messages, and one recent exchange.
    const int old_exchanges = static_cast<int>(SqliteStore::kRetentionBatch) + 100;
    run_task([&]() -> Task<void> {
        for (int i = 0; i < old_exchanges; ++i) {
            // A named local: GCC 12 destroys aggregate temporaries in a co_await operand twice.
            Exchange ex{
                .user_id = u->id,
                .user_text = "q",
                .reply_text = "r",
                .at = kT0 + i % 10,
                .idempotency_key = "old-" + std::to_string(i),
                .make_response = [](const Message&, const Message&) { return std::string("x"); }};
            co_await store.append_exchange(std::move(ex));
        }
    }());
    auto [q, r] = run_task(store.append_exchange(Exchange{
        .user_id = u->id,
        .user_text = "recent",
        .reply_text = "recent",
        .at = kT0 + 1000,
        .idempotency_key = "new",
        .make_response = [](const Message&, const Message&) { return std::string("y"); }}));

    EXPECT_EQ(run_task(store.delete_messages_before(kT0 + 500)), 2 * old_exchanges);
    const HistoryPage page = run_task(store.history(u->id, 10, std::nullopt));
    ASSERT_EQ(page.messages.size(), 2u);
    EXPECT_EQ(page.messages[0].id, q.id);
    EXPECT_FALSE(page.has_more);
    EXPECT_EQ(run_task(store.find_idempotent_response(u->id, "new", 0)), "y");
    EXPECT_FALSE(run_task(store.find_idempotent_response(u->id, "old-0", 0)).has_value());
    Raw raw(path);
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM idempotency_keys")[0][0], "1");
}

TEST(SqliteStore, WorkRunsOnThePoolAndResumesOnTheCaller) {
    SqliteStore store(SqliteSettings{.path = ":memory:"});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    const auto caller = std::this_thread::get_id();
    std::thread::id store_thread;
    std::thread::id resumed_on;
    run_task([&]() -> Task<void> {
        Exchange ex{.user_id = u->id,
                    .user_text = "a",
                    .reply_text = "b",
                    .at = kT0,
                    .idempotency_key = "k",
                    .make_response = [&](const Message&, const Message&) {
                        store_thread = std::this_thread::get_id();
                        return std::string("r");
                    }};
        co_await store.append_exchange(std::move(ex));
        resumed_on = std::this_thread::get_id();
    }());
    EXPECT_NE(store_thread, std::thread::id{});
    EXPECT_NE(store_thread, caller);
    EXPECT_EQ(resumed_on, caller);
}

// `prefix + std::to_string(i)`, spelled so that GCC 12's -Wrestrict false positive stays quiet.
std::string numbered(std::string prefix, int i) {
    prefix += std::to_string(i);
    return prefix;
}

// Appends started while another connection holds the write lock queue up behind the first
// one and are committed together once the lock is free: far fewer transactions than exchanges.
TEST(SqliteStore, QueuedExchangesShareOneCommit) {
    TempDir dir;
    const auto path = dir.path() / "g.db";
    SqliteStore store(SqliteSettings{.path = path.string()});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    const long long before = store.exchange_transactions();

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    constexpr int kCount = 40;
    boost::asio::io_context ctx;
    std::vector<std::future<std::pair<Message, Message>>> results;
    for (int i = 0; i < kCount; ++i) {
        results.push_back(
            boost::asio::co_spawn(ctx,
                                  store.append_exchange(Exchange{.user_id = u->id,
                                                                 .user_text = numbered("q", i),
                                                                 .reply_text = numbered("a", i),
                                                                 .at = kT0 + i}),
                                  boost::asio::use_future));
    }
    std::thread runner([&ctx] { ctx.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    raw.exec("COMMIT");
    runner.join();

    std::set<MessageId> ids;
    for (int i = 0; i < kCount; ++i) {
        auto [q, a] = results[static_cast<std::size_t>(i)].get();
        EXPECT_EQ(q.content, numbered("q", i));
        EXPECT_EQ(a.content, numbered("a", i));
        EXPECT_EQ(q.created_at, kT0 + i);
        ids.insert(q.id);
        ids.insert(a.id);
    }
    EXPECT_EQ(ids.size(), 2u * kCount);
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0], std::to_string(2 * kCount));
    // One last_active_at update per user and batch, with the batch's newest time.
    EXPECT_EQ(raw.rows("SELECT last_active_at FROM users")[0][0], std::to_string(kT0 + kCount - 1));
    // The first exchange may have gone alone; everything queued behind it went in one more.
    EXPECT_LE(store.exchange_transactions() - before, 2);
}

// Reads use the writing connection when it is free and a reading connection when it is busy:
// a write stuck behind another process's lock holds up no read, and every read sees what was
// committed before it, whichever connection served it.
TEST(SqliteStore, ReadsDoNotWaitForABusyWriter) {
    TempDir dir;
    const auto path = dir.path() / "r.db";
    SqliteStore store(SqliteSettings{.path = path.string(), .pool_threads = 2});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    run_task(store.append_exchange(
        Exchange{.user_id = u->id, .user_text = "q0", .reply_text = "a0", .at = kT0}));
    EXPECT_EQ(run_task(store.history(u->id, 10, std::nullopt)).messages.size(), 2u);

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    boost::asio::io_context ctx;
    auto pending = boost::asio::co_spawn(
        ctx,
        store.append_exchange(
            Exchange{.user_id = u->id, .user_text = "q1", .reply_text = "a1", .at = kT0 + 1}),
        boost::asio::use_future);
    std::thread runner([&ctx] { ctx.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the writer is now waiting

    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        auto turn = run_task(store.turn_context(u->id, kT0, 10));
        EXPECT_EQ(turn.sent_since, 1);
        ASSERT_EQ(turn.recent.size(), 2u);
        EXPECT_EQ(turn.recent[0].content, "q0");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
    EXPECT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

    raw.exec("COMMIT");
    runner.join();
    EXPECT_EQ(pending.get().first.content, "q1");
    for (int i = 0; i < 5; ++i) {
        auto turn = run_task(store.turn_context(u->id, kT0, 10));
        EXPECT_EQ(turn.sent_since, 2);
        ASSERT_EQ(turn.recent.size(), 4u);
        EXPECT_EQ(turn.recent[3].content, "a1");
    }
}

// One bad exchange in a shared commit fails alone: the others are written, it is not.
TEST(SqliteStore, AFailingExchangeDoesNotFailItsBatch) {
    TempDir dir;
    const auto path = dir.path() / "f.db";
    SqliteStore store(SqliteSettings{.path = path.string()});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());

    Raw raw(path);
    raw.exec("BEGIN IMMEDIATE");
    constexpr int kCount = 20;
    constexpr int kBad = 13;
    boost::asio::io_context ctx;
    std::vector<std::future<std::pair<Message, Message>>> results;
    for (int i = 0; i < kCount; ++i) {
        results.push_back(boost::asio::co_spawn(
            ctx,
            store.append_exchange(Exchange{.user_id = i == kBad ? UserId{999} : u->id,
                                           .user_text = numbered("q", i),
                                           .reply_text = "a",
                                           .at = kT0}),
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
            EXPECT_EQ(result.get().first.content, numbered("q", i));
        }
    }
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history")[0][0],
              std::to_string(2 * (kCount - 1)));
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history WHERE content = 'q13'")[0][0], "0");
    EXPECT_EQ(raw.rows("SELECT COUNT(*) FROM chat_history WHERE user_id = 999")[0][0], "0");
}

// Commits never checkpoint; the background checkpointer copies the WAL into the database file
// once the WAL passes the threshold.
TEST(SqliteStore, CheckpointsRunInTheBackground) {
    TempDir dir;
    const auto path = dir.path() / "c.db";
    SqliteStore store(SqliteSettings{.path = path.string(), .checkpoint_pages = 8});
    run_task(store.migrate());
    auto u = run_task(store.create_user(NewUser{.username = "alice", .password_hash = "h"}));
    ASSERT_TRUE(u.has_value());
    const auto size_before = std::filesystem::file_size(path);
    const std::string text(2000, 'x');
    for (int i = 0; i < 40; ++i) {
        run_task(store.append_exchange(
            Exchange{.user_id = u->id, .user_text = text, .reply_text = text, .at = kT0}));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (store.checkpoints() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(store.checkpoints(), 1);
    // 160 KB of text went through the WAL; the checkpoint moved it into the main file.
    EXPECT_GT(std::filesystem::file_size(path), size_before + 100'000);
}

}  // namespace
}  // namespace confidant::storage
