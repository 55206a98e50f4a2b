#pragma once

#include <span>
#include <string_view>

namespace confidant::storage {

/// One schema step. Versions start at 1 and increase by one; a migration, once released, is
/// never edited (add a new one instead). `sql` may hold several statements and binds no values.
struct Migration {
    int version = 0;
    std::string_view name;
    std::string_view sql;
};

/// The SQLite schema, oldest first.
std::span<const Migration> sqlite_migrations();

}  // namespace confidant::storage
