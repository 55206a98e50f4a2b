#pragma once

#include <span>

#include "core/time.hpp"
#include "storage/migrations/migration.hpp"
#include "storage/sqlite/sqlite_connection.hpp"

namespace confidant::storage::sqlite {

/// Applies the pending `migrations` in version order, each in its own `BEGIN IMMEDIATE`
/// transaction that re-reads the current version first, so two processes migrating the same
/// file at once apply every step exactly once. Each applied step is recorded in
/// `schema_migrations(version, name, applied_at)` with `applied_at = now`. Returns the schema
/// version after (which may exceed the newest known migration if a newer binary migrated the
/// file). Blocking; throws SqliteError on faults and std::logic_error on a malformed list.
int apply_migrations(Connection& connection, std::span<const Migration> migrations,
                     UnixSeconds now);

/// The highest version recorded in `schema_migrations`, 0 when the table does not exist.
int current_schema_version(Connection& connection);

}  // namespace confidant::storage::sqlite
