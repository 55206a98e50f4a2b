#include "domain/chat.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>

#include "cache/cached.hpp"
#include "core/log_exception.hpp"
#include "domain/speech.hpp"
#include "domain/users.hpp"
#include "queue/queue.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace confidant::domain {

namespace {

boost::json::object message_object(const storage::Message& m) {
    boost::json::object o;
    o["id"] = m.id;
    o["role"] = m.role;
    o["content"] = m.content;
    o["created_at"] = format_rfc3339(m.created_at);
    return o;
}

boost::json::object recent_object(const std::vector<storage::Message>& msgs, bool more) {
    boost::json::array a;
    a.reserve(msgs.size());
    for (const auto& m : msgs) {
        a.push_back(boost::json::array{m.id, m.role, m.content, m.created_at});
    }
    boost::json::object o;
    o["m"] = std::move(a);
    o["more"] = more;
    return o;
}

std::string encode_recent(const std::vector<storage::Message>& msgs, bool more) {
    return boost::json::serialize(recent_object(msgs, more));
}

// A turn's cached reads: `u` is the count of messages sent today, `m` the prompt context.
std::string encode_turn(std::int64_t sent, const std::vector<storage::Message>& msgs) {
    boost::json::object o = recent_object(msgs, false);
    o["u"] = sent;
    return boost::json::serialize(o);
}

std::optional<std::pair<std::vector<storage::Message>, bool>> decode_recent(
    const boost::json::object& o, storage::UserId user) {
    const auto* m = o.if_contains("m");
    const auto* more = o.if_contains("more");
    if (m == nullptr || !m->is_array() || more == nullptr || !more->is_bool()) {
        return std::nullopt;
    }
    std::vector<storage::Message> out;
    out.reserve(m->as_array().size());
    for (const auto& e : m->as_array()) {
        if (!e.is_array() || e.as_array().size() != 4) {
            return std::nullopt;
        }
        const auto& t = e.as_array();
        if (!t[0].is_int64() || !t[1].is_string() || !t[2].is_string() || !t[3].is_int64()) {
            return std::nullopt;
        }
        out.push_back(storage::Message{t[0].as_int64(), user, std::string(t[1].as_string()),
                                       std::string(t[2].as_string()), t[3].as_int64()});
    }
    return std::make_pair(std::move(out), more->as_bool());
}

std::optional<std::pair<std::vector<storage::Message>, bool>> decode_recent(std::string_view s,
                                                                            storage::UserId user) {
    boost::system::error_code ec;
    auto v = boost::json::parse(s, ec);  // (the first history page: rare, and up to 200 rows)
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    return decode_recent(v.as_object(), user);
}

std::optional<std::pair<std::int64_t, std::vector<storage::Message>>> decode_turn(
    std::string_view s, storage::UserId user) {
    // Read on every chat turn: the parsed tree lives in a stack buffer (no heap allocation
    // per value), and only the message texts are copied out.
    std::array<unsigned char, 8192> buffer;
    boost::json::monotonic_resource arena(buffer.data(), buffer.size());
    boost::system::error_code ec;
    auto v = boost::json::parse(s, ec, &arena);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    const auto* u = v.as_object().if_contains("u");
    auto recent = decode_recent(v.as_object(), user);
    if (u == nullptr || !u->is_int64() || !recent) {
        return std::nullopt;
    }
    return std::make_pair(u->as_int64(), std::move(recent->first));
}

// The system instruction: the user's persona or `fallback`, plus their name when they gave one.
std::string system_instruction(const Profile& p, const std::string& fallback) {
    std::string out = p.companion_persona.empty() ? fallback : p.companion_persona;
    if (!p.display_name.empty()) {
        out += "\nThe user's name is " + p.display_name + ".";
    }
    return out;
}

std::string render_exchange(const storage::Message& u, const storage::Message& r,
                            const std::string& model,
                            std::optional<std::int64_t> tts_job_id = std::nullopt) {
    boost::json::object o;
    o["message"] = message_object(u);
    o["reply"] = message_object(r);
    o["model"] = model;
    if (tts_job_id) {
        o["tts_job_id"] = std::to_string(*tts_job_id);
    }
    return boost::json::serialize(o);
}

}  // namespace

