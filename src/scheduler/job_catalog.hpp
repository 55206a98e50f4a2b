#pragma once

#include <array>
#include <string_view>

namespace confidant::scheduler {

/// A scheduled job of Confidant (API.md's ids) and its schedule unless `SCHEDULE_<JOB_ID>`
/// overrides it (parse_schedule syntax).
struct CatalogJob {
    std::string_view id;
    std::string_view default_schedule;
};

/// Every job `SCHEDULE_<JOB_ID>` may name. partition_maintenance runs on PostgreSQL only.
inline constexpr std::array<CatalogJob, 6> kJobCatalog = {{
    {"chat_history_cleanup", "0 3 * * *"},
    {"subscription_expiry", "@every 1h"},
    {"cache_metrics", "@every 5m"},
    {"cache_warmup", "@startup"},
    {"partition_maintenance", "30 2 * * *"},
    {"cognitive_cycle", "0 4 * * *"},
}};

}  // namespace confidant::scheduler
