#pragma once

#include <cstdint>

#include "storage/ops/users.hpp"

namespace confidant::storage {

/// Days since the Unix epoch (UTC) of `t`: the key of the daily usage counters.
inline std::int64_t utc_day(UnixSeconds t) { return (t - ((t % 86400) + 86400) % 86400) / 86400; }

namespace ops {

/// Messages the user sent on `day` (days since the epoch, UTC), as counted by AppendExchange.
/// The counters are billing records: deleting history does not change them.
struct UsageOn {
    static constexpr const char* kName = "usage_on";
    static constexpr bool kWrites = false;
    using Result = std::int64_t;
    UserId user_id = 0;
    std::int64_t day = 0;
};

/// Retention of the usage counters: deletes the days before `day`; returns how many rows.
struct PurgeUsageBefore {
    static constexpr const char* kName = "purge_usage";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    std::int64_t day = 0;
};

}  // namespace ops
}  // namespace confidant::storage
