#include "storage/sqlite/sqlite_checkpointer.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace confidant::storage::sqlite {

Checkpointer::Checkpointer(const ConnectionOptions& options, int threshold_pages)
    : connection_(std::make_unique<Connection>(options)),
      threshold_pages_(threshold_pages > 0 ? threshold_pages : 1000),
      thread_([this] { run(); }) {}

Checkpointer::~Checkpointer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void Checkpointer::watch(Connection& connection) {
    sqlite3_wal_hook(connection.handle(), &Checkpointer::on_commit, this);
}

long long Checkpointer::checkpoints() const {
    std::lock_guard lock(mutex_);
    return checkpoints_;
}

// Runs on the committing thread after every commit, with the WAL's size in pages.
int Checkpointer::on_commit(void* self, sqlite3* /*db*/, const char* /*name*/, int wal_pages) {
    auto* checkpointer = static_cast<Checkpointer*>(self);
    if (wal_pages < checkpointer->threshold_pages_) {
        return SQLITE_OK;
    }
    bool wake = false;
    {
        std::lock_guard lock(checkpointer->mutex_);
        wake = !checkpointer->due_;
        checkpointer->due_ = true;
    }
    if (wake) {
        checkpointer->wake_.notify_one();
    }
    return SQLITE_OK;
}

void Checkpointer::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return due_ || stopping_; });
        if (stopping_) {
            return;
        }
        due_ = false;
        lock.unlock();
        int wal_pages = 0;
        int copied = 0;
        const int rc = sqlite3_wal_checkpoint_v2(connection_->handle(), nullptr,
                                                 SQLITE_CHECKPOINT_PASSIVE, &wal_pages, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            spdlog::warn("sqlite checkpoint failed: {}", sqlite3_errmsg(connection_->handle()));
        }
        lock.lock();
        ++checkpoints_;
    }
}

}  // namespace confidant::storage::sqlite
