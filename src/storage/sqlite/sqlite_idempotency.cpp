#include "storage/sqlite/sqlite_ops.hpp"

namespace confidant::storage::sqlite {

namespace {

std::optional<Message> find_message(Connection& c, UserId user, std::optional<std::int64_t> id) {
    if (!id) {
        return std::nullopt;
    }
    auto s = c.prepare(
        "SELECT id, user_id, role, content, created_at FROM chat_history "
        "WHERE id = ?1 AND user_id = ?2");
    s.bind(1, *id).bind(2, user);
    if (!s.step()) {
        return std::nullopt;
    }
    Message m{s.column_int64(0), s.column_int64(1), s.column_text(2), s.column_text(3),
              s.column_int64(4)};
    return m;
}

}  // namespace

ops::ReserveIdempotencyKey::Result run(Connection& c, const ops::ReserveIdempotencyKey& op) {
    using State = IdempotencyReservation::State;
    IdempotencyReservation out;
    {
        auto s = c.prepare(
            "SELECT state, user_message_id, reply_message_id, model, created_at, reserved_until "
            "FROM idempotency_keys WHERE user_id = ?1 AND key = ?2");
        s.bind(1, op.user_id).bind(2, op.key);
        if (s.step()) {
            const std::string state = s.column_text(0);
            const auto user_message = s.column_optional_int64(1);
            const auto reply_message = s.column_optional_int64(2);
            std::string model = s.column_text(3);
            const UnixSeconds created_at = s.column_int64(4);
            const UnixSeconds reserved_until = s.column_int64(5);
            s.exec();
            if (state == "done" && created_at >= op.not_before) {
                auto message = find_message(c, op.user_id, user_message);
                auto reply = find_message(c, op.user_id, reply_message);
                if (message && reply) {
                    out.state = State::replay;
                    out.exchange = StoredExchange{std::move(*message), std::move(*reply)};
                    out.model = std::move(model);
                    return out;
                }
                // The messages are gone (retention): the record is stale, take it over.
            } else if (state == "pending" && reserved_until > op.at) {
                out.state = State::in_progress;
                return out;
            }
        }
    }
    c.prepare(
         "INSERT INTO idempotency_keys (user_id, key, state, user_message_id, reply_message_id, "
         "model, created_at, reserved_until) VALUES (?1, ?2, 'pending', NULL, NULL, '', ?3, ?4) "
         "ON CONFLICT (user_id, key) DO UPDATE SET state = 'pending', user_message_id = NULL, "
         "reply_message_id = NULL, model = '', created_at = ?3, reserved_until = ?4")
        .bind(1, op.user_id)
        .bind(2, op.key)
        .bind(3, op.at)
        .bind(4, op.reserved_until)
        .exec();
    out.state = State::reserved;
    return out;
}

ops::ReleaseIdempotencyKey::Result run(Connection& c, const ops::ReleaseIdempotencyKey& op) {
    c.prepare("DELETE FROM idempotency_keys WHERE user_id = ?1 AND key = ?2 AND state = 'pending'")
        .bind(1, op.user_id)
        .bind(2, op.key)
        .exec();
    return c.changes() > 0;
}

ops::PurgeIdempotencyBefore::Result run(Connection& c, const ops::PurgeIdempotencyBefore& op) {
    c.prepare("DELETE FROM idempotency_keys WHERE created_at < ?1 AND reserved_until < ?1")
        .bind(1, op.before)
        .exec();
    return c.changes();
}

}  // namespace confidant::storage::sqlite
