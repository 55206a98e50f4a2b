#include "storage/postgres/query_result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <stdexcept>

namespace confidant::storage::pg {

namespace {

constexpr std::string_view kAbortedMessage =
    "not run: an earlier statement of the same pipeline failed";

std::string_view field(const PGresult* r, int code) noexcept {
    if (r == nullptr) {
        return {};
    }
    const char* v = PQresultErrorField(r, code);
    return v != nullptr ? std::string_view(v) : std::string_view();
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

void QueryResult::Deleter::operator()(pg_result* r) const noexcept { PQclear(r); }

QueryResult QueryResult::adopt(pg_result* result) {
    QueryResult q;
    q.result_.reset(result);
    switch (PQresultStatus(result)) {
        case PGRES_TUPLES_OK:
        case PGRES_SINGLE_TUPLE:
            q.status_ = Status::rows;
            break;
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            q.status_ = Status::command;
            break;
        case PGRES_PIPELINE_ABORTED:
            q.status_ = Status::aborted;
            q.result_.reset();
            break;
        default:
            q.status_ = Status::error;
            break;
    }
    return q;
}

QueryResult QueryResult::make_aborted() { return QueryResult(); }

std::string_view QueryResult::sqlstate() const noexcept {
    return status_ == Status::error ? field(result_.get(), PG_DIAG_SQLSTATE) : std::string_view();
}

std::string_view QueryResult::error_message() const noexcept {
    if (status_ == Status::aborted) {
        return kAbortedMessage;
    }
    if (status_ != Status::error) {
        return {};
    }
    auto primary = field(result_.get(), PG_DIAG_MESSAGE_PRIMARY);
    if (primary.empty() && result_) {
        primary = PQresultErrorMessage(result_.get());
    }
    return primary;
}

std::string_view QueryResult::error_detail() const noexcept {
    return status_ == Status::error ? field(result_.get(), PG_DIAG_MESSAGE_DETAIL)
                                    : std::string_view();
}

std::string_view QueryResult::constraint() const noexcept {
    return status_ == Status::error ? field(result_.get(), PG_DIAG_CONSTRAINT_NAME)
                                    : std::string_view();
}

std::string QueryResult::describe_error() const {
    if (ok()) {
        return {};
    }
    if (aborted()) {
        return std::string(kAbortedMessage);
    }
    std::string out = "ERROR ";
    out += sqlstate();
    out += ": ";
    auto msg = error_message();
    while (!msg.empty() && msg.back() == '\n') {
        msg.remove_suffix(1);
    }
    out += msg;
    if (const auto d = error_detail(); !d.empty()) {
        out += " (";
        out += d;
        out += ")";
    }
    return out;
}

int QueryResult::rows() const noexcept {
    return status_ == Status::rows ? PQntuples(result_.get()) : 0;
}

int QueryResult::cols() const noexcept {
    return status_ == Status::rows ? PQnfields(result_.get()) : 0;
}

std::int64_t QueryResult::affected_rows() const noexcept {
    if (!ok()) {
        return 0;
    }
    const char* s = PQcmdTuples(result_.get());
    std::int64_t n = 0;
    if (s != nullptr) {
        std::from_chars(s, s + std::char_traits<char>::length(s), n);
    }
    return n;
}

int QueryResult::column(std::string_view name) const noexcept {
    const int n = cols();
    for (int i = 0; i < n; ++i) {
        if (name == PQfname(result_.get(), i)) {
            return i;
        }
    }
    return -1;
}

std::string_view QueryResult::column_name(int col) const {
    if (col < 0 || col >= cols()) {
        throw std::out_of_range("pg::QueryResult: no column " + std::to_string(col));
    }
    return PQfname(result_.get(), col);
}

bool QueryResult::is_null(int row, int col) const {
    if (row < 0 || row >= rows() || col < 0 || col >= cols()) {
        throw std::out_of_range("pg::QueryResult: no cell (" + std::to_string(row) + ", " +
                                std::to_string(col) + ") in " + std::to_string(rows()) + "x" +
                                std::to_string(cols()) + " rows");
    }
    return PQgetisnull(result_.get(), row, col) != 0;
}

std::string_view QueryResult::cell(int row, int col) const {
    if (is_null(row, col)) {
        throw std::runtime_error("pg::QueryResult: column \"" + std::string(column_name(col)) +
                                 "\" of row " + std::to_string(row) +
                                 " is NULL; ask for std::optional");
    }
    return std::string_view(PQgetvalue(result_.get(), row, col),
                            static_cast<std::size_t>(PQgetlength(result_.get(), row, col)));
}

namespace {

template <class T>
T parse_number(std::string_view text, std::string_view column, const char* type) {
    T v{};
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
        throw std::runtime_error("pg::QueryResult: column \"" + std::string(column) + "\" is \"" +
                                 std::string(text.substr(0, 40)) + "\", not " + type);
    }
    return v;
}

}  // namespace

std::int64_t QueryResult::get_value(int row, int col, std::int64_t*) const {
    return parse_number<std::int64_t>(cell(row, col), column_name(col), "an int64");
}

int QueryResult::get_value(int row, int col, int*) const {
    return parse_number<int>(cell(row, col), column_name(col), "an int");
}

double QueryResult::get_value(int row, int col, double*) const {
    // from_chars reads PostgreSQL's "Infinity", "-Infinity" and "NaN" as well.
    return parse_number<double>(cell(row, col), column_name(col), "a double");
}

bool QueryResult::get_value(int row, int col, bool*) const {
    const auto text = cell(row, col);
    if (text == "t") {
        return true;
    }
    if (text == "f") {
        return false;
    }
    throw std::runtime_error("pg::QueryResult: column \"" + std::string(column_name(col)) +
                             "\" is \"" + std::string(text.substr(0, 40)) + "\", not a bool");
}

std::string QueryResult::get_value(int row, int col, std::string*) const {
    return std::string(cell(row, col));
}

std::string_view QueryResult::get_value(int row, int col, std::string_view*) const {
    return cell(row, col);
}

std::string QueryResult::bytes(int row, int col) const {
    const auto text = cell(row, col);
    if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
        throw std::runtime_error("pg::QueryResult: column \"" + std::string(column_name(col)) +
                                 "\" is not bytea in hex form");
    }
    std::string out;
    out.reserve((text.size() - 2) / 2);
    for (std::size_t i = 2; i < text.size(); i += 2) {
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            throw std::runtime_error("pg::QueryResult: bad hex in bytea column \"" +
                                     std::string(column_name(col)) + "\"");
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

}  // namespace confidant::storage::pg