std::string message_json(const storage::Message& m) {
    return boost::json::serialize(message_object(m));
}

Chat::Chat(storage::Database& db, Users& users, llm::Provider& provider, cache::Cached* cached,
           ratelimit::RateLimiter* limiter, const ChatSettings& settings, const Clock& clock)
    : db_(db),
      users_(users),
      provider_(provider),
      cached_(cached),
      limiter_(limiter),
      settings_(settings),
      clock_(clock) {}

UnixSeconds Chat::now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
        .count();
}

std::string Chat::history_key(storage::UserId user) { return "hist:" + std::to_string(user); }

namespace {

// `load()`'s encoded value, read through `cached` when there is a cache (stored under `key` for
// `ttl`), decoded by `decode`. An entry that does not decode (another schema, damage) is
// deleted and loaded again, uncached.
template <class T, class Decode>
Task<T> read_through(cache::Cached* cached, std::string key, std::chrono::seconds ttl,
                     cache::Cached::Loader load, Decode decode) {
    std::string encoded;
    if (cached != nullptr) {
        encoded = co_await cached->get_or_load(key, ttl, load);
    } else {
        encoded = co_await load();
    }
    std::optional<T> decoded = decode(encoded);
    if (!decoded && cached != nullptr) {
        co_await cached->invalidate_key(key);
        encoded = co_await load();
        decoded = decode(encoded);
    }
    if (!decoded) {
        throw std::logic_error("chat: a freshly loaded " + key + " does not decode");
    }
    co_return std::move(*decoded);
}

}  // namespace

Task<Chat::Recent> Chat::recent(storage::UserId user) {
    // The first history page (up to kRecent messages), cached as one entry.
    auto load = [this, user]() -> Task<std::string> {
        auto page = co_await db_.run<storage::ops::History>(user, kRecent, std::nullopt);
        co_return encode_recent(page.messages, page.has_more);
    };
    auto decode = [user](std::string_view encoded) -> std::optional<Recent> {
        auto decoded = decode_recent(encoded, user);
        if (!decoded) {
            return std::nullopt;
        }
        return Recent{std::move(decoded->first), decoded->second};
    };
    co_return co_await read_through<Recent>(cached_, history_key(user), settings_.history_ttl, load,
                                            decode);
}

Task<Chat::TurnState> Chat::turn_state(storage::UserId user) {
    const auto t = now();
    const auto day_start = utc_day_start(t);
    const int context_n = std::clamp(settings_.history_context_messages, 0, kRecent);
    auto load = [this, user, day_start, context_n]() -> Task<std::string> {
        storage::TurnContext c = co_await db_.run<storage::ops::LoadTurnContext>(
            user, storage::utc_day(day_start), context_n);
        co_return encode_turn(c.used_today, c.recent);
    };
    auto decode = [user](std::string_view encoded) -> std::optional<TurnState> {
        auto decoded = decode_turn(encoded, user);
        if (!decoded) {
            return std::nullopt;
        }
        return TurnState{decoded->first, std::move(decoded->second)};
    };
    // The key names the day, and lives at most until the day ends.
    const auto ttl = std::chrono::seconds(std::max<long>(1, day_start + 86400 - t));
    co_return co_await read_through<TurnState>(cached_, turn_key(user),
                                               std::min(ttl, settings_.history_ttl), load, decode);
}

Task<void> Chat::invalidate_history(storage::UserId user) {
    if (cached_ == nullptr) {
        co_return;
    }
    std::array<std::string, 2> keys{history_key(user), turn_key(user)};
    for (auto& key : keys) {
        co_await cached_->invalidate_key(std::move(key));
    }
}

std::string Chat::turn_key(storage::UserId user) const {
    return "turn:" + std::to_string(user) + ":" + std::to_string(utc_day_start(now()) / 86400);
}

long Chat::with_inflight(storage::UserId user, long sent) {
    std::lock_guard lock(inflight_mutex_);
    auto it = inflight_.find(user);
    return sent + (it == inflight_.end() ? 0 : it->second);
}

Task<long> Chat::used_today(storage::UserId user) {
    TurnState state = co_await turn_state(user);
    co_return with_inflight(user, static_cast<long>(state.used));
}

