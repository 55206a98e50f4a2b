#include <algorithm>
#include <limits>

#include "storage/sqlite/sqlite_ops.hpp"

namespace confidant::storage::sqlite {

namespace {

Message read_message(const Statement& s, int first = 0) {
    Message m;
    m.id = s.column_int64(first);
    m.user_id = s.column_int64(first + 1);
    m.role = s.column_text(first + 2);
    m.content = s.column_text(first + 3);
    m.created_at = s.column_int64(first + 4);
    return m;
}

Message insert_message(Connection& c, UserId user, std::string_view role,
                       const std::string& content, UnixSeconds at) {
    auto s = c.prepare(
        "INSERT INTO chat_history (user_id, role, content, created_at) VALUES (?1, ?2, ?3, ?4) "
        "RETURNING id");
    s.bind(1, user).bind(2, role).bind(3, content).bind(4, at);
    s.step();
    Message m;
    m.id = s.column_int64(0);
    m.user_id = user;
    m.role = std::string(role);
    m.content = content;
    m.created_at = at;
    s.exec();
    return m;
}

HistoryPage read_history(Connection& c, UserId user, int limit, std::optional<MessageId> before) {
    const std::int64_t wanted = std::max(limit, 0);
    // One row more than asked tells exactly whether older messages exist.
    auto s = c.prepare(
        "SELECT id, user_id, role, content, created_at FROM chat_history "
        "WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3");
    s.bind(1, user)
        .bind(2, before.value_or(std::numeric_limits<MessageId>::max()))
        .bind(3, wanted + 1);
    HistoryPage page;
    while (s.step()) {
        if (static_cast<std::int64_t>(page.messages.size()) == wanted) {
            page.has_more = true;
            break;
        }
        page.messages.push_back(read_message(s));
    }
    std::reverse(page.messages.begin(), page.messages.end());
    return page;
}

std::int64_t usage_on(Connection& c, UserId user, std::int64_t day) {
    auto s = c.prepare("SELECT messages FROM usage_daily WHERE user_id = ?1 AND day = ?2");
    s.bind(1, user).bind(2, day);
    return s.step() ? s.column_int64(0) : 0;
}

}  // namespace

ops::AppendExchange::Result run(Connection& c, const ops::AppendExchange& op) {
    StoredExchange out;
    out.message = insert_message(c, op.user_id, "user", op.user_text, op.at);
    out.reply = insert_message(c, op.user_id, "assistant", op.reply_text, op.at);
    c.prepare(
         "INSERT INTO usage_daily (user_id, day, messages) VALUES (?1, ?2, 1) "
         "ON CONFLICT (user_id, day) DO UPDATE SET messages = messages + 1")
        .bind(1, op.user_id)
        .bind(2, utc_day(op.at))
        .exec();
    // MAX keeps last_active_at from moving backwards when exchanges finish out of order.
    c.prepare(
         "UPDATE users SET last_active_at = MAX(COALESCE(last_active_at, ?1), ?1) "
         "WHERE id = ?2")
        .bind(1, op.at)
        .bind(2, op.user_id)
        .exec();
    if (op.idempotency_key) {
        c.prepare(
             "UPDATE idempotency_keys SET state = 'done', user_message_id = ?3, "
             "reply_message_id = ?4, model = ?5 WHERE user_id = ?1 AND key = ?2")
            .bind(1, op.user_id)
            .bind(2, *op.idempotency_key)
            .bind(3, out.message.id)
            .bind(4, out.reply.id)
            .bind(5, op.model)
            .exec();
    }
    return out;
}

ops::History::Result run(Connection& c, const ops::History& op) {
    return read_history(c, op.user_id, op.limit, op.before);
}

ops::LoadTurnContext::Result run(Connection& c, const ops::LoadTurnContext& op) {
    TurnContext t;
    t.used_today = usage_on(c, op.user_id, op.day);
    t.recent = read_history(c, op.user_id, op.limit, std::nullopt).messages;
    return t;
}

ops::DeleteHistory::Result run(Connection& c, const ops::DeleteHistory& op) {
    c.prepare("DELETE FROM chat_history WHERE user_id = ?1").bind(1, op.user_id).exec();
    const std::int64_t deleted = c.changes();
    // Replay records would bring deleted messages back through Idempotency-Key.
    c.prepare("DELETE FROM idempotency_keys WHERE user_id = ?1").bind(1, op.user_id).exec();
    return deleted;
}

ops::PurgeMessagesBefore::Result run(Connection& c, const ops::PurgeMessagesBefore& op) {
    c.prepare(
         "DELETE FROM chat_history WHERE id IN "
         "(SELECT id FROM chat_history WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)")
        .bind(1, op.before)
        .bind(2, op.limit)
        .exec();
    return c.changes();
}

ops::UsageOn::Result run(Connection& c, const ops::UsageOn& op) {
    return usage_on(c, op.user_id, op.day);
}

ops::PurgeUsageBefore::Result run(Connection& c, const ops::PurgeUsageBefore& op) {
    c.prepare("DELETE FROM usage_daily WHERE day < ?1").bind(1, op.day).exec();
    return c.changes();
}

}  // namespace confidant::storage::sqlite
