#pragma once

#include <cstddef>
#include <mutex>
#include <string>

#include "core/blocking_pool.hpp"
#include "core/task.hpp"

namespace confidant::auth {

/// argon2id cost. The defaults are libsodium's "interactive" limits
/// (crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE); `fast()` is for
/// tests and `PASSWORD_HASH_PROFILE=fast`.
struct PasswordSettings {
    unsigned long long opslimit = 2;
    std::size_t memlimit = 64 * 1024 * 1024;

    static PasswordSettings fast() { return PasswordSettings{1, 8 * 1024 * 1024}; }
};

/// argon2id password hashing (libsodium's crypto_pwhash_str format, which carries its own salt
/// and parameters). Hashing and verification run on `pool`, never on the awaiting thread.
/// Thread-safe; `pool` must outlive the hasher.
class PasswordHasher {
  public:
    PasswordHasher(PasswordSettings settings, BlockingPool& pool);

    /// A new hash with a random salt. Throws std::runtime_error when argon2id cannot allocate
    /// its memory.
    Task<std::string> hash(std::string password);
    /// True when `password` matches `hash`; false for a wrong password or a malformed hash.
    Task<bool> verify(std::string hash, std::string password);
    /// Costs what a verify costs and returns nothing: the login path calls it for an unknown
    /// username so that response time does not reveal whether the name exists.
    Task<void> burn_verify();
    /// True when `hash` was made with other parameters than the current settings (the caller
    /// may re-hash after a successful login). Cheap; does not touch the pool.
    bool needs_rehash(const std::string& hash) const;

    const PasswordSettings& settings() const noexcept { return settings_; }

  private:
    std::string hash_blocking(std::string& password) const;
    static bool verify_blocking(const std::string& hash, std::string& password);

    PasswordSettings settings_;
    BlockingPool& pool_;
    std::once_flag dummy_once_;
    std::string dummy_hash_;
};

}  // namespace confidant::auth
