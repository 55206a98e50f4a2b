#include "storage/sqlite/sqlite_database.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "storage/migrations/migration.hpp"
#include "storage/sqlite/sqlite_migrator.hpp"
#include "storage/sqlite/sqlite_ops.hpp"

namespace confidant::storage {

using sqlite::Connection;
using sqlite::SqliteError;
using sqlite::Statement;

namespace {

constexpr std::string_view kMemory = ":memory:";

bool is_memory(const std::string& path) { return path == kMemory; }

std::size_t connection_count(const SqliteSettings& settings) {
    if (is_memory(settings.path)) {
        return 1;
    }
    return std::max<std::size_t>(settings.pool_threads, 1);
}

}  // namespace

std::string sqlite_path_from_url(std::string_view url) {
    constexpr std::string_view kScheme = "sqlite://";
    if (!url.starts_with(kScheme)) {
        throw std::invalid_argument("not a sqlite:// URL");
    }
    std::string_view rest = url.substr(kScheme.size());
    if (rest.find('?') != std::string_view::npos) {
        throw std::invalid_argument("sqlite:// URL query strings are not supported");
    }
    if (rest.empty() || rest == "/") {
        throw std::invalid_argument("sqlite:// URL without a path");
    }
    if (rest == kMemory || rest == "/:memory:") {
        return std::string(kMemory);
    }
    if (rest.starts_with("/./") || rest.starts_with("/../")) {
        rest.remove_prefix(1);
    }
    return std::string(rest);
}

// A connection for reading: a pooled reading connection, or the writing connection with the
// write lock held.
class SqliteDatabase::Lease {
  public:
    Lease(SqliteDatabase& store, Connection* connection) : store_(store), connection_(connection) {}
    Lease(SqliteDatabase& store, Connection* writer, std::unique_lock<std::mutex> write_lock)
        : store_(store), connection_(writer), write_lock_(std::move(write_lock)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
        if (!write_lock_.owns_lock()) {
            store_.release(connection_);
        }
    }
    Connection& operator*() const { return *connection_; }

  private:
    SqliteDatabase& store_;
    Connection* connection_;
    std::unique_lock<std::mutex> write_lock_;  // held when reading on the writing connection
};

// The one writing connection, held with the write lock.
class SqliteDatabase::WriteLease {
  public:
    WriteLease(std::mutex& mutex, Connection* connection) : lock_(mutex), connection_(connection) {}
    Connection& operator*() const { return *connection_; }

