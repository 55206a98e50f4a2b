#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace confidant::storage {

using UserId = std::int64_t;

struct User {
    UserId id = 0;
    std::string username;
    std::string password_hash;  ///< argon2id string (libsodium's crypto_pwhash_str format)
    std::string role;           ///< "user" or "admin"
    std::string display_name;
    std::string companion_persona;
    std::optional<UnixSeconds> premium_until;
    UnixSeconds created_at = 0;
    std::optional<UnixSeconds> last_active_at;

    bool is_premium(UnixSeconds now) const { return premium_until && *premium_until > now; }
};

struct NewUser {
    std::string username;
    std::string password_hash;
    std::string role = "user";
    std::string display_name;
    std::string companion_persona;
};

struct ProfilePatch {
    std::optional<std::string> display_name;
    std::optional<std::string> companion_persona;
};

/// Operations of the users area. Each is one step of a Transaction (storage/transaction.hpp);
/// `Result` is what it yields, `kWrites` whether it changes the database.
namespace ops {

/// Conflict (ErrorCode::conflict) when the username is taken (case-sensitive); then nothing
/// is written and the transaction goes on.
struct CreateUser {
    static constexpr const char* kName = "create_user";
    static constexpr bool kWrites = true;
    using Result = confidant::Result<User>;
    NewUser user;
    UnixSeconds at = 0;  ///< created_at
};

struct FindUser {
    static constexpr const char* kName = "find_user";
    static constexpr bool kWrites = false;
    using Result = std::optional<User>;
    UserId id = 0;
};

struct FindUserByName {
    static constexpr const char* kName = "find_user_by_name";
    static constexpr bool kWrites = false;
    using Result = std::optional<User>;
    std::string username;
};

/// Applies the set fields; nullopt when the user does not exist.
struct UpdateProfile {
    static constexpr const char* kName = "update_profile";
    static constexpr bool kWrites = true;
    using Result = std::optional<User>;
    UserId id = 0;
    ProfilePatch patch;
};

/// Sets or clears premium_until; nullopt when the user does not exist.
struct SetPremiumUntil {
    static constexpr const char* kName = "set_premium_until";
    static constexpr bool kWrites = true;
    using Result = std::optional<User>;
    UserId id = 0;
    std::optional<UnixSeconds> until;
};

/// The users with the most recent last_active_at (newest first), for cache warm-up.
struct RecentlyActiveUsers {
    static constexpr const char* kName = "recently_active_users";
    static constexpr bool kWrites = false;
    using Result = std::vector<User>;
    int limit = 0;
};

}  // namespace ops
}  // namespace confidant::storage
