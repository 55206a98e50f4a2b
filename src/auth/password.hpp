#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>

#include "core/blocking_pool.hpp"
#include "core/error.hpp"
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
///
/// The queue in front of the pool is bounded: with `max_waiting` jobs already waiting for a
/// thread (PASSWORD_HASH_QUEUE), a call is refused at once with `not_ready` (retry after 1 s)
/// instead of making every login wait behind a flood. 0 = unbounded.
/// Thread-safe; `pool` must outlive the hasher.
class PasswordHasher {
  public:
    PasswordHasher(PasswordSettings settings, BlockingPool& pool, std::size_t max_waiting = 0);

    /// A new hash with a random salt. Throws std::runtime_error when argon2id cannot allocate
    /// its memory.
    Task<Result<std::string>> hash(std::string password);
    /// True when `password` matches `hash`; false for a wrong password or a malformed hash.
    Task<Result<bool>> verify(std::string hash, std::string password);
    /// Costs what a verify costs and returns nothing: the login path calls it for an unknown
    /// username so that response time does not reveal whether the name exists.
    Task<Result<void>> burn_verify();
    /// Jobs waiting for or running on the pool now.
    std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
    /// Calls refused because the queue was full.
    std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
    /// True when `hash` was made with other parameters than the current settings (the caller
    /// may re-hash after a successful login). Cheap; does not touch the pool.
    bool needs_rehash(const std::string& hash) const;

    const PasswordSettings& settings() const noexcept { return settings_; }

  private:
    std::string hash_blocking(std::string& password) const;
    static bool verify_blocking(const std::string& hash, std::string& password);
    /// Takes a place in the queue, or returns false (counted) when it is full.
    bool enter();
    void leave() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

    PasswordSettings settings_;
    BlockingPool& pool_;
    std::size_t max_waiting_;
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::once_flag dummy_once_;
    std::string dummy_hash_;
};

}  // namespace confidant::auth