  private:
    std::lock_guard<std::mutex> lock_;
    Connection* connection_;
};

SqliteDatabase::WriteLease SqliteDatabase::acquire_writer() { return WriteLease(write_mutex_, writer_); }

SqliteDatabase::SqliteDatabase(SqliteSettings settings, const Clock& clock)
    : settings_(std::move(settings)), clock_(clock), pool_(connection_count(settings_), "sqlite") {
    if (settings_.path.empty()) {
        throw std::invalid_argument("SqliteSettings.path is empty");
    }
    sqlite::ConnectionOptions options;
    options.path = settings_.path;
    options.mmap_bytes = settings_.mmap_bytes;
    options.busy_timeout_ms = static_cast<int>(
        std::clamp<long long>(settings_.busy_timeout.count(), 0, std::numeric_limits<int>::max()));
    if (is_memory(settings_.path)) {
        options.wal = false;
    } else if (settings_.path.starts_with("file:")) {
        options.uri = true;
    } else {
        const auto parent = std::filesystem::path(settings_.path).parent_path();
        if (!parent.empty()) {
            std::filesystem::create_directories(parent);
        }
    }
    const std::size_t count = connection_count(settings_);
    for (std::size_t i = 0; i < count; ++i) {
        connections_.push_back(std::make_unique<Connection>(options));
        idle_.push_back(connections_.back().get());
    }
    if (is_memory(settings_.path)) {
        // One database per connection: the only connection writes too (one pool thread, so
        // a write and a read never overlap on it).
        writer_ = connections_.front().get();
    } else {
        // Its own connection, so that its page cache is never dropped because another
        // connection wrote (SQLite discards a connection's whole cache when that happens).
        sqlite::ConnectionOptions writer_options = options;
        writer_options.cache_kib = settings_.writer_cache_kib;
        connections_.push_back(std::make_unique<Connection>(writer_options));
        writer_ = connections_.back().get();
        reads_on_writer_ = true;
    }
    if (options.wal) {
        // Every write goes through writer_, so only its commits grow the WAL.
        checkpointer_ = std::make_unique<sqlite::Checkpointer>(options, settings_.checkpoint_pages);
        checkpointer_->watch(*writer_);
    }
    if (!is_memory(settings_.path) && !options.uri) {
        struct stat st {};
        if (::stat(settings_.path.c_str(), &st) == 0) {
            file_id_ = std::make_pair(st.st_dev, st.st_ino);
        }
    }
}

SqliteDatabase::~SqliteDatabase() { pool_.stop(); }

SqliteDatabase::Lease SqliteDatabase::acquire() {
    // Nobody else writes, so the writing connection's page cache stays valid, while a reading
    // connection drops its whole cache whenever the database changed since its last read:
    // here that is nearly every read, as exchanges commit every few milliseconds. A read takes
    // the writing connection when it is free (bench/sqlite.sh: a read right after a write
    // costs about 0.6x of one on a reading connection) and otherwise a reading connection.
    if (reads_on_writer_) {
        std::unique_lock write_lock(write_mutex_, std::try_to_lock);
        if (write_lock.owns_lock()) {
            return Lease(*this, writer_, std::move(write_lock));
        }
    }
    std::unique_lock lock(pool_mutex_);
    pool_cv_.wait(lock, [this] { return !idle_.empty(); });
    Connection* c = idle_.back();
    idle_.pop_back();
    return Lease(*this, c);
}

void SqliteDatabase::release(Connection* connection) {
    {
        std::lock_guard lock(pool_mutex_);
        idle_.push_back(connection);
    }
    pool_cv_.notify_one();
}

UnixSeconds SqliteDatabase::now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
        .count();
}

Task<int> SqliteDatabase::migrate() {
    const UnixSeconds at = now();
    co_return co_await pool_.run([this, at] {
        WriteLease lease = acquire_writer();
        return sqlite::apply_migrations(*lease, sqlite_migrations(), at);
    });
}

Task<void> SqliteDatabase::ping() {
    co_await pool_.run([this] {
        // Open connections keep answering after the file was deleted or replaced, while
        // everything written goes nowhere: treat that as an unreachable database.
        if (file_id_) {
            struct stat st {};
            if (::stat(settings_.path.c_str(), &st) != 0 || st.st_dev != file_id_->first ||
                st.st_ino != file_id_->second) {
                throw std::runtime_error("sqlite ping: the database file is gone or was replaced");
            }
        }
        Lease lease = acquire();
        auto s = (*lease).prepare("SELECT 1");
        if (!s.step() || s.column_int64(0) != 1) {
            throw std::runtime_error("sqlite ping: unexpected answer");
        }
    });
}

struct SqliteDatabase::PendingWrite {
    // The awaiting coroutine's completion handler, type-erased by hand: Boost 1.81's
    // any_completion_handler recurses without end when it allocates for use_awaitable.
    struct Handler {
        virtual ~Handler() = default;
        virtual void complete(std::exception_ptr error) = 0;
    };
    template <class H>
    struct HandlerOf final : Handler {
        explicit HandlerOf(H h) : handler(std::move(h)) {}
        void complete(std::exception_ptr error) override { std::move(handler)(std::move(error)); }
        H handler;
    };

