#include "storage/sqlite/sqlite_connection.hpp"

#include <sqlite3.h>

#include <utility>

namespace confidant::storage::sqlite {

bool SqliteError::is_unique_violation() const noexcept {
    return code_ == SQLITE_CONSTRAINT_UNIQUE || code_ == SQLITE_CONSTRAINT_PRIMARYKEY;
}

Statement::Statement(Statement&& other) noexcept
    : connection_(other.connection_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement::~Statement() {
    if (stmt_ != nullptr) {
        // reset() repeats the last step's error, which the caller has already seen.
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
}

void Statement::check_bind(int rc) {
    if (rc != SQLITE_OK) {
        connection_->raise(rc, "bind");
    }
}

Statement& Statement::bind(int index, std::int64_t value) {
    check_bind(sqlite3_bind_int64(stmt_, index, value));
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    // SQLITE_TRANSIENT: SQLite copies, so the caller's buffer may go away before step().
    check_bind(
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
    return value ? bind(index, *value) : bind(index, nullptr);
}

Statement& Statement::bind(int index, std::nullptr_t) {
    check_bind(sqlite3_bind_null(stmt_, index));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    connection_->raise(rc, "step");
}

void Statement::exec() {
    while (step()) {
    }
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

std::optional<std::int64_t> Statement::column_optional_int64(int column) const {
    if (is_null(column)) {
        return std::nullopt;
    }
    return sqlite3_column_int64(stmt_, column);
}

std::string Statement::column_text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int size = sqlite3_column_bytes(stmt_, column);
    if (text == nullptr) {
        return {};
    }
    return std::string(text, static_cast<std::size_t>(size));
}

Connection::Connection(const ConnectionOptions& options) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (options.uri) {
        flags |= SQLITE_OPEN_URI;
    }
    const int rc = sqlite3_open_v2(options.path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = "sqlite open '" + options.path +
                              "': " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw SqliteError(rc, message);
    }
    sqlite3_extended_result_codes(db_, 1);
    // The busy handler comes first so that switching to WAL waits for other openers.
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    try {
        if (options.wal) {
            exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        }
        exec_script("PRAGMA foreign_keys=ON;");
        if (options.mmap_bytes > 0) {
            exec_script("PRAGMA mmap_size=" + std::to_string(options.mmap_bytes) + ";");
        }
        if (options.cache_kib > 0) {
            exec_script("PRAGMA cache_size=-" + std::to_string(options.cache_kib) + ";");
        }
    } catch (...) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw;
    }
}

Connection::~Connection() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    sqlite3_close_v2(db_);
}

Statement Connection::prepare(std::string_view sql) {
    auto it = statements_.find(std::string(sql));
    if (it == statements_.end()) {
        sqlite3_stmt* stmt = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
        if (rc != SQLITE_OK) {
            raise(rc, "prepare");
        }
        it = statements_.emplace(std::string(sql), stmt).first;
    }
    return Statement(*this, it->second);
}

void Connection::exec_script(std::string_view sql) {
    // Statement by statement through prepare, so a script never goes through sqlite3_exec's
    // string callbacks; scripts are constants and bind nothing.
    const char* cursor = sql.data();
    const char* end = sql.data() + sql.size();
    while (cursor < end) {
        sqlite3_stmt* stmt = nullptr;
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db_, cursor, static_cast<int>(end - cursor), &stmt, &tail);
        if (rc != SQLITE_OK) {
            raise(rc, "prepare script");
        }
        if (stmt == nullptr) {  // only whitespace or comments remained
            break;
        }
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        }
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE) {
            raise(rc, "exec script");
        }
        cursor = tail;
    }
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

void Connection::raise(int rc, std::string_view context) const {
    const int extended = db_ != nullptr ? sqlite3_extended_errcode(db_) : rc;
    std::string message = "sqlite ";
    message += context;
    message += ": ";
    message += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    throw SqliteError(extended != SQLITE_OK ? extended : rc, message);
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
    connection_.prepare("BEGIN IMMEDIATE").exec();
}

Transaction::~Transaction() {
    if (!done_ && connection_.in_transaction()) {
        // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) already rolled back; otherwise do it.
        sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

void Transaction::commit() {
    connection_.prepare("COMMIT").exec();
    done_ = true;
}

}  // namespace confidant::storage::sqlite
