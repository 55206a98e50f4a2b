#include "storage/sqlite/sqlite_store.hpp"

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

namespace confidant::storage {

using sqlite::Connection;
using sqlite::SqliteError;
using sqlite::Statement;
using sqlite::Transaction;

namespace {

constexpr std::string_view kMemory = ":memory:";

bool is_memory(const std::string& path) { return path == kMemory; }

std::size_t connection_count(const SqliteSettings& settings) {
    if (is_memory(settings.path)) {
        return 1;
    }
    return std::max<std::size_t>(settings.pool_threads, 1);
}

// Every user query selects these columns in this order; see read_user().
#define CONFIDANT_USER_COLUMNS                                                            \
    "id, username, password_hash, role, display_name, companion_persona, premium_until, " \
    "created_at, last_active_at"

User read_user(const Statement& s) {
    User u;
    u.id = s.column_int64(0);
    u.username = s.column_text(1);
    u.password_hash = s.column_text(2);
    u.role = s.column_text(3);
    u.display_name = s.column_text(4);
    u.companion_persona = s.column_text(5);
    u.premium_until = s.column_optional_int64(6);
    u.created_at = s.column_int64(7);
    u.last_active_at = s.column_optional_int64(8);
    return u;
}

std::optional<User> first_user(Statement& s) {
    if (!s.step()) {
        return std::nullopt;
    }
    return read_user(s);
}

Message read_message(const Statement& s) {
    Message m;
    m.id = s.column_int64(0);
    m.user_id = s.column_int64(1);
    m.role = s.column_text(2);
    m.content = s.column_text(3);
    m.created_at = s.column_int64(4);
    return m;
}

Message insert_message(Connection& c, UserId user, std::string_view role, std::string content,
                       UnixSeconds at) {
    auto s = c.prepare(
        "INSERT INTO chat_history (user_id, role, content, created_at) VALUES (?1, ?2, ?3, ?4) "
        "RETURNING id");
    s.bind(1, user).bind(2, role).bind(3, content).bind(4, at);
    s.step();
    Message m;
    m.id = s.column_int64(0);
    m.user_id = user;
    m.role = std::string(role);
    m.content = std::move(content);
    m.created_at = at;
    return m;
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
class SqliteStore::Lease {
  public:
    Lease(SqliteStore& store, Connection* connection) : store_(store), connection_(connection) {}
    Lease(SqliteStore& store, Connection* writer, std::unique_lock<std::mutex> write_lock)
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
    SqliteStore& store_;
    Connection* connection_;
    std::unique_lock<std::mutex> write_lock_;  // held when reading on the writing connection
};

// The one writing connection, held with the write lock.
class SqliteStore::WriteLease {
  public:
    WriteLease(std::mutex& mutex, Connection* connection) : lock_(mutex), connection_(connection) {}
    Connection& operator*() const { return *connection_; }

  private:
    std::lock_guard<std::mutex> lock_;
    Connection* connection_;
};

SqliteStore::WriteLease SqliteStore::acquire_writer() { return WriteLease(write_mutex_, writer_); }

SqliteStore::SqliteStore(SqliteSettings settings, const Clock& clock)
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

SqliteStore::~SqliteStore() { pool_.stop(); }

SqliteStore::Lease SqliteStore::acquire() {
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

void SqliteStore::release(Connection* connection) {
    {
        std::lock_guard lock(pool_mutex_);
        idle_.push_back(connection);
    }
    pool_cv_.notify_one();
}

UnixSeconds SqliteStore::now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
        .count();
}

Task<int> SqliteStore::migrate() {
    const UnixSeconds at = now();
    co_return co_await pool_.run([this, at] {
        WriteLease lease = acquire_writer();
        return sqlite::apply_migrations(*lease, sqlite_migrations(), at);
    });
}

Task<void> SqliteStore::ping() {
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

Task<Result<User>> SqliteStore::create_user(NewUser user) {
    const UnixSeconds at = now();
    co_return co_await pool_.run([this, &user, at]() -> Result<User> {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        Transaction tx(c);
        auto s = c.prepare(
            "INSERT INTO users (username, password_hash, role, display_name, "
            "companion_persona, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
            "RETURNING " CONFIDANT_USER_COLUMNS);
        s.bind(1, user.username)
            .bind(2, user.password_hash)
            .bind(3, user.role)
            .bind(4, user.display_name)
            .bind(5, user.companion_persona)
            .bind(6, at);
        try {
            s.step();
        } catch (const SqliteError& e) {
            if (e.is_unique_violation()) {
                return make_error(ErrorCode::conflict, "username already taken");
            }
            throw;
        }
        User created = read_user(s);
        s.exec();  // finish the statement before COMMIT
        tx.commit();
        return created;
    });
}

Task<std::optional<User>> SqliteStore::find_user(UserId id) {
    co_return co_await pool_.run([this, id] {
        Lease lease = acquire();
        auto s = (*lease).prepare("SELECT " CONFIDANT_USER_COLUMNS " FROM users WHERE id = ?1");
        s.bind(1, id);
        return first_user(s);
    });
}

Task<std::optional<User>> SqliteStore::find_user_by_name(std::string username) {
    co_return co_await pool_.run([this, &username] {
        Lease lease = acquire();
        auto s =
            (*lease).prepare("SELECT " CONFIDANT_USER_COLUMNS " FROM users WHERE username = ?1");
        s.bind(1, username);
        return first_user(s);
    });
}

Task<std::optional<User>> SqliteStore::update_profile(UserId id, ProfilePatch patch) {
    co_return co_await pool_.run([this, id, &patch] {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        Transaction tx(c);
        // A NULL parameter keeps the column: COALESCE picks the current value.
        auto s = c.prepare(
            "UPDATE users SET display_name = COALESCE(?1, display_name), "
            "companion_persona = COALESCE(?2, companion_persona) WHERE id = ?3 "
            "RETURNING " CONFIDANT_USER_COLUMNS);
        if (patch.display_name) {
            s.bind(1, *patch.display_name);
        }
        if (patch.companion_persona) {
            s.bind(2, *patch.companion_persona);
        }
        s.bind(3, id);
        std::optional<User> user = first_user(s);
        s.exec();
        tx.commit();
        return user;
    });
}

Task<std::optional<User>> SqliteStore::set_premium_until(UserId id,
                                                         std::optional<UnixSeconds> until) {
    co_return co_await pool_.run([this, id, until] {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        Transaction tx(c);
        auto s = c.prepare(
            "UPDATE users SET premium_until = ?1 WHERE id = ?2 "
            "RETURNING " CONFIDANT_USER_COLUMNS);
        s.bind(1, until).bind(2, id);
        std::optional<User> user = first_user(s);
        s.exec();
        tx.commit();
        return user;
    });
}

Task<std::vector<User>> SqliteStore::recently_active_users(int limit) {
    co_return co_await pool_.run([this, limit] {
        std::vector<User> users;
        if (limit <= 0) {
            return users;
        }
        Lease lease = acquire();
        auto s = (*lease).prepare("SELECT " CONFIDANT_USER_COLUMNS
                                  " FROM users WHERE last_active_at IS NOT NULL "
                                  "ORDER BY last_active_at DESC, id DESC LIMIT ?1");
        s.bind(1, limit);
        while (s.step()) {
            users.push_back(read_user(s));
        }
        return users;
    });
}

namespace {

using ExchangeResult = std::pair<Message, Message>;

void touch_last_active(Connection& c, UserId user, UnixSeconds at) {
    // MAX keeps last_active_at from moving backwards when exchanges finish out of order.
    c.prepare(
         "UPDATE users SET last_active_at = MAX(COALESCE(last_active_at, ?1), ?1) "
         "WHERE id = ?2")
        .bind(1, at)
        .bind(2, user)
        .exec();
}

// One exchange inside the caller's transaction. Copies the texts, so that the exchange can be
// written again if the batch it belongs to is rolled back. With `touch` false the caller
// updates last_active_at itself (once per user of a batch).
ExchangeResult write_exchange(Connection& c, const Exchange& exchange, bool touch = true) {
    Message user_msg = insert_message(c, exchange.user_id, "user", exchange.user_text, exchange.at);
    Message reply_msg =
        insert_message(c, exchange.user_id, "assistant", exchange.reply_text, exchange.at);
    if (touch) {
        touch_last_active(c, exchange.user_id, exchange.at);
    }
    if (exchange.idempotency_key) {
        const std::string response = exchange.make_response(user_msg, reply_msg);
        c.prepare(
             "INSERT OR REPLACE INTO idempotency_keys (user_id, key, response, created_at) "
             "VALUES (?1, ?2, ?3, ?4)")
            .bind(1, exchange.user_id)
            .bind(2, *exchange.idempotency_key)
            .bind(3, response)
            .bind(4, exchange.at)
            .exec();
    }
    return {std::move(user_msg), std::move(reply_msg)};
}

}  // namespace

struct SqliteStore::PendingExchange {
    // The awaiting coroutine's completion handler, type-erased by hand: Boost 1.81's
    // any_completion_handler recurses without end when it allocates for use_awaitable.
    struct Handler {
        virtual ~Handler() = default;
        virtual void complete(std::exception_ptr error, ExchangeResult result) = 0;
    };
    template <class H>
    struct HandlerOf final : Handler {
        explicit HandlerOf(H h) : handler(std::move(h)) {}
        void complete(std::exception_ptr error, ExchangeResult result) override {
            std::move(handler)(std::move(error), std::move(result));
        }
        H handler;
    };

    Exchange exchange;
    // The awaiting coroutine's executor, keeping its io_context's work count up until the
    // completion is posted back to it.
    boost::asio::any_io_executor executor;
    std::unique_ptr<Handler> handler;
    std::exception_ptr error;
    ExchangeResult result;
};

Task<std::pair<Message, Message>> SqliteStore::append_exchange(Exchange exchange) {
    if (exchange.idempotency_key && !exchange.make_response) {
        throw std::invalid_argument("append_exchange: idempotency_key without make_response");
    }
    auto pending = std::make_unique<PendingExchange>();
    pending->exchange = std::move(exchange);
    const auto executor = co_await boost::asio::this_coro::executor;
    pending->executor =
        boost::asio::prefer(executor, boost::asio::execution::outstanding_work.tracked);
    auto initiate = [this, &pending](auto handler) {
        pending->handler =
            std::make_unique<PendingExchange::HandlerOf<decltype(handler)>>(std::move(handler));
        enqueue_exchange(std::move(pending));
    };
    ExchangeResult result =
        co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                             void(std::exception_ptr, ExchangeResult)>(
            initiate, boost::asio::use_awaitable);
    co_return result;
}

void SqliteStore::enqueue_exchange(std::unique_ptr<PendingExchange> pending) {
    bool start = false;
    {
        std::lock_guard lock(batch_mutex_);
        pending_.push_back(std::move(pending));
        start = !flushing_;
        flushing_ = true;
    }
    if (start) {
        pool_.post([this] { flush_exchanges(); });
    }
}

// The one writer of exchanges: drains the queue batch by batch, then stops until the next
// append_exchange starts it again. Whatever queues up during a commit goes into the next one.
void SqliteStore::flush_exchanges() {
    for (;;) {
        std::vector<std::unique_ptr<PendingExchange>> batch;
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
            boost::asio::post(executor, [p = std::move(p)]() mutable {
                p->handler->complete(p->error, std::move(p->result));
            });
        }
    }
}

// Sets every item's result or error; never throws.
void SqliteStore::write_batch(std::vector<std::unique_ptr<PendingExchange>>& batch) {
    auto fail_all = [&batch](const std::exception_ptr& error) {
        for (auto& p : batch) {
            p->error = error;
        }
    };
    try {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        try {
            ++exchange_transactions_;
            Transaction tx(c);
            // A user with several exchanges in the batch gets one last_active_at update.
            std::unordered_map<UserId, UnixSeconds> last_active;
            for (auto& p : batch) {
                p->result = write_exchange(c, p->exchange, false);
                auto [it, inserted] = last_active.try_emplace(p->exchange.user_id, p->exchange.at);
                if (!inserted) {
                    it->second = std::max(it->second, p->exchange.at);
                }
            }
            for (const auto& [user, at] : last_active) {
                touch_last_active(c, user, at);
            }
            tx.commit();
            return;
        } catch (...) {
            if (batch.size() == 1) {
                fail_all(std::current_exception());
                return;
            }
        }
        // The shared transaction was rolled back: give each exchange a transaction of its own.
        for (auto& p : batch) {
            try {
                ++exchange_transactions_;
                Transaction tx(c);
                p->result = write_exchange(c, p->exchange);
                tx.commit();
            } catch (...) {
                p->error = std::current_exception();
            }
        }
    } catch (...) {
        fail_all(std::current_exception());  // no connection or no write lock
    }
}

Task<std::optional<std::string>> SqliteStore::find_idempotent_response(UserId user, std::string key,
                                                                       UnixSeconds not_before) {
    co_return co_await pool_.run([this, user, &key, not_before] {
        Lease lease = acquire();
        auto s = (*lease).prepare(
            "SELECT response FROM idempotency_keys "
            "WHERE user_id = ?1 AND key = ?2 AND created_at >= ?3");
        s.bind(1, user).bind(2, key).bind(3, not_before);
        std::optional<std::string> response;
        if (s.step()) {
            response = s.column_text(0);
        }
        return response;
    });
}

namespace {

HistoryPage read_history(Connection& c, UserId user, int limit, std::optional<MessageId> before) {
    const std::int64_t wanted = std::max(limit, 0);
    // One row more than asked tells exactly whether older messages exist.
    auto s = c.prepare(
        "SELECT id, user_id, role, content, created_at FROM chat_history "
        "WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
    s.bind(1, user)
        .bind(2, before.value_or(std::numeric_limits<MessageId>::max()))
        .bind(3, wanted + 1);
    HistoryPage page;
    while (s.step()) {
        if (static_cast<std::int64_t>(page.messages.size()) == wanted) {
            page.has_more = true;
            break;
        }
        page.messages.push_back(read_message(s));
    }
    std::reverse(page.messages.begin(), page.messages.end());
    return page;
}

std::int64_t count_sent_since(Connection& c, UserId user, UnixSeconds since) {
    auto s = c.prepare(
        "SELECT COUNT(*) FROM chat_history "
        "WHERE user_id = ?1 AND role = 'user' AND created_at >= ?2");
    s.bind(1, user).bind(2, since);
    s.step();
    return s.column_int64(0);
}

}  // namespace

Task<HistoryPage> SqliteStore::history(UserId user, int limit, std::optional<MessageId> before) {
    co_return co_await pool_.run([this, user, limit, before] {
        Lease lease = acquire();
        return read_history(*lease, user, limit, before);
    });
}

Task<TurnContext> SqliteStore::turn_context(UserId user, UnixSeconds since, int limit) {
    co_return co_await pool_.run([this, user, since, limit] {
        Lease lease = acquire();
        TurnContext t;
        t.sent_since = count_sent_since(*lease, user, since);
        t.recent = read_history(*lease, user, limit, std::nullopt).messages;
        return t;
    });
}

Task<std::int64_t> SqliteStore::delete_history(UserId user) {
    co_return co_await pool_.run([this, user] {
        WriteLease lease = acquire_writer();
        Connection& c = *lease;
        Transaction tx(c);
        c.prepare("DELETE FROM chat_history WHERE user_id = ?1").bind(1, user).exec();
        const std::int64_t deleted = c.changes();
        tx.commit();
        return deleted;
    });
}

Task<std::int64_t> SqliteStore::count_user_messages_since(UserId user, UnixSeconds since) {
    co_return co_await pool_.run([this, user, since] {
        Lease lease = acquire();
        return count_sent_since(*lease, user, since);
    });
}

Task<std::int64_t> SqliteStore::delete_messages_before(UnixSeconds before) {
    // Small transactions, each its own pool job, so chat writes interleave with a large purge.
    auto delete_batch = [this, before](std::string_view sql) {
        return pool_.run([this, before, sql] {
            WriteLease lease = acquire_writer();
            Connection& c = *lease;
            Transaction tx(c);
            c.prepare(sql).bind(1, before).bind(2, kRetentionBatch).exec();
            const std::int64_t deleted = c.changes();
            tx.commit();
            return deleted;
        });
    };
    std::int64_t total = 0;
    for (;;) {
        const std::int64_t n = co_await delete_batch(
            "DELETE FROM chat_history WHERE id IN "
            "(SELECT id FROM chat_history WHERE created_at < ?1 LIMIT ?2)");
        total += n;
        if (n < kRetentionBatch) {
            break;
        }
    }
    for (;;) {
        const std::int64_t n = co_await delete_batch(
            "DELETE FROM idempotency_keys WHERE rowid IN "
            "(SELECT rowid FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)");
        if (n < kRetentionBatch) {
            break;
        }
    }
    co_return total;
}

#undef CONFIDANT_USER_COLUMNS

}  // namespace confidant::storage
