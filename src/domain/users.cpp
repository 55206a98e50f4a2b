#include "domain/users.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "cache/cached.hpp"

namespace confidant::domain {

namespace {
// Cached profile value: "<premium_until or 0>|<User JSON>". The prefix lets a reader notice,
// without parsing JSON, that a cached `is_premium: true` has expired since it was cached.
std::string pack(const storage::User& u, const std::string& json) {
    return std::to_string(u.premium_until.value_or(0)) + "|" + json;
}

std::optional<std::string> unpack(std::string_view packed, UnixSeconds now) {
    const auto bar = packed.find('|');
    if (bar == std::string_view::npos) {
        return std::nullopt;
    }
    long long until = 0;
    auto [p, ec] = std::from_chars(packed.data(), packed.data() + bar, until);
    if (ec != std::errc()) {
        return std::nullopt;
    }
    if (until != 0 && until <= now) {
        return std::nullopt;  // rendered while premium; re-render as free
    }
    return std::string(packed.substr(bar + 1));
}
}  // namespace

Users::Users(storage::Store& store, auth::PasswordHasher& hasher, const auth::JwtCodec& jwt,
             cache::Cached* cached, const UserSettings& settings, const Clock& clock)
    : store_(store),
      hasher_(hasher),
      jwt_(jwt),
      cached_(cached),
      settings_(settings),
      clock_(clock) {}

std::string Users::profile_key(storage::UserId id) { return "user:" + std::to_string(id); }

std::string Users::render(const storage::User& u) const {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
            .count();
    boost::json::object o;
    o["id"] = u.id;
    o["username"] = u.username;
    o["role"] = u.role;
    o["display_name"] = u.display_name;
    o["companion_persona"] = u.companion_persona;
    o["is_premium"] = u.is_premium(now);
    if (u.premium_until) {
        o["premium_until"] = format_rfc3339(*u.premium_until);
    } else {
        o["premium_until"] = nullptr;
    }
    o["created_at"] = format_rfc3339(u.created_at);
    return boost::json::serialize(o);
}

long Users::messages_per_day(const storage::User& u) const {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
            .count();
    return u.is_premium(now) ? settings_.premium_messages_per_day : settings_.free_messages_per_day;
}

AuthResult Users::issue(storage::User user) const {
    AuthResult r;
    auto claims = jwt_.issue(std::to_string(user.id), user.role, settings_.token_ttl);
    r.access_token = jwt_.sign(claims);
    r.expires_in = static_cast<long>(settings_.token_ttl.count());
    r.user = std::move(user);
    return r;
}

Task<Result<AuthResult>> Users::register_user(std::string username, std::string password) {
    // Cheap pre-check so a taken name does not cost an argon2id hash; the UNIQUE constraint
    // still decides races.
    if (co_await store_.find_user_by_name(username)) {
        co_return make_error(ErrorCode::conflict, "username is taken");
    }
    storage::NewUser nu;
    nu.username = std::move(username);
    nu.password_hash = co_await hasher_.hash(std::move(password));
    nu.display_name = nu.username;
    auto created = co_await store_.create_user(std::move(nu));
    if (!created) {
        co_return created.error();
    }
    co_return issue(std::move(*created));
}

Task<Result<AuthResult>> Users::login(std::string username, std::string password) {
    auto user = co_await store_.find_user_by_name(std::move(username));
    if (!user) {
        co_await hasher_.burn_verify();
        co_return make_error(ErrorCode::unauthorized, "wrong username or password");
    }
    if (!co_await hasher_.verify(user->password_hash, std::move(password))) {
        co_return make_error(ErrorCode::unauthorized, "wrong username or password");
    }
    co_return issue(std::move(*user));
}

Task<void> Users::ensure_admin(std::string username, std::string password) {
    if (co_await store_.find_user_by_name(username)) {
        co_return;
    }
    storage::NewUser nu;
    nu.username = username;
    nu.password_hash = co_await hasher_.hash(std::move(password));
    nu.role = "admin";
    nu.display_name = username;
    auto created = co_await store_.create_user(std::move(nu));
    if (created) {
        spdlog::info("created admin user \"{}\" (id {})", username, created->id);
    } else if (created.error().code != ErrorCode::conflict) {
        throw ErrorException(created.error());
    }
}

Task<std::optional<std::string>> Users::load_profile(storage::UserId id) {
    auto user = co_await store_.find_user(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return pack(*user, render(*user));
}

Task<std::optional<std::string>> Users::profile_json(storage::UserId id) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
            .count();
    if (cached_ == nullptr) {
        auto packed = co_await load_profile(id);
        co_return packed ? unpack(*packed, now) : std::nullopt;
    }
    auto key = profile_key(id);
    cache::Cached::OptionalLoader loader = [this, id] { return load_profile(id); };
    auto packed = co_await cached_->get_or_load_optional(key, settings_.profile_ttl, loader);
    if (!packed) {
        co_return std::nullopt;
    }
    if (auto json = unpack(*packed, now)) {
        co_return json;
    }
    // A premium period ended while the profile was cached: reload once.
    co_await cached_->invalidate_key(key);
    packed = co_await cached_->get_or_load_optional(key, settings_.profile_ttl, loader);
    co_return packed ? unpack(*packed, now) : std::nullopt;
}

Task<std::optional<storage::User>> Users::find(storage::UserId id) {
    co_return co_await store_.find_user(id);
}

Task<void> Users::invalidate(storage::UserId id) {
    if (cached_ != nullptr) {
        co_await cached_->invalidate_key(profile_key(id));
    }
}

Task<std::optional<std::string>> Users::update_profile(storage::UserId id,
                                                       storage::ProfilePatch patch) {
    auto user = co_await store_.update_profile(id, std::move(patch));
    co_await invalidate(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return render(*user);
}

Task<std::optional<std::string>> Users::set_premium(storage::UserId id,
                                                    std::optional<UnixSeconds> until) {
    auto user = co_await store_.set_premium_until(id, until);
    co_await invalidate(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return render(*user);
}

Task<int> Users::warm_up(int count) {
    if (cached_ == nullptr || count <= 0) {
        co_return 0;
    }
    auto users = co_await store_.recently_active_users(count);
    int loaded = 0;
    for (const auto& u : users) {
        // The loader hands over the row already read, so warm-up costs one query in all.
        // (A named loader: GCC 12 destroys captures of a lambda written inside co_await twice.)
        cache::Cached::OptionalLoader loader =
            [value = pack(u, render(u))]() -> Task<std::optional<std::string>> { co_return value; };
        co_await cached_->get_or_load_optional(profile_key(u.id), settings_.profile_ttl,
                                               std::move(loader));
        ++loaded;
    }
    co_return loaded;
}

}  // namespace confidant::domain
