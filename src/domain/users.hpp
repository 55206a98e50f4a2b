#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "storage/database.hpp"

namespace confidant::auth {
class JwtCodec;
class PasswordHasher;
}  // namespace confidant::auth

namespace confidant::cache {
class Cached;
}
namespace confidant::ratelimit {
class RateLimiter;
}

namespace confidant::domain {

/// The user as a request sees them (no password hash): who they are, their role, plan and
/// persona. Cached under `user:<id>`; the plan is worked out from `premium_until` at the moment
/// it is asked for, so a cached profile is never stale about a subscription that has ended.
struct Profile {
    storage::UserId id = 0;
    std::string username;
    std::string role;  ///< "user" | "admin"
    std::string display_name;
    std::string companion_persona;
    std::optional<UnixSeconds> premium_until;
    UnixSeconds created_at = 0;

    bool is_admin() const { return role == "admin"; }
    bool is_premium(UnixSeconds now) const { return premium_until && *premium_until > now; }

    static Profile of(const storage::User& user);
};

/// The cache's form of a profile (compact, versioned) and back; nullopt for anything else
/// (another version's entry, damage).
std::string encode_profile(const Profile& p);
std::optional<Profile> decode_profile(std::string_view encoded);

struct UserSettings {
    std::chrono::seconds token_ttl{86400};
    std::chrono::seconds profile_ttl{600};  ///< CACHE_TTL_SECONDS
    long free_messages_per_day = 50;
    long premium_messages_per_day = 1000;
    /// Failed logins per username and per client address within the window; past it, 429 for
    /// every attempt (a correct password too) until the window lets one through. 0 = off.
    long login_failures_per_window = 5;
    std::chrono::seconds login_failure_window{900};
    /// Registrations per client address per hour. 0 = off.
    long registrations_per_hour = 20;
};

struct AuthResult {
    Profile profile;
    std::string access_token;
    long expires_in = 0;
};

/// Accounts, profiles and subscriptions: the product rules, over the database and the cache.
/// The profile is cached (encode_profile) under `user:<id>` and invalidated on every write.
class Users {
  public:
    /// `cached` may be null (no cache). `limiter` counts login failures and registrations
    /// (in-process, or shared through Redis); it must outlive the Users.
    Users(storage::Database& db, auth::PasswordHasher& hasher, const auth::JwtCodec& jwt,
          cache::Cached* cached, ratelimit::RateLimiter& limiter, const UserSettings& settings,
          const Clock& clock = Clock::real());

    /// Errors: conflict (the username is taken), rate_limited (too many registrations from
    /// `client`), not_ready (the password queue is full). Lengths are validated by the caller.
    Task<Result<AuthResult>> register_user(std::string username, std::string password,
                                           std::string_view client);
    /// Errors: unauthorized on a wrong username or password (same message, similar time),
    /// rate_limited once the username or `client` has failed too often, not_ready (the
    /// password queue is full).
    Task<Result<AuthResult>> login(std::string username, std::string password,
                                   std::string_view client);
    /// Creates the admin from ADMIN_USERNAME/ADMIN_PASSWORD unless the user exists.
    Task<void> ensure_admin(std::string username, std::string password);

    /// The profile, from the cache; nullopt when the user does not exist.
    Task<std::optional<Profile>> profile(storage::UserId id);
    Task<std::optional<storage::User>> find(storage::UserId id);
    Task<std::optional<Profile>> update_profile(storage::UserId id, storage::ProfilePatch patch);
    Task<std::optional<Profile>> set_premium(storage::UserId id, std::optional<UnixSeconds> until);
    /// Drops the cached profile (after any write that changes it).
    Task<void> invalidate(storage::UserId id);
    /// Loads the profiles of the most recently active users into the cache; returns how many.
    Task<int> warm_up(int count);

    /// The daily message quota of the profile's plan as of now.
    long messages_per_day(const Profile& p) const;
    long messages_per_day(bool premium) const {
        return premium ? settings_.premium_messages_per_day : settings_.free_messages_per_day;
    }
    /// The API `User` JSON of the profile as of now.
    std::string render(const Profile& p) const;
    UnixSeconds now() const;

    static std::string profile_key(storage::UserId id);

  private:
    AuthResult issue(Profile profile) const;
    Task<std::optional<std::string>> load_profile(storage::UserId id);
    /// rate_limited when the username or the client has failed too often.
    Task<Result<void>> check_login_allowed(const std::string& username, std::string_view client);
    Task<void> count_login_failure(const std::string& username, std::string_view client);

    storage::Database& db_;
    auth::PasswordHasher& hasher_;
    const auth::JwtCodec& jwt_;
    cache::Cached* cached_;
    ratelimit::RateLimiter& limiter_;
    UserSettings settings_;
    const Clock& clock_;
};

}  // namespace confidant::domain
