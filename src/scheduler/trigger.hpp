#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "scheduler/cron.hpp"

namespace confidant::scheduler {

using TimePoint = std::chrono::system_clock::time_point;

/// When a job runs: a cron expression (UTC), a fixed interval, once at start-up, or never
/// (`off`: the job exists, can be run by hand, and has no ticks). Immutable value; thread-safe.
///
/// Interval ticks are anchored to the Unix epoch (`@every 5m` ticks at :00, :05, ...), so every
/// instance computes the same tick times and the per-tick claim means the same thing everywhere.
class Trigger {
  public:
    enum class Kind { cron, every, startup, off };

    static Trigger cron(CronExpr expr);
    /// `interval` must be positive (a precondition: std::invalid_argument otherwise).
    static Trigger every(std::chrono::seconds interval);
    static Trigger startup();
    static Trigger off();

    Kind kind() const noexcept { return kind_; }
    /// The interval of an `every` trigger (zero otherwise).
    std::chrono::seconds interval() const noexcept { return interval_; }
    /// The expression of a `cron` trigger (nullptr otherwise).
    const CronExpr* cron_expr() const noexcept { return cron_ ? &*cron_ : nullptr; }

    /// The first tick strictly after `t`: a whole minute for cron, a multiple of the interval
    /// since the epoch for `every`. Nullopt for `startup` and `off` (they have no ticks in
    /// time) and for a cron expression that never matches.
    std::optional<TimePoint> next_after(TimePoint t) const;

    /// For the status API: "cron 0 3 * * *", "every 300s", "startup", "off".
    std::string to_string() const;

  private:
    Trigger() = default;

    Kind kind_ = Kind::off;
    std::optional<CronExpr> cron_;
    std::chrono::seconds interval_{0};
};

/// Parses the value of a `SCHEDULE_<JOB_ID>` variable: a 5-field cron expression,
/// `@every <n>s|m|h`, `@startup` or `off` (surrounding blanks ignored; `@every`, `@startup` and
/// `off` case-insensitive). An error value (bad_request) explains what is wrong; the caller
/// prefixes the variable's name.
Result<Trigger> parse_schedule(std::string_view value);

}  // namespace confidant::scheduler