// A turn's hold on the in-flight count of its user, and on its Idempotency-Key in the database.
// Destroyed without complete() (the model failed, the client left, a fault), it gives the key
// back, so that a retry with the key can run instead of waiting for the reservation to lapse.
class TurnReservation {
  public:
    TurnReservation(Chat& chat, storage::UserId user, boost::asio::any_io_executor executor)
        : chat_(chat), user_(user), executor_(std::move(executor)) {
        std::lock_guard lock(chat_.inflight_mutex_);
        ++chat_.inflight_[user_];
    }
    TurnReservation(const TurnReservation&) = delete;
    TurnReservation& operator=(const TurnReservation&) = delete;
    ~TurnReservation() {
        {
            std::lock_guard lock(chat_.inflight_mutex_);
            if (--chat_.inflight_[user_] == 0) {
                chat_.inflight_.erase(user_);
            }
        }
        if (key_) {
            boost::asio::co_spawn(
                executor_, release(chat_.db_, user_, std::move(*key_)),
                [](std::exception_ptr e) { log_if_exception("idempotency key release", e); });
        }
    }

    void hold_key(std::string key) { key_ = std::move(key); }
    /// The exchange stored the key as answered: nothing to give back.
    void complete() { key_.reset(); }
    /// Gives the key back now (before an error answer, so a retry finds it free).
    Task<void> release_now() {
        if (key_) {
            std::string key = std::move(*key_);
            key_.reset();
            co_await release(chat_.db_, user_, std::move(key));
        }
    }

  private:
    static Task<void> release(storage::Database& db, storage::UserId user, std::string key) {
        co_await db.run<storage::ops::ReleaseIdempotencyKey>(user, std::move(key));
    }

    Chat& chat_;
    storage::UserId user_;
    boost::asio::any_io_executor executor_;
    std::optional<std::string> key_;
};

Task<Result<PreparedTurn>> Chat::prepare(const Profile& profile, std::string text,
                                         std::optional<std::string> idempotency_key) {
    const storage::UserId user = profile.id;
    PreparedTurn turn;
    turn.user_id = user;
    turn.idempotency_key = idempotency_key;
    const auto t = now();
    turn.reservation = std::make_shared<TurnReservation>(
        *this, user, co_await boost::asio::this_coro::executor);
    if (idempotency_key) {
        // Reserved in the database before anything else: a second request with the key, on
        // any instance, sees it held (409) while this one runs, and the answer afterwards.
        const auto ttl =
            std::chrono::duration_cast<std::chrono::seconds>(settings_.idempotency_ttl).count();
        auto r = co_await db_.run<storage::ops::ReserveIdempotencyKey>(
            user, *idempotency_key, t, t + settings_.idempotency_lease.count(), t - ttl);
        using State = storage::IdempotencyReservation::State;
        if (r.state == State::replay) {
            turn.replay = render_exchange(r.exchange->message, r.exchange->reply, r.model);
            turn.reservation.reset();
            co_return turn;
        }
        if (r.state == State::in_progress) {
            turn.reservation.reset();
            co_return make_error(ErrorCode::conflict,
                                 "a request with this Idempotency-Key is in progress");
        }
        turn.reservation->hold_key(*idempotency_key);
    }
    if (limiter_ != nullptr) {
        const std::string key = "chat:" + std::to_string(user);
        auto d = co_await limiter_->hit(key, settings_.chat_rate_limit_per_minute,
                                        std::chrono::seconds(60));
        if (!d.allowed) {
            co_await turn.reservation->release_now();
            co_return make_error(ErrorCode::rate_limited, "too many messages; slow down",
                                 std::max<long>(1, d.retry_after_s));
        }
    }
    const long limit = users_.messages_per_day(profile);
    TurnState state = co_await turn_state(user);
    const long used = with_inflight(user, static_cast<long>(state.used));  // includes this turn
    if (used > limit) {
        co_await turn.reservation->release_now();
        const long retry = utc_day_start(t) + 86400 - t;
        co_return make_error(ErrorCode::quota_exceeded,
                             "daily message quota of " + std::to_string(limit) + " reached",
                             std::max<long>(1, retry));
    }

    turn.request.system_instruction = system_instruction(profile, settings_.default_persona);
    // turn_state() read HISTORY_CONTEXT_MESSAGES messages, but a shared cache may hold an entry
    // written by an instance configured for more: keep the newest n.
    const auto n = static_cast<std::size_t>(std::max(0, settings_.history_context_messages));
    const auto& ctx = state.recent;
    const std::size_t from = ctx.size() > n ? ctx.size() - n : 0;
    for (std::size_t i = from; i < ctx.size(); ++i) {
        const auto& m = ctx[i];
        if (m.role == "assistant" || m.role == "broadcast") {
            turn.request.contents.push_back({llm::Turn::Role::model, m.content});
        } else {
            turn.request.contents.push_back({llm::Turn::Role::user, m.content});
        }
    }
    turn.request.contents.push_back({llm::Turn::Role::user, text});
    turn.text = std::move(text);
    co_return turn;
}

