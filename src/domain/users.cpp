#include "domain/users.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "cache/cached.hpp"
#include "core/json_writer.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace confidant::domain {

Profile Profile::of(const storage::User& u) {
    return Profile{u.id,           u.username,      u.role,      u.display_name,
                   u.companion_persona, u.premium_until, u.created_at};
}

namespace {

// The cached form: "P1|<id>|<premium_until or ->|<created_at>|" then username, role,
// display_name and persona, each as "<byte length>:<bytes>". Length prefixes let any text
// through unescaped, and decoding is a handful of from_chars calls (every request reads it).
constexpr std::string_view kProfileTag = "P1|";

void append_field(std::string& out, std::string_view s) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
}

bool read_int(std::string_view& in, char end, std::int64_t& out) {
    const auto* first = in.data();
    const auto* last = in.data() + in.size();
    auto [p, ec] = std::from_chars(first, last, out);
    if (ec != std::errc() || p == last || *p != end) {
        return false;
    }
    in.remove_prefix(static_cast<std::size_t>(p - first) + 1);
    return true;
}

bool read_field(std::string_view& in, std::string& out) {
    std::int64_t n = 0;
    if (!read_int(in, ':', n) || n < 0 || static_cast<std::size_t>(n) > in.size()) {
        return false;
    }
    out.assign(in.substr(0, static_cast<std::size_t>(n)));
    in.remove_prefix(static_cast<std::size_t>(n));
    return true;
}

}  // namespace

std::string encode_profile(const Profile& p) {
    std::string out;
    out.reserve(64 + p.username.size() + p.display_name.size() + p.companion_persona.size());
    out += kProfileTag;
    out += std::to_string(p.id);
    out += '|';
    out += p.premium_until ? std::to_string(*p.premium_until) : "-";
    out += '|';
    out += std::to_string(p.created_at);
    out += '|';
    append_field(out, p.username);
    append_field(out, p.role);
    append_field(out, p.display_name);
    append_field(out, p.companion_persona);
    return out;
}

std::optional<Profile> decode_profile(std::string_view in) {
    if (!in.starts_with(kProfileTag)) {
        return std::nullopt;
    }
    in.remove_prefix(kProfileTag.size());
    Profile p;
    if (!read_int(in, '|', p.id)) {
        return std::nullopt;
    }
    if (in.starts_with("-|")) {
        in.remove_prefix(2);
    } else {
        std::int64_t until = 0;
        if (!read_int(in, '|', until)) {
            return std::nullopt;
        }
        p.premium_until = until;
    }
    if (!read_int(in, '|', p.created_at) || !read_field(in, p.username) ||
        !read_field(in, p.role) || !read_field(in, p.display_name) ||
        !read_field(in, p.companion_persona) || !in.empty() || p.id <= 0) {
        return std::nullopt;
    }
    return p;
}

Users::Users(storage::Database& db, auth::PasswordHasher& hasher, const auth::JwtCodec& jwt,
             cache::Cached* cached, ratelimit::RateLimiter& limiter, const UserSettings& settings,
             const Clock& clock)
    : db_(db),
      hasher_(hasher),
      jwt_(jwt),
      cached_(cached),
      limiter_(limiter),
      settings_(settings),
      clock_(clock) {}

std::string Users::profile_key(storage::UserId id) { return "user:" + std::to_string(id); }

UnixSeconds Users::now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.system_now().time_since_epoch())
        .count();
}

std::string Users::render(const Profile& p) const {
    std::string out;
    out.reserve(160 + p.username.size() + p.display_name.size() + p.companion_persona.size());
    out += R"({"id":)";
    out += std::to_string(p.id);
    out += R"(,"username":)";
    append_json_string(out, p.username);
    out += R"(,"role":)";
    append_json_string(out, p.role);
    out += R"(,"display_name":)";
    append_json_string(out, p.display_name);
    out += R"(,"companion_persona":)";
    append_json_string(out, p.companion_persona);
    out += R"(,"is_premium":)";
    out += p.is_premium(now()) ? "true" : "false";
    out += R"(,"premium_until":)";
    if (p.premium_until) {
        append_json_string(out, format_rfc3339(*p.premium_until));
    } else {
        out += "null";
    }
    out += R"(,"created_at":)";
    append_json_string(out, format_rfc3339(p.created_at));
    out += '}';
    return out;
}

long Users::messages_per_day(const Profile& p) const { return messages_per_day(p.is_premium(now())); }

AuthResult Users::issue(Profile profile) const {
    AuthResult r;
    auto claims = jwt_.issue(std::to_string(profile.id), profile.role, settings_.token_ttl);
    r.access_token = jwt_.sign(claims);
    r.expires_in = static_cast<long>(settings_.token_ttl.count());
    r.profile = std::move(profile);
    return r;
}

Task<Result<AuthResult>> Users::register_user(std::string username, std::string password,
                                              std::string_view client) {
    if (settings_.registrations_per_hour > 0) {
        auto d = co_await limiter_.hit("register:" + std::string(client),
                                       settings_.registrations_per_hour, std::chrono::hours(1));
        if (!d.allowed) {
            co_return make_error(ErrorCode::rate_limited,
                                 "too many registrations from this address; try again later",
                                 std::max<long>(1, d.retry_after_s));
        }
    }
    // Cheap pre-check so a taken name does not cost an argon2id hash; the UNIQUE constraint
    // still decides races.
    if (co_await db_.run<storage::ops::FindUserByName>(username)) {
        co_return make_error(ErrorCode::conflict, "username is taken");
    }
    auto hash = co_await hasher_.hash(std::move(password));
    if (!hash) {
        co_return hash.error();
    }
    storage::NewUser nu;
    nu.username = std::move(username);
    nu.password_hash = std::move(*hash);
    nu.display_name = nu.username;
    auto created = co_await db_.run<storage::ops::CreateUser>(std::move(nu), now());
    if (!created) {
        co_return created.error();
    }
    co_return issue(Profile::of(*created));
}

