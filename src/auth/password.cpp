#include "auth/password.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

#include "auth/sodium.hpp"

namespace confidant::auth {

static_assert(PasswordSettings{}.opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
static_assert(PasswordSettings{}.memlimit == crypto_pwhash_MEMLIMIT_INTERACTIVE);

namespace {

// Passwords are wiped from memory once hashed or checked.
void wipe(std::string& s) {
    if (!s.empty()) {
        sodium_memzero(s.data(), s.size());
    }
}

}  // namespace

PasswordHasher::PasswordHasher(PasswordSettings settings, BlockingPool& pool,
                               std::size_t max_waiting)
    : settings_(settings), pool_(pool), max_waiting_(max_waiting) {
    detail::ensure_sodium();
    if (settings_.opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
        settings_.memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
        throw std::invalid_argument("argon2id limits below libsodium's minimum");
    }
}

std::string PasswordHasher::hash_blocking(std::string& password) const {
    std::array<char, crypto_pwhash_STRBYTES> out{};
    const int rc =
        crypto_pwhash_str_alg(out.data(), password.data(), password.size(), settings_.opslimit,
                              settings_.memlimit, crypto_pwhash_ALG_ARGON2ID13);
    wipe(password);
    if (rc != 0) {
        throw std::runtime_error("argon2id: out of memory");
    }
    return std::string(out.data());
}

bool PasswordHasher::verify_blocking(const std::string& hash, std::string& password) {
    // crypto_pwhash_str_verify reads a NUL-terminated string of at most STRBYTES.
    if (hash.size() >= crypto_pwhash_STRBYTES || hash.find('\0') != std::string::npos) {
        wipe(password);
        return false;
    }
    std::array<char, crypto_pwhash_STRBYTES> str{};
    hash.copy(str.data(), hash.size());
    const bool ok = crypto_pwhash_str_verify(str.data(), password.data(), password.size()) == 0;
    wipe(password);
    return ok;
}

namespace {
Error queue_full() {
    return make_error(ErrorCode::not_ready, "too many password checks in progress; try again", 1);
}
}  // namespace

bool PasswordHasher::enter() {
    const std::size_t before = in_flight_.fetch_add(1, std::memory_order_relaxed);
    if (max_waiting_ != 0 && before >= max_waiting_ + pool_.size()) {
        leave();
        refused_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

Task<Result<std::string>> PasswordHasher::hash(std::string password) {
    if (!enter()) {
        co_return queue_full();
    }
    struct Leave {
        PasswordHasher* h;
        ~Leave() { h->leave(); }
    } guard{this};
    co_return co_await pool_.run([this, &password] { return hash_blocking(password); });
}

Task<Result<bool>> PasswordHasher::verify(std::string hash, std::string password) {
    if (!enter()) {
        wipe(password);
        co_return queue_full();
    }
    struct Leave {
        PasswordHasher* h;
        ~Leave() { h->leave(); }
    } guard{this};
    co_return co_await pool_.run([&hash, &password] { return verify_blocking(hash, password); });
}

Task<Result<void>> PasswordHasher::burn_verify() {
    if (!enter()) {
        co_return queue_full();
    }
    struct Leave {
        PasswordHasher* h;
        ~Leave() { h->leave(); }
    } guard{this};
    co_await pool_.run([this] {
        // A hash with the current settings, made once, so the burn costs what a real verify of
        // a current hash costs.
        std::call_once(dummy_once_, [this] {
            std::string dummy = "confidant-dummy-password";
            dummy_hash_ = hash_blocking(dummy);
        });
        std::string attempt = "not-the-dummy-password";
        verify_blocking(dummy_hash_, attempt);
    });
    co_return Result<void>{};
}

bool PasswordHasher::needs_rehash(const std::string& hash) const {
    if (hash.size() >= crypto_pwhash_STRBYTES || hash.find('\0') != std::string::npos) {
        return true;
    }
    return crypto_pwhash_str_needs_rehash(hash.c_str(), settings_.opslimit, settings_.memlimit) !=
           0;
}

}  // namespace confidant::auth
