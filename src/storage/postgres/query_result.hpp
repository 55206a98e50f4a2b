#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

struct pg_result;  // libpq's PGresult, kept out of this header

namespace confidant::storage::pg {

/// The outcome of one statement of a batch: rows (or a command's completion), or the SQL error
/// the server reported, or "not run" because an earlier statement of the same pipeline failed.
///
/// Rows are in text format. Typed getters parse a cell and throw std::runtime_error when it
/// is NULL or does not parse as the asked type (a mismatch between code and schema is a fault);
/// ask for `std::optional<T>` where NULL is expected. Row and column numbers count from 0;
/// out-of-range numbers throw std::out_of_range.
///
/// Owns its PGresult (freed in the destructor). Move-only. Immutable, so const methods may be
/// called from several threads.
class QueryResult {
  public:
    enum class Status {
        rows,     ///< a statement that returns rows (SELECT, ... RETURNING), maybe zero of them
        command,  ///< a statement without rows (INSERT without RETURNING, BEGIN, CREATE, ...)
        error,    ///< the server rejected or failed the statement: see sqlstate()
        aborted,  ///< not run: an earlier statement of the pipeline failed (PGRES_PIPELINE_ABORTED)
    };

    QueryResult() = default;
    /// Takes ownership of `result` (from libpq; used by the driver).
    static QueryResult adopt(pg_result* result);
    /// A statement skipped because an earlier one failed.
    static QueryResult make_aborted();

    QueryResult(QueryResult&&) noexcept = default;
    QueryResult& operator=(QueryResult&&) noexcept = default;
    ~QueryResult() = default;

    Status status() const noexcept { return status_; }
    /// Rows or a completed command.
    bool ok() const noexcept { return status_ == Status::rows || status_ == Status::command; }
    bool aborted() const noexcept { return status_ == Status::aborted; }

    /// The five-character SQLSTATE of an error ("23505"), or "" when ok or aborted.
    std::string_view sqlstate() const noexcept;
    /// True when this is an error with that SQLSTATE (see `pg::sqlstate`).
    bool is_error(std::string_view state) const noexcept {
        return status_ == Status::error && sqlstate() == state;
    }
    /// The server's primary message; a fixed text for aborted; "" when ok.
    std::string_view error_message() const noexcept;
    std::string_view error_detail() const noexcept;
    /// The constraint an integrity error names (e.g. "users_username_key"), or "".
    std::string_view constraint() const noexcept;
    /// "ERROR 23505: duplicate key value ... (detail)" for logs; "" when ok.
    std::string describe_error() const;

    int rows() const noexcept;
    int cols() const noexcept;
    /// Rows an INSERT/UPDATE/DELETE/SELECT touched (PQcmdTuples), 0 when none is reported.
    std::int64_t affected_rows() const noexcept;
    /// The column named `name`, or -1.
    int column(std::string_view name) const noexcept;
    std::string_view column_name(int col) const;

    bool is_null(int row, int col) const;
    /// T: std::int64_t, int, double, bool, std::string, std::string_view (valid while this
    /// result lives), or std::optional of one of them. `bytes()` decodes a bytea cell.
    template <class T>
    T get(int row, int col) const {
        if constexpr (is_optional<T>::value) {
            if (is_null(row, col)) {
                return std::nullopt;
            }
            return get<typename T::value_type>(row, col);
        } else {
            return get_value(row, col, static_cast<T*>(nullptr));
        }
    }
    /// A bytea cell's raw bytes (decodes the hex text form).
    std::string bytes(int row, int col) const;

  private:
    template <class T>
    struct is_optional : std::false_type {};
    template <class T>
    struct is_optional<std::optional<T>> : std::true_type {};

    struct Deleter {
        void operator()(pg_result* r) const noexcept;
    };

    std::string_view cell(int row, int col) const;  // throws on NULL
    std::int64_t get_value(int row, int col, std::int64_t*) const;
    int get_value(int row, int col, int*) const;
    double get_value(int row, int col, double*) const;
    bool get_value(int row, int col, bool*) const;
    std::string get_value(int row, int col, std::string*) const;
    std::string_view get_value(int row, int col, std::string_view*) const;

    std::unique_ptr<pg_result, Deleter> result_;
    Status status_ = Status::aborted;
};

}  // namespace confidant::storage::pg
