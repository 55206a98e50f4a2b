#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/task.hpp"
#include "core/time.hpp"

namespace confidant::storage {

using UserId = std::int64_t;
using MessageId = std::int64_t;

struct User {
    UserId id = 0;
    std::string username;
    std::string password_hash;  ///< argon2id string (libsodium's crypto_pwhash_str format)
    std::string role;           ///< "user" or "admin"
    std::string display_name;
    std::string companion_persona;
    std::optional<UnixSeconds> premium_until;
    UnixSeconds created_at = 0;
    std::optional<UnixSeconds> last_active_at;

    bool is_premium(UnixSeconds now) const { return premium_until && *premium_until > now; }
};

struct NewUser {
    std::string username;
    std::string password_hash;
    std::string role = "user";
    std::string display_name;
    std::string companion_persona;
};

struct ProfilePatch {
    std::optional<std::string> display_name;
    std::optional<std::string> companion_persona;
};

struct Message {
    MessageId id = 0;
    UserId user_id = 0;
    std::string role;  ///< "user", "assistant" or "broadcast"
    std::string content;
    UnixSeconds created_at = 0;
};

struct HistoryPage {
    std::vector<Message> messages;  ///< oldest first
    bool has_more = false;          ///< whether messages older than the first one exist
};

/// What a chat turn reads before calling the model: the quota count and the prompt context.
struct TurnContext {
    std::int64_t sent_since = 0;  ///< messages with role "user" at or after `since`
    std::vector<Message> recent;  ///< the newest `limit` messages, oldest first
};

/// A finished exchange to store atomically: the user's message, the reply, and (optionally)
/// the response to replay for a repeated Idempotency-Key.
struct Exchange {
    UserId user_id = 0;
    std::string user_text;
    std::string reply_text;
    UnixSeconds at = 0;
    /// With a key, `make_response(user_msg, reply_msg)` is called inside the transaction (on
    /// the store's thread) and its result stored as the response to replay for that key.
    std::optional<std::string> idempotency_key;
    std::function<std::string(const Message&, const Message&)> make_response;
};

/// The persistence interface. Every call is asynchronous; backends never block the calling
/// (I/O) thread: SQLite runs on a BlockingPool, PostgreSQL is awaited. Methods throw on faults
/// (database unreachable, corrupt); expected outcomes (not found, conflict) are values.
/// Thread-safe: any number of coroutines may call concurrently.
class Store {
  public:
    virtual ~Store() = default;

    /// Applies pending migrations; returns the schema version after.
    virtual Task<int> migrate() = 0;
    /// Throws when the database cannot answer a trivial query.
    virtual Task<void> ping() = 0;

    /// Conflict (ErrorCode::conflict) when the username is taken (case-sensitive).
    virtual Task<Result<User>> create_user(NewUser user) = 0;
    virtual Task<std::optional<User>> find_user(UserId id) = 0;
    virtual Task<std::optional<User>> find_user_by_name(std::string username) = 0;
    /// Applies the set fields; nullopt when the user does not exist.
    virtual Task<std::optional<User>> update_profile(UserId id, ProfilePatch patch) = 0;
    /// Sets or clears premium_until; nullopt when the user does not exist.
    virtual Task<std::optional<User>> set_premium_until(UserId id,
                                                        std::optional<UnixSeconds> until) = 0;
    /// The users with the most recent last_active_at (newest first), for cache warm-up.
    virtual Task<std::vector<User>> recently_active_users(int limit) = 0;

    /// Stores the user message and the reply in one transaction (ids increase in that order),
    /// updates the user's last_active_at and, with a key, the idempotency record. Returns the
    /// two stored messages.
    virtual Task<std::pair<Message, Message>> append_exchange(Exchange exchange) = 0;
    /// The stored response for (user, key) written at or after `not_before`, if any.
    virtual Task<std::optional<std::string>> find_idempotent_response(UserId user, std::string key,
                                                                      UnixSeconds not_before) = 0;

    /// Newest `limit` messages (or those with id < *before), returned oldest first.
    virtual Task<HistoryPage> history(UserId user, int limit, std::optional<MessageId> before) = 0;
    /// Deletes all of the user's messages; returns how many.
    virtual Task<std::int64_t> delete_history(UserId user) = 0;
    /// Number of messages with role "user" the user sent at or after `since`.
    virtual Task<std::int64_t> count_user_messages_since(UserId user, UnixSeconds since) = 0;
    /// count_user_messages_since(user, since) and history(user, limit).messages in one call,
    /// so that a backend can answer both in one round trip (SQLite: one pool job).
    virtual Task<TurnContext> turn_context(UserId user, UnixSeconds since, int limit) {
        TurnContext t;
        t.sent_since = co_await count_user_messages_since(user, since);
        HistoryPage page = co_await history(user, limit, std::nullopt);
        t.recent = std::move(page.messages);
        co_return t;
    }
    /// Retention: deletes messages older than `before`; returns how many.
    virtual Task<std::int64_t> delete_messages_before(UnixSeconds before) = 0;
};

}  // namespace confidant::storage
