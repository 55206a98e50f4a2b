#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "storage/ops/users.hpp"

namespace confidant::storage {

using MessageId = std::int64_t;

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

/// What a chat turn reads before calling the model: the day's usage and the prompt context.
struct TurnContext {
    std::int64_t used_today = 0;  ///< the usage counter of the day asked for
    std::vector<Message> recent;  ///< the newest `limit` messages, oldest first
};

/// A stored exchange: the user's message and the reply (ids increase in that order).
struct StoredExchange {
    Message message;
    Message reply;
};

namespace ops {

/// Stores the user's message and the reply (ids increase in that order, both at `at`), adds
/// one to the user's usage counter for the UTC day of `at`, moves last_active_at forward, and,
/// with a key, completes the idempotency record reserved for (user, key) so that it refers to
/// the two messages and `model`. Throws when the user does not exist.
struct AppendExchange {
    static constexpr const char* kName = "append_exchange";
    static constexpr bool kWrites = true;
    using Result = StoredExchange;
    UserId user_id = 0;
    std::string user_text;
    std::string reply_text;
    UnixSeconds at = 0;
    std::optional<std::string> idempotency_key;
    std::string model;
};

/// The newest `limit` messages (or those with id < *before), returned oldest first.
struct History {
    static constexpr const char* kName = "history";
    static constexpr bool kWrites = false;
    using Result = HistoryPage;
    UserId user_id = 0;
    int limit = 50;
    std::optional<MessageId> before;
};

/// The usage counter of `day` (days since the epoch, UTC) and the newest `limit` messages, in
/// one round trip.
struct LoadTurnContext {
    static constexpr const char* kName = "turn_context";
    static constexpr bool kWrites = false;
    using Result = TurnContext;
    UserId user_id = 0;
    std::int64_t day = 0;
    int limit = 20;
};

/// Deletes all of the user's messages and idempotency records (not the usage counters);
/// returns how many messages.
struct DeleteHistory {
    static constexpr const char* kName = "delete_history";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    UserId user_id = 0;
};

/// Retention: deletes at most `limit` messages created before `before` (the oldest first);
/// returns how many. Callers loop until fewer than `limit` come back, so that no single
/// transaction holds the writer for long.
struct PurgeMessagesBefore {
    static constexpr const char* kName = "purge_messages";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    UnixSeconds before = 0;
    std::int64_t limit = 1000;
};

}  // namespace ops
}  // namespace confidant::storage