    Transaction* tx = nullptr;  // owned by the awaiting coroutine, alive until completion
    // The awaiting coroutine's executor, keeping its io_context's work count up until the
    // completion is posted back to it.
    boost::asio::any_io_executor executor;
    std::unique_ptr<Handler> handler;
    std::exception_ptr error;
};

Task<void> SqliteDatabase::execute(Transaction& tx) {
    if (tx.empty()) {
        co_return;
    }
    if (!tx.writes()) {
        co_await pool_.run([this, &tx] {
            Lease lease = acquire();
            Connection& c = *lease;
            if (tx.size() == 1) {
                run_all(c, tx);
                return;
            }
            // Several reads see one snapshot.
            c.prepare("BEGIN").exec();
            try {
                run_all(c, tx);
            } catch (...) {
                c.exec_script("ROLLBACK");
                throw;
            }
            c.prepare("COMMIT").exec();
        });
        co_return;
    }
    auto pending = std::make_unique<PendingWrite>();
    pending->tx = &tx;
    const auto executor = co_await boost::asio::this_coro::executor;
    pending->executor =
        boost::asio::prefer(executor, boost::asio::execution::outstanding_work.tracked);
    auto initiate = [this, &pending](auto handler) {
        pending->handler =
            std::make_unique<PendingWrite::HandlerOf<decltype(handler)>>(std::move(handler));
        enqueue_write(std::move(pending));
    };
    co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                         void(std::exception_ptr)>(initiate,
                                                                   boost::asio::use_awaitable);
}

void SqliteDatabase::enqueue_write(std::unique_ptr<PendingWrite> pending) {
    bool start = false;
    {
        std::lock_guard lock(batch_mutex_);
        pending_.push_back(std::move(pending));
        start = !flushing_;
        flushing_ = true;
    }
    if (start) {
        pool_.post([this] { flush_writes(); });
    }
}

// The one writer: drains the queue batch by batch, then stops until the next write starts it
// again. Whatever queues up during a commit goes into the next one.
void SqliteDatabase::flush_writes() {
    for (;;) {
        std::vector<std::unique_ptr<PendingWrite>> batch;
        {
            std::lock_guard lock(batch_mutex_);
            if (pending_.empty()) {
                flushing_ = false;
                return;
            }
            if (pending_.size() <= kMaxBatch) {
                batch.swap(pending_);
            } else {
                const auto split = pending_.begin() + static_cast<std::ptrdiff_t>(kMaxBatch);
                batch.assign(std::make_move_iterator(pending_.begin()),
                             std::make_move_iterator(split));
                pending_.erase(pending_.begin(), split);
            }
        }
        write_batch(batch);
        for (auto& p : batch) {
            auto executor = p->executor;
            boost::asio::post(executor,
                              [p = std::move(p)]() mutable { p->handler->complete(p->error); });
        }
    }
}

// Sets every item's results or error; never throws.
void SqliteDatabase::write_batch(std::vector<std::unique_ptr<PendingWrite>>& batch) {
    try {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        ++write_commits_;
        sqlite::Transaction sql_tx(c);
        if (batch.size() == 1) {
            try {
                run_all(c, *batch.front()->tx);
            } catch (...) {
                batch.front()->error = std::current_exception();
                return;  // rolled back by sql_tx
            }
        } else {
            for (auto& p : batch) {
                c.prepare("SAVEPOINT w").exec();
                try {
                    run_all(c, *p->tx);
                } catch (...) {
                    p->error = std::current_exception();
                    p->tx->clear_results();
                    c.prepare("ROLLBACK TO w").exec();
                }
                c.prepare("RELEASE w").exec();
            }
        }
        sql_tx.commit();
    } catch (...) {
        // No connection, no write lock, or the commit failed: nothing of the batch is stored.
        const auto error = std::current_exception();
        for (auto& p : batch) {
            p->error = error;
            p->tx->clear_results();
        }
    }
}

}  // namespace confidant::storage
