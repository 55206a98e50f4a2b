#include "storage/sqlite/sqlite_migrator.hpp"

#include <stdexcept>

namespace confidant::storage::sqlite {
namespace {

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

int read_version(Connection& connection) {
    auto stmt = connection.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    stmt.step();
    return static_cast<int>(stmt.column_int64(0));
}

}  // namespace

int current_schema_version(Connection& connection) {
    auto exists = connection.prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    if (!exists.step()) {
        return 0;
    }
    return read_version(connection);
}

int apply_migrations(Connection& connection, std::span<const Migration> migrations,
                     UnixSeconds now) {
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        if (migrations[i].version != static_cast<int>(i) + 1) {
            throw std::logic_error("migrations must be numbered 1, 2, 3, ... in order");
        }
    }
    for (;;) {
        Transaction tx(connection);
        connection.exec_script(kCreateTable);
        const int current = read_version(connection);
        if (current >= static_cast<int>(migrations.size())) {
            tx.commit();
            return current;
        }
        const Migration& next = migrations[static_cast<std::size_t>(current)];
        connection.exec_script(next.sql);
        connection
            .prepare(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)")
            .bind(1, next.version)
            .bind(2, next.name)
            .bind(3, now)
            .exec();
        tx.commit();
    }
}

}  // namespace confidant::storage::sqlite
