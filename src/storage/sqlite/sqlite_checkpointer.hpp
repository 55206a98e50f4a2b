#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "storage/sqlite/sqlite_connection.hpp"

namespace confidant::storage::sqlite {

/// Checkpoints the WAL on a thread of its own, so that no commit ever waits for one.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past 1000 pages,
/// with the write lock held: it copies the pages back into the database file and fsyncs it,
/// and every writer queued behind that commit waits (tens to hundreds of milliseconds under
/// load). `watch(connection)` replaces that hook on a connection: a commit only notes the WAL's
/// size, and once it reaches `threshold_pages` this thread runs a PASSIVE checkpoint on its own
/// connection, which never blocks writers or readers. The WAL starts over from its beginning at
/// the first write after a checkpoint that caught up with it.
///
/// Destruction stops the thread (a running checkpoint finishes first). Thread-safe.
class Checkpointer {
  public:
    Checkpointer(const ConnectionOptions& options, int threshold_pages = 1000);
    Checkpointer(const Checkpointer&) = delete;
    Checkpointer& operator=(const Checkpointer&) = delete;
    ~Checkpointer();

    /// Turns off `connection`'s automatic checkpoints and reports its commits to this object.
    void watch(Connection& connection);

    /// Checkpoints run so far (for tests and metrics).
    long long checkpoints() const;

  private:
    static int on_commit(void* self, struct sqlite3* db, const char* name, int wal_pages);
    void run();

    std::unique_ptr<Connection> connection_;
    int threshold_pages_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool due_ = false;
    bool stopping_ = false;
    long long checkpoints_ = 0;
    std::thread thread_;  // last: started once everything above exists
};

}  // namespace confidant::storage::sqlite
