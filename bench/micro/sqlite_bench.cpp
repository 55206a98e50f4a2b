// A chat turn's read right after another turn's write, on the real schema, with SQLite's
// mmap on and off. The server's reading connections see a changed database on nearly every
// read (exchanges are committed every few milliseconds), so this is the case that matters.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "storage/migrations/migration.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/sqlite/sqlite_migrator.hpp"

namespace {

using namespace confidant::storage::sqlite;

constexpr int kUsers = 200;
constexpr std::int64_t kDay = 1'764'460'800;  // a UTC midnight
const std::string kText = "How was your day? Tell me something kind, in a few more words.";

// The store's own statements (sqlite_store.cpp): an exchange insert, then a turn's reads.
void write_exchange(Connection& c, std::int64_t user, std::int64_t at) {
    Transaction tx(c);
    for (const char* role : {"user", "assistant"}) {
        c.prepare(
             "INSERT INTO chat_history (user_id, role, content, created_at) "
             "VALUES (?1, ?2, ?3, ?4)")
            .bind(1, user)
            .bind(2, role)
            .bind(3, kText)
            .bind(4, at)
            .exec();
    }
    tx.commit();
}

std::int64_t read_turn(Connection& c, std::int64_t user) {
    std::int64_t rows = 0;
    c.exec_script("BEGIN");
    {
        auto count = c.prepare(
            "SELECT COUNT(*) FROM chat_history "
            "WHERE user_id = ?1 AND role = 'user' AND created_at >= ?2");
        count.bind(1, user).bind(2, kDay);
        count.step();
        rows += count.column_int64(0);
        auto recent = c.prepare(
            "SELECT id, user_id, role, content, created_at FROM chat_history "
            "WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
        recent.bind(1, user).bind(2, INT64_MAX).bind(3, 21);
        while (recent.step()) {
            ++rows;
        }
    }
    c.exec_script("COMMIT");
    return rows;
}

// Arg 0: mmap_size in MiB (0 = off). Arg 1: writes before each read (0 = reads only).
// Arg 2: 1 = read on the writing connection itself (its page cache stays valid: nobody else
// writes), 0 = on a reading connection.
void BM_SqliteTurnReadAfterWrite(benchmark::State& state) {
    const auto mmap_bytes = static_cast<std::int64_t>(state.range(0)) << 20;
    const auto writes = state.range(1);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("confidant-sqlite-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "bench.db").string();
    {
        Connection writer({.path = path, .mmap_bytes = mmap_bytes, .cache_kib = 16 << 10});
        Connection reader({.path = path, .mmap_bytes = mmap_bytes});
        apply_migrations(writer, confidant::storage::sqlite_migrations(), kDay);
        for (int u = 1; u <= kUsers; ++u) {
            writer
                .prepare(
                    "INSERT INTO users (username, password_hash, created_at) "
                    "VALUES (?1, 'x', ?2)")
                .bind(1, "user" + std::to_string(u))
                .bind(2, kDay)
                .exec();
        }
        for (int i = 0; i < 20'000; ++i) {  // 40,000 messages: a few MiB, like a busy day
            write_exchange(writer, 1 + i % kUsers, kDay + i);
        }
        writer.exec_script("PRAGMA wal_checkpoint(TRUNCATE)");
        std::int64_t i = 0;
        std::int64_t rows = 0;
        for (auto _ : state) {
            state.PauseTiming();
            for (std::int64_t w = 0; w < writes; ++w) {
                write_exchange(writer, 1 + (i + w * 7) % kUsers, kDay + 20'000 + i);
            }
            state.ResumeTiming();
            rows += read_turn(state.range(2) != 0 ? writer : reader, 1 + i % kUsers);
            ++i;
        }
        benchmark::DoNotOptimize(rows);
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SqliteTurnReadAfterWrite)
    ->ArgNames({"mmap_mib", "writes", "on_writer"})
    ->Args({0, 0, 0})
    ->Args({256, 0, 0})
    ->Args({0, 1, 0})
    ->Args({256, 1, 0})
    ->Args({0, 1, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
