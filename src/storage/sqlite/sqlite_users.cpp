#include "storage/sqlite/sqlite_ops.hpp"

namespace confidant::storage::sqlite {

namespace {

// Every user query selects these columns in this order; see read_user().
#define CONFIDANT_USER_COLUMNS                                                            \
    "id, username, password_hash, role, display_name, companion_persona, premium_until, " \
    "created_at, last_active_at"

User read_user(const Statement& s) {
    User u;
    u.id = s.column_int64(0);
    u.username = s.column_text(1);
    u.password_hash = s.column_text(2);
    u.role = s.column_text(3);
    u.display_name = s.column_text(4);
    u.companion_persona = s.column_text(5);
    u.premium_until = s.column_optional_int64(6);
    u.created_at = s.column_int64(7);
    u.last_active_at = s.column_optional_int64(8);
    return u;
}

std::optional<User> first_user(Statement& s) {
    if (!s.step()) {
        return std::nullopt;
    }
    User u = read_user(s);
    s.exec();  // finish the statement (an UPDATE ... RETURNING completes only when stepped out)
    return u;
}

}  // namespace

ops::CreateUser::Result run(Connection& c, const ops::CreateUser& op) {
    // ON CONFLICT DO NOTHING: a taken name is an outcome, not a failed statement.
    auto s = c.prepare(
        "INSERT INTO users (username, password_hash, role, display_name, "
        "companion_persona, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (username) DO NOTHING RETURNING " CONFIDANT_USER_COLUMNS);
    const NewUser& u = op.user;
    s.bind(1, u.username)
        .bind(2, u.password_hash)
        .bind(3, u.role)
        .bind(4, u.display_name)
        .bind(5, u.companion_persona)
        .bind(6, op.at);
    auto created = first_user(s);
    if (!created) {
        return make_error(ErrorCode::conflict, "username already taken");
    }
    return std::move(*created);
}

ops::FindUser::Result run(Connection& c, const ops::FindUser& op) {
    auto s = c.prepare("SELECT " CONFIDANT_USER_COLUMNS " FROM users WHERE id = ?1");
    s.bind(1, op.id);
    return first_user(s);
}

ops::FindUserByName::Result run(Connection& c, const ops::FindUserByName& op) {
    auto s = c.prepare("SELECT " CONFIDANT_USER_COLUMNS " FROM users WHERE username = ?1");
    s.bind(1, op.username);
    return first_user(s);
}

ops::UpdateProfile::Result run(Connection& c, const ops::UpdateProfile& op) {
    // A NULL parameter keeps the column: COALESCE picks the current value.
    auto s = c.prepare(
        "UPDATE users SET display_name = COALESCE(?1, display_name), "
        "companion_persona = COALESCE(?2, companion_persona) WHERE id = ?3 "
        "RETURNING " CONFIDANT_USER_COLUMNS);
    if (op.patch.display_name) {
        s.bind(1, *op.patch.display_name);
    }
    if (op.patch.companion_persona) {
        s.bind(2, *op.patch.companion_persona);
    }
    s.bind(3, op.id);
    return first_user(s);
}

ops::SetPremiumUntil::Result run(Connection& c, const ops::SetPremiumUntil& op) {
    auto s = c.prepare(
        "UPDATE users SET premium_until = ?1 WHERE id = ?2 RETURNING " CONFIDANT_USER_COLUMNS);
    s.bind(1, op.until).bind(2, op.id);
    return first_user(s);
}

ops::RecentlyActiveUsers::Result run(Connection& c, const ops::RecentlyActiveUsers& op) {
    std::vector<User> users;
    if (op.limit <= 0) {
        return users;
    }
    auto s = c.prepare("SELECT " CONFIDANT_USER_COLUMNS
                       " FROM users WHERE last_active_at IS NOT NULL "
                       "ORDER BY last_active_at DESC, id DESC LIMIT ?1");
    s.bind(1, op.limit);
    while (s.step()) {
        users.push_back(read_user(s));
    }
    return users;
}

#undef CONFIDANT_USER_COLUMNS

}  // namespace confidant::storage::sqlite
