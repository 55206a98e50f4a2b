#pragma once

namespace confidant::auth::detail {

/// Calls sodium_init() once per process; throws std::runtime_error when it fails.
void ensure_sodium();

}  // namespace confidant::auth::detail
