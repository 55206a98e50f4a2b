#include <array>

#include "storage/migrations/migration.hpp"

namespace confidant::storage {
namespace {

// Times are Unix seconds. `id INTEGER PRIMARY KEY AUTOINCREMENT` never reuses an id, so message
// ids increase in creation order even after the newest rows are deleted.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    username          TEXT    NOT NULL UNIQUE,
    password_hash     TEXT    NOT NULL,
    role              TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    display_name      TEXT    NOT NULL DEFAULT '',
    companion_persona TEXT    NOT NULL DEFAULT '',
    premium_until     INTEGER NULL,
    created_at        INTEGER NOT NULL,
    last_active_at    INTEGER NULL
);
CREATE INDEX idx_users_last_active_at ON users (last_active_at);

CREATE TABLE chat_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'broadcast')),
    content    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_chat_history_user_created ON chat_history (user_id, created_at);
CREATE INDEX idx_chat_history_user_id ON chat_history (user_id, id);
-- Retention scans by age across all users.
CREATE INDEX idx_chat_history_created_at ON chat_history (created_at);
)sql";

constexpr std::string_view kV2 = R"sql(
CREATE TABLE idempotency_keys (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    response   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
)sql";

// The daily quota counts a user's own messages since midnight on every chat turn; this index
// answers that COUNT from the index alone instead of visiting every row of the day.
constexpr std::string_view kV3 = R"sql(
CREATE INDEX idx_chat_history_user_role_created ON chat_history (user_id, role, created_at);
)sql";

constexpr std::array kMigrations{
    Migration{1, "users_and_chat_history", kV1},
    Migration{2, "idempotency_keys", kV2},
    Migration{3, "chat_history_quota_index", kV3},
};

}  // namespace

std::span<const Migration> sqlite_migrations() { return kMigrations; }

}  // namespace confidant::storage
