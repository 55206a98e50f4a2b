#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace confidant::storage::sqlite {

/// A fault reported by SQLite (I/O error, corruption, busy past the timeout, constraint
/// violations the caller did not expect). `code()` is the extended result code.
class SqliteError : public std::runtime_error {
  public:
    SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }
    /// True for SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
    bool is_unique_violation() const noexcept;

  private:
    int code_;
};

class Connection;

/// A cached prepared statement borrowed from its connection. Binding indexes start at 1.
/// On destruction the statement is reset and its bindings cleared, ready for the next use.
/// Not copyable; lives no longer than its connection.
class Statement {
  public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&&) = delete;
    Statement(const Statement&) = delete;
    ~Statement();

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, std::optional<std::int64_t> value);
    Statement& bind(int index, std::nullptr_t);
    Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::string& text) {
        return bind(index, std::string_view(text));
    }

    /// Advances to the next row; false when done. Throws SqliteError on failure.
    bool step();
    /// Runs a statement that returns no rows (or whose rows are not needed).
    void exec();

    bool is_null(int column) const;
    std::int64_t column_int64(int column) const;
    std::optional<std::int64_t> column_optional_int64(int column) const;
    /// The exact bytes stored, embedded NULs included.
    std::string column_text(int column) const;

  private:
    friend class Connection;
    Statement(Connection& connection, sqlite3_stmt* stmt) : connection_(&connection), stmt_(stmt) {}
    void check_bind(int rc);

    Connection* connection_;
    sqlite3_stmt* stmt_;
};

struct ConnectionOptions {
    std::string path;  ///< a file path, or a `file:` URI
    bool uri = false;
    int busy_timeout_ms = 5000;
    /// WAL, synchronous=NORMAL. Off for in-memory databases, which have no journal file.
    bool wal = true;
    /// PRAGMA mmap_size in bytes (0: off).
    std::int64_t mmap_bytes = 0;
    /// PRAGMA cache_size in KiB (0: SQLite's default).
    int cache_kib = 0;
};

/// One SQLite connection with its statement cache. Used by one thread at a time (opened with
/// SQLITE_OPEN_NOMUTEX); the store's connection pool hands it out.
class Connection {
  public:
    explicit Connection(const ConnectionOptions& options);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    /// Returns the cached statement for `sql` (prepared on first use). `sql` is a constant of
    /// the calling code: values are always bound, never spliced into the text.
    Statement prepare(std::string_view sql);
    /// Runs a script of statements that bind no values (DDL, PRAGMA, BEGIN/COMMIT).
    void exec_script(std::string_view sql);

    std::int64_t changes() const;
    std::int64_t last_insert_rowid() const;
    bool in_transaction() const;
    sqlite3* handle() const noexcept { return db_; }

    /// Throws SqliteError built from the connection's last error.
    [[noreturn]] void raise(int rc, std::string_view context) const;

  private:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

/// `BEGIN IMMEDIATE` on construction; rolls back on destruction unless committed, so an
/// exception anywhere in between leaves nothing half-written.
class Transaction {
  public:
    explicit Transaction(Connection& connection);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void commit();

  private:
    Connection& connection_;
    bool done_ = false;
};

}  // namespace confidant::storage::sqlite
