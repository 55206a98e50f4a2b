#pragma once

#include <optional>
#include <string>

#include "core/time.hpp"
#include "storage/ops/messages.hpp"

namespace confidant::storage {

/// What reserving an Idempotency-Key found.
struct IdempotencyReservation {
    enum class State {
        reserved,     ///< the key is now held by the caller, who calls the model
        in_progress,  ///< another request holds it (on any instance) and has not finished
        replay,       ///< an earlier request finished: `exchange` and `model` are its answer
    };
    State state = State::reserved;
    std::optional<StoredExchange> exchange;
    std::string model;
};

namespace ops {

/// Reserves (user, key) atomically. A finished record written at or after `not_before` is a
/// replay; a reservation whose `reserved_until` has not passed is in progress; anything older
/// (a finished record past its time, or a reservation whose holder died) is taken over.
/// AppendExchange with the key completes the reservation; ReleaseIdempotencyKey drops it.
struct ReserveIdempotencyKey {
    static constexpr const char* kName = "reserve_idempotency_key";
    static constexpr bool kWrites = true;
    using Result = IdempotencyReservation;
    UserId user_id = 0;
    std::string key;
    UnixSeconds at = 0;
    UnixSeconds reserved_until = 0;
    UnixSeconds not_before = 0;
};

/// Drops an unfinished reservation (the model call failed); a finished record stays.
struct ReleaseIdempotencyKey {
    static constexpr const char* kName = "release_idempotency_key";
    static constexpr bool kWrites = true;
    using Result = bool;  ///< whether a reservation was dropped
    UserId user_id = 0;
    std::string key;
};

/// Retention: deletes records created before `before` whose reservation has also passed;
/// returns how many.
struct PurgeIdempotencyBefore {
    static constexpr const char* kName = "purge_idempotency";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    UnixSeconds before = 0;
};

}  // namespace ops
}  // namespace confidant::storage
