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

// Usage is counted per user and UTC day by the transaction that stores an exchange (a billing
// record: deleting history does not change it), seeded from the history kept so far. Replay
// records refer to the stored messages instead of holding a rendered copy, and a key is
// reserved ('pending') before the model is called. The quota index and the (user, created_at)
// index lose their last readers.
constexpr std::string_view kV4 = R"sql(
CREATE TABLE usage_daily (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day      INTEGER NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
INSERT INTO usage_daily (user_id, day, messages)
    SELECT user_id, created_at / 86400, COUNT(*) FROM chat_history WHERE role = 'user'
    GROUP BY user_id, created_at / 86400;
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key              TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'done')),
    user_message_id  INTEGER NULL,
    reply_message_id INTEGER NULL,
    model            TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    reserved_until   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idx_idempotency_keys_created_at ON idempotency_keys (created_at);
DROP INDEX idx_chat_history_user_role_created;
DROP INDEX idx_chat_history_user_created;
)sql";

constexpr std::array kMigrations{
    Migration{1, "users_and_chat_history", kV1},
    Migration{2, "idempotency_keys", kV2},
    Migration{3, "chat_history_quota_index", kV3},
    Migration{4, "usage_counters_and_idempotency_reservations", kV4},
};

}  // namespace

std::span<const Migration> sqlite_migrations() { return kMigrations; }

}  // namespace confidant::storage
