#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "storage/store.hpp"

namespace confidant::auth {
class JwtCodec;
class PasswordHasher;
}  // namespace confidant::auth

namespace confidant::cache {
class Cached;
}

namespace confidant::domain {

struct UserSettings {
    std::chrono::seconds token_ttl{86400};
    std::chrono::seconds profile_ttl{600};  ///< CACHE_TTL_SECONDS
    long free_messages_per_day = 50;
    long premium_messages_per_day = 1000;
};

struct AuthResult {
    storage::User user;
    std::string access_token;
    long expires_in = 0;
};

/// Accounts, profiles and subscriptions: the product rules, over the Store and the cache.
/// The profile is cached as the rendered API `User` JSON under `user:<id>` (its TTL never
/// outlives a premium expiry, so `is_premium` is never stale) and invalidated on every write.
class Users {
  public:
    Users(storage::Store& store, auth::PasswordHasher& hasher, const auth::JwtCodec& jwt,
          cache::Cached* cached, const UserSettings& settings, const Clock& clock = Clock::real());

    /// Conflict when the username is taken. Lengths are validated by the caller.
    Task<Result<AuthResult>> register_user(std::string username, std::string password);
    /// Unauthorized on a wrong username or password (same message, similar time).
    Task<Result<AuthResult>> login(std::string username, std::string password);
    /// Creates the admin from ADMIN_USERNAME/ADMIN_PASSWORD unless the user exists.
    Task<void> ensure_admin(std::string username, std::string password);

    /// The API `User` JSON, from the cache; nullopt when the user does not exist.
    Task<std::optional<std::string>> profile_json(storage::UserId id);
    Task<std::optional<storage::User>> find(storage::UserId id);
    Task<std::optional<std::string>> update_profile(storage::UserId id,
                                                    storage::ProfilePatch patch);
    Task<std::optional<std::string>> set_premium(storage::UserId id,
                                                 std::optional<UnixSeconds> until);
    /// Drops the cached profile (after any write that changes it).
    Task<void> invalidate(storage::UserId id);
    /// Loads the profiles of the most recently active users into the cache; returns how many.
    Task<int> warm_up(int count);

    long messages_per_day(const storage::User& user) const;
    long messages_per_day(bool premium) const {
        return premium ? settings_.premium_messages_per_day : settings_.free_messages_per_day;
    }
    /// The API `User` JSON of `user` as of now.
    std::string render(const storage::User& user) const;

    static std::string profile_key(storage::UserId id);

  private:
    AuthResult issue(storage::User user) const;
    Task<std::optional<std::string>> load_profile(storage::UserId id);

    storage::Store& store_;
    auth::PasswordHasher& hasher_;
    const auth::JwtCodec& jwt_;
    cache::Cached* cached_;
    UserSettings settings_;
    const Clock& clock_;
};

}  // namespace confidant::domain