Task<Result<ChatAnswer>> Chat::generate(PreparedTurn turn, llm::DeltaSink on_delta) {
    // No co_await inside ?: here: GCC 12 destroys the result of such an expression twice.
    llm::LlmResult<llm::Completion> completion = llm::ProviderError{};
    if (on_delta) {
        completion = co_await provider_.stream(turn.request, std::move(on_delta));
    } else {
        completion = co_await provider_.complete(turn.request);
    }
    if (!completion) {
        const auto& e = completion.error();
        long retry = 5;
        if (e.retry_after) {
            retry = std::max<long>(1, static_cast<long>((e.retry_after->count() + 999) / 1000));
        }
        spdlog::warn("chat for user {}: model call failed ({}: {})", turn.user_id,
                     llm::to_string(e.kind), e.message);
        if (turn.reservation) {
            co_await turn.reservation->release_now();
        }
        co_return make_error(ErrorCode::llm_unavailable,
                             "the companion cannot answer right now; try again later", retry);
    }
    ChatAnswer answer;
    answer.model = completion->model.empty() ? provider_.model() : completion->model;
    answer.usage = completion->usage;
    answer.finish_reason = completion->finish_reason;
    storage::ops::AppendExchange ex;
    ex.user_id = turn.user_id;
    ex.user_text = turn.text;
    ex.reply_text = completion->text;
    ex.at = now();
    ex.idempotency_key = turn.idempotency_key;
    ex.model = answer.model;
    const std::string reply_text = ex.reply_text;
    storage::Transaction tx;
    const auto stored_slot = tx.add(std::move(ex));
    // The reply's speech is enqueued with the exchange: both are stored or neither.
    std::optional<storage::Slot<storage::ops::EnqueueJob>> tts_slot;
    if (turn.speak && queue_ != nullptr) {
        tts_slot = queue_->enqueue_in(tx, Speech::job_for(turn.user_id, reply_text, std::nullopt));
    }
    co_await db_.execute(tx);
    if (turn.reservation) {
        turn.reservation->complete();
    }
    storage::StoredExchange stored = tx.take(stored_slot);
    if (tts_slot) {
        answer.tts_job_id = tx.take(*tts_slot).id;
        queue_->notify();
    }
    co_await invalidate_history(turn.user_id);
    answer.body = render_exchange(stored.message, stored.reply, answer.model, answer.tts_job_id);
    answer.message = std::move(stored.message);
    answer.reply = std::move(stored.reply);
    co_return answer;
}

Task<storage::HistoryPage> Chat::history(storage::UserId user, int limit,
                                         std::optional<storage::MessageId> before) {
    if (before || limit > kRecent) {
        co_return co_await db_.run<storage::ops::History>(user, limit, before);
    }
    auto r = co_await recent(user);
    storage::HistoryPage page;
    const auto n = static_cast<std::size_t>(limit);
    const std::size_t from = r.messages.size() > n ? r.messages.size() - n : 0;
    page.messages.assign(
        std::make_move_iterator(r.messages.begin() + static_cast<std::ptrdiff_t>(from)),
        std::make_move_iterator(r.messages.end()));
    page.has_more = from > 0 || r.more;
    co_return page;
}

Task<void> Chat::clear_history(storage::UserId user) {
    co_await db_.run<storage::ops::DeleteHistory>(user);
    co_await invalidate_history(user);
}

}  // namespace confidant::domain
