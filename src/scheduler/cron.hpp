#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace confidant::scheduler {

/// A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC,
/// with Vixie cron's rules:
/// - each field is a comma list of `*`, `n`, `a-b`, `*/step` or `a-b/step`;
/// - months accept JAN..DEC and weekdays SUN..SAT (case-insensitive, also inside ranges);
///   0 and 7 are both Sunday;
/// - day-of-month and day-of-week: when both are restricted (neither field starts with `*`) a
///   day matches when EITHER matches; when one starts with `*` (also `*/2`) only the other
///   counts.
/// Immutable value; thread-safe.
class CronExpr {
  public:
    using TimePoint = std::chrono::system_clock::time_point;

    /// Parses `text`. An invalid expression is an error value (code bad_request) whose message
    /// names the field, e.g. "day-of-month: 32 is out of range 1..31".
    static Result<CronExpr> parse(std::string_view text);

    /// The first whole minute strictly after `t` that matches; nullopt when no minute matches
    /// within 400 years (e.g. `0 0 30 2 *`). Skips by field (month, day, hour, minute), so a
    /// yearly expression costs a few hundred steps at most.
    std::optional<TimePoint> next_after(TimePoint t) const;

    /// True when the minute containing `t` matches.
    bool matches(TimePoint t) const;

    /// The expression as parsed, fields separated by single spaces ("0 3 * * *").
    const std::string& text() const noexcept { return text_; }

  private:
    CronExpr() = default;
    bool day_matches(int year, unsigned month, unsigned day) const;

    std::uint64_t minutes_ = 0;   ///< bit m: minute m (0..59)
    std::uint32_t hours_ = 0;     ///< bit h: hour h (0..23)
    std::uint32_t days_ = 0;      ///< bit d: day of month d (1..31)
    std::uint32_t months_ = 0;    ///< bit m: month m (1..12)
    std::uint32_t weekdays_ = 0;  ///< bit w: weekday w (0..6, Sunday = 0)
    bool dom_star_ = false;       ///< the day-of-month field starts with `*`
    bool dow_star_ = false;       ///< the day-of-week field starts with `*`
    std::string text_;
};

}  // namespace confidant::scheduler
