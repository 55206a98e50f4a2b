#include "auth/sodium.hpp"

#include <sodium.h>

#include <stdexcept>

namespace confidant::auth::detail {

void ensure_sodium() {
    // sodium_init() is itself thread-safe and idempotent; the static only skips the call.
    static const int rc = sodium_init();
    if (rc < 0) {
        throw std::runtime_error("libsodium initialisation failed");
    }
}

}  // namespace confidant::auth::detail
