#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/blocking_pool.hpp"
#include "core/clock.hpp"
#include "storage/sqlite/sqlite_checkpointer.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/database.hpp"

namespace confidant::storage {

struct SqliteSettings {
    /// A file path (its parent directory is created when missing) or `:memory:`.
    std::string path;
    /// Threads of the store's BlockingPool; one connection each.
    std::size_t pool_threads = 4;
    std::chrono::milliseconds busy_timeout{5000};
    /// PRAGMA mmap_size of every connection (0: off, the default). Off because in WAL mode a
    /// connection that finds the database changed since its last read unmaps and maps the file
    /// again (munmap, TLB shootdowns, page faults): bench/sqlite.sh measured a read right after
    /// a write at about 3x the cost without mmap. Reads gain from it only when nothing writes.
    std::int64_t mmap_bytes = 0;
    /// Page cache of the writing connection (KiB); readers keep SQLite's default (2 MiB).
    int writer_cache_kib = 16 << 10;
    /// WAL size (pages) that triggers a background checkpoint; SQLite's own default is 1000.
    int checkpoint_pages = 1000;
};

/// The database path of a `sqlite://` URL: `sqlite:///abs/path` → `/abs/path`,
/// `sqlite://relative/path` → `relative/path`, `sqlite://:memory:` → `:memory:`.
/// SQLAlchemy's relative form `sqlite:///./x.db` (and `sqlite:///../x.db`) stays relative.
/// A query string (`?mode=...`) is not supported. Throws std::invalid_argument for another
/// scheme or an empty path.
std::string sqlite_path_from_url(std::string_view url);

/// The SQLite backend of Database.
///
/// Every call runs on a BlockingPool owned by the database, never on the awaiting thread; the
/// awaiting coroutine resumes on its own executor. Each pool thread borrows one of
/// `pool_threads` connections (WAL, synchronous=NORMAL, foreign_keys=ON, the busy timeout), so
/// reads run in parallel. Writes go through one more connection of their own, use
/// `BEGIN IMMEDIATE` and are serialised inside the process (a mutex) so that in-process writers
/// queue instead of sleeping in SQLite's busy handler; other processes on the same file are
/// handled by the busy timeout. A read-only transaction takes that writing connection when no
/// write holds it (its page cache is never invalidated by another connection's write), a
/// reading one otherwise.
///
/// Group commit: transactions that write queue up while a write is running, and the next
/// write commits every queued one (up to kMaxBatch) in one SQLite transaction, each inside a
/// savepoint of its own: an operation that throws rolls back only its own transaction (the
/// caller gets the exception), the others commit. A failed COMMIT fails them all, and nothing
/// of any of them is stored.
///
/// `:memory:` opens a single connection (and a single pool thread): every connection to a
/// plain in-memory database would see its own empty database, and shared-cache mode trades
/// the busy timeout for table-lock errors. Use a temporary file when concurrency matters.
///
/// Times: row times come from the operations (`AppendExchange::at`, ...); `applied_at` of a
/// migration comes from `clock`.
///
/// Checkpoints run on a thread of their own (sqlite::Checkpointer), never inside a commit.
///
/// Construction opens the connections (blocking; call it at start-up) and throws on failure.
/// Destruction waits for running calls. Thread-safe.
class SqliteDatabase final : public Database {
  public:
    explicit SqliteDatabase(SqliteSettings settings, const Clock& clock = Clock::real());
    SqliteDatabase(const SqliteDatabase&) = delete;
    SqliteDatabase& operator=(const SqliteDatabase&) = delete;
    ~SqliteDatabase() override;

    Task<int> migrate() override;
    Task<void> ping() override;
    Task<void> execute(Transaction& tx) override;

    /// Most transactions committed together.
    static constexpr std::size_t kMaxBatch = 256;

    /// SQLite transactions that wrote (fewer than the write transactions asked for when
    /// commits were grouped).
    long long write_commits() const noexcept { return write_commits_.load(); }
    /// Background WAL checkpoints run so far (0 for an in-memory database).
    long long checkpoints() const { return checkpointer_ ? checkpointer_->checkpoints() : 0; }

  private:
    class Lease;
    class WriteLease;
    WriteLease acquire_writer();
    struct PendingWrite;
    void enqueue_write(std::unique_ptr<PendingWrite> pending);
    void flush_writes();
    void write_batch(std::vector<std::unique_ptr<PendingWrite>>& batch);
    Lease acquire();
    void release(sqlite::Connection* connection);
    UnixSeconds now() const;

    SqliteSettings settings_;
    const Clock& clock_;
    // Declared before the connections: destroyed after them, so its hook never dangles.
    std::unique_ptr<sqlite::Checkpointer> checkpointer_;
    std::vector<std::unique_ptr<sqlite::Connection>> connections_;
    std::mutex pool_mutex_;
    std::condition_variable pool_cv_;
    std::vector<sqlite::Connection*> idle_;
    std::mutex write_mutex_;
    sqlite::Connection* writer_ = nullptr;  // one of connections_, used under write_mutex_
    bool reads_on_writer_ = false;          // reads may use writer_ when it is free
    std::mutex batch_mutex_;
    std::vector<std::unique_ptr<PendingWrite>> pending_;  // guarded by batch_mutex_
    bool flushing_ = false;                               // guarded by batch_mutex_
    std::atomic<long long> write_commits_{0};
    /// (device, inode) of the database file when opened; ping() checks it is still there.
    std::optional<std::pair<dev_t, ino_t>> file_id_;
    // Declared last: destroyed (joined) first, while the connections still exist.
    BlockingPool pool_;
};

}  // namespace confidant::storage