Task<Result<void>> Users::check_login_allowed(const std::string& username,
                                              std::string_view client) {
    if (settings_.login_failures_per_window <= 0) {
        co_return Result<void>{};
    }
    long wait = 0;
    const std::array<std::string, 2> keys{"login:user:" + username,
                                          "login:addr:" + std::string(client)};
    for (const std::string& key : keys) {
        auto d = co_await limiter_.peek(key, settings_.login_failures_per_window,
                                        settings_.login_failure_window);
        if (!d.allowed) {
            wait = std::max(wait, std::max<long>(1, d.retry_after_s));
        }
    }
    if (wait > 0) {
        co_return make_error(ErrorCode::rate_limited,
                             "too many failed logins; try again later", wait);
    }
    co_return Result<void>{};
}

Task<void> Users::count_login_failure(const std::string& username, std::string_view client) {
    if (settings_.login_failures_per_window <= 0) {
        co_return;
    }
    const std::array<std::string, 2> keys{"login:user:" + username,
                                          "login:addr:" + std::string(client)};
    for (const std::string& key : keys) {
        co_await limiter_.hit(key, settings_.login_failures_per_window,
                              settings_.login_failure_window);
    }
}

Task<Result<AuthResult>> Users::login(std::string username, std::string password,
                                      std::string_view client) {
    if (auto allowed = co_await check_login_allowed(username, client); !allowed) {
        co_return allowed.error();
    }
    auto user = co_await db_.run<storage::ops::FindUserByName>(username);
    if (!user) {
        auto burned = co_await hasher_.burn_verify();
        if (!burned) {
            co_return burned.error();
        }
        co_await count_login_failure(username, client);
        co_return make_error(ErrorCode::unauthorized, "wrong username or password");
    }
    auto ok = co_await hasher_.verify(user->password_hash, std::move(password));
    if (!ok) {
        co_return ok.error();
    }
    if (!*ok) {
        co_await count_login_failure(username, client);
        co_return make_error(ErrorCode::unauthorized, "wrong username or password");
    }
    co_return issue(Profile::of(*user));
}

Task<void> Users::ensure_admin(std::string username, std::string password) {
    if (co_await db_.run<storage::ops::FindUserByName>(username)) {
        co_return;
    }
    storage::NewUser nu;
    nu.username = username;
    nu.password_hash = (co_await hasher_.hash(std::move(password))).value();
    nu.role = "admin";
    nu.display_name = username;
    auto created = co_await db_.run<storage::ops::CreateUser>(std::move(nu), now());
    if (created) {
        spdlog::info("created admin user \"{}\" (id {})", username, created->id);
    } else if (created.error().code != ErrorCode::conflict) {
        throw ErrorException(created.error());
    }
}

Task<std::optional<std::string>> Users::load_profile(storage::UserId id) {
    auto user = co_await db_.run<storage::ops::FindUser>(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return encode_profile(Profile::of(*user));
}

Task<std::optional<Profile>> Users::profile(storage::UserId id) {
    if (cached_ == nullptr) {
        auto encoded = co_await load_profile(id);
        co_return encoded ? decode_profile(*encoded) : std::nullopt;
    }
    auto key = profile_key(id);
    cache::Cached::OptionalLoader loader = [this, id] { return load_profile(id); };
    auto encoded = co_await cached_->get_or_load_optional(key, settings_.profile_ttl, loader);
    if (!encoded) {
        co_return std::nullopt;
    }
    if (auto p = decode_profile(*encoded)) {
        co_return p;
    }
    // Another version's entry (an older instance shares the cache) or damage: reload once.
    co_await cached_->invalidate_key(key);
    encoded = co_await load_profile(id);
    co_return encoded ? decode_profile(*encoded) : std::nullopt;
}

Task<std::optional<storage::User>> Users::find(storage::UserId id) {
    co_return co_await db_.run<storage::ops::FindUser>(id);
}

Task<void> Users::invalidate(storage::UserId id) {
    if (cached_ != nullptr) {
        co_await cached_->invalidate_key(profile_key(id));
    }
}

Task<std::optional<Profile>> Users::update_profile(storage::UserId id,
                                                   storage::ProfilePatch patch) {
    auto user = co_await db_.run<storage::ops::UpdateProfile>(id, std::move(patch));
    co_await invalidate(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return Profile::of(*user);
}

Task<std::optional<Profile>> Users::set_premium(storage::UserId id,
                                                std::optional<UnixSeconds> until) {
    auto user = co_await db_.run<storage::ops::SetPremiumUntil>(id, until);
    co_await invalidate(id);
    if (!user) {
        co_return std::nullopt;
    }
    co_return Profile::of(*user);
}

Task<int> Users::warm_up(int count) {
    if (cached_ == nullptr || count <= 0) {
        co_return 0;
    }
    auto users = co_await db_.run<storage::ops::RecentlyActiveUsers>(count);
    int loaded = 0;
    for (const auto& u : users) {
        // The loader hands over the row already read, so warm-up costs one query in all.
        // (A named loader: GCC 12 destroys captures of a lambda written inside co_await twice.)
        cache::Cached::OptionalLoader loader =
            [value = encode_profile(Profile::of(u))]() -> Task<std::optional<std::string>> {
            co_return value;
        };
        co_await cached_->get_or_load_optional(profile_key(u.id), settings_.profile_ttl,
                                               std::move(loader));
        ++loaded;
    }
    co_return loaded;
}

}  // namespace confidant::domain
