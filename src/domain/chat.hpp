#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "llm/provider.hpp"
#include "storage/database.hpp"

namespace confidant::cache {
class Cached;
}
namespace confidant::ratelimit {
class RateLimiter;
}
namespace confidant::queue {
class Queue;
}

namespace confidant::domain {

class Users;
struct Profile;
class TurnReservation;

struct ChatSettings {
    int history_context_messages = 20;
    long chat_rate_limit_per_minute = 60;
    std::chrono::seconds history_ttl{600};
    std::chrono::hours idempotency_ttl{24};
    /// How long a reserved Idempotency-Key stays held by a request that never finishes (its
    /// instance died): longer than any model call may take.
    std::chrono::seconds idempotency_lease{180};
    std::string default_persona =
        "You are Confidant, a warm, attentive companion. You remember what the user tells you and "
        "answer briefly and kindly.";
};

/// A message as clients see it.
std::string message_json(const storage::Message& m);

/// What the API answers for a chat turn: the API.md body, already rendered.
struct ChatAnswer {
    std::string body;  ///< {"message","reply","model","tts_job_id"?}
    storage::Message message;
    storage::Message reply;
    std::string model;
    llm::Usage usage;
    std::string finish_reason;
    std::optional<std::int64_t> tts_job_id;
};

/// A turn that passed the checks and is ready to be generated.
struct PreparedTurn {
    storage::UserId user_id = 0;
    std::string text;
    std::optional<std::string> idempotency_key;
    /// Set when an earlier request with the same Idempotency-Key already answered: its body.
    std::optional<std::string> replay;
    llm::CompletionRequest request;
    /// Speak the reply: a TTS job is enqueued in the transaction that stores the exchange.
    bool speak = false;
    /// Holds this turn's place in the in-flight count, and its Idempotency-Key reservation in
    /// the database, until the exchange is stored; dropped unfinished (the model failed, the
    /// client left), it gives the key back.
    std::shared_ptr<TurnReservation> reservation;
};

/// The companion's conversation rules: quotas, rate limit, idempotency, prompt assembly,
/// history, and storing an exchange only when the reply succeeded.
///
/// History reads go through the cache: `hist:<user>` holds the newest 200 messages (plus
/// whether older ones exist) for the first history page, and `turn:<user>:<day>` what a chat
/// turn reads (today's sent count and the prompt context, one store call on a miss). Every
/// write to a user's history deletes those two keys (never a pattern scan).
class Chat {
  public:
    Chat(storage::Database& db, Users& users, llm::Provider& provider, cache::Cached* cached,
         ratelimit::RateLimiter* limiter, const ChatSettings& settings,
         const Clock& clock = Clock::real());

    /// Where `speak` turns enqueue their TTS jobs (null: `speak` is ignored).
    void set_queue(queue::Queue* queue) { queue_ = queue; }

    /// Reserves the Idempotency-Key (or finds the earlier answer to replay), checks the rate
    /// limit and the daily quota, and assembles the prompt from the profile's persona and name.
    /// Errors: conflict (a request with the same key is running, on any instance),
    /// quota_exceeded / rate_limited (with retry_after).
    Task<Result<PreparedTurn>> prepare(const Profile& profile, std::string text,
                                       std::optional<std::string> idempotency_key);
    /// Generates the reply (streaming deltas to `on_delta` when given) and stores the exchange.
    /// Error: llm_unavailable with retry_after; nothing is stored then.
    Task<Result<ChatAnswer>> generate(PreparedTurn turn, llm::DeltaSink on_delta = {});

    Task<storage::HistoryPage> history(storage::UserId user, int limit,
                                       std::optional<storage::MessageId> before);
    /// Deletes the user's messages and replay records; today's usage stays.
    Task<void> clear_history(storage::UserId user);
    /// Messages the user sent today (UTC, the durable counter), plus ones being answered now.
    Task<long> used_today(storage::UserId user);

    std::string model() const { return provider_.model(); }
    static std::string history_key(storage::UserId user);

  private:
    struct Recent {
        std::vector<storage::Message> messages;  // oldest first, at most kRecent
        bool more = false;
    };
    static constexpr int kRecent = 200;
    Task<Recent> recent(storage::UserId user);
    /// What a turn reads before calling the model, cached together under `turn:<user>:<day>`
    /// and loaded in one store call: today's sent count and the prompt context.
    struct TurnState {
        std::int64_t used = 0;  // today's usage counter
        std::vector<storage::Message> recent;  // oldest first, HISTORY_CONTEXT_MESSAGES
    };
    Task<TurnState> turn_state(storage::UserId user);
    std::string turn_key(storage::UserId user) const;
    /// `sent` plus the user's turns being answered now.
    long with_inflight(storage::UserId user, long sent);
    /// Deletes every cached view of the user's history (exact keys, never a pattern scan).
    Task<void> invalidate_history(storage::UserId user);
    UnixSeconds now() const;

    storage::Database& db_;
    Users& users_;
    llm::Provider& provider_;
    cache::Cached* cached_;
    ratelimit::RateLimiter* limiter_;
    queue::Queue* queue_ = nullptr;
    ChatSettings settings_;
    const Clock& clock_;

    // Turns being answered now, per user: counted against the quota so a burst of parallel
    // requests cannot overrun it on this instance.
    std::mutex inflight_mutex_;
    std::unordered_map<storage::UserId, int> inflight_;
    friend class TurnReservation;
};

}  // namespace confidant::domain
