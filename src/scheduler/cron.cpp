#include "scheduler/cron.hpp"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cctype>
#include <vector>

namespace confidant::scheduler {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"SUN", "MON", "TUE", "WED",
                                                           "THU", "FRI", "SAT"};

/// What one field accepts. Values outside [low, high] are rejected; `names[i]` stands for
/// `names_base + i`.
struct FieldSpec {
    std::string_view name;
    int low;
    int high;
    const std::string_view* names = nullptr;
    std::size_t name_count = 0;
    int names_base = 0;
    std::string_view name_kind = {};
};

constexpr FieldSpec kMinute{"minute", 0, 59};
constexpr FieldSpec kHour{"hour", 0, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), kMonthNames.size(), 1, "month"};
constexpr FieldSpec kDayOfWeek{"day-of-week",        0, 7,        kWeekdayNames.data(),
                               kWeekdayNames.size(), 0, "weekday"};

Error field_error(const FieldSpec& spec, std::string message) {
    return make_error(ErrorCode::bad_request, fmt::format("{}: {}", spec.name, message));
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool all_digits(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

/// One value of a field: a number in range or (for months and weekdays) a name.
Result<int> parse_value(const FieldSpec& spec, std::string_view s) {
    if (s.empty()) {
        return field_error(spec, "a value is missing");
    }
    if (all_digits(s)) {
        // More than 3 digits is out of every field's range; avoids overflow on long inputs.
        const int v = s.size() > 3 ? 1000 : std::stoi(std::string(s));
        if (v < spec.low || v > spec.high) {
            return field_error(spec,
                               fmt::format("{} is out of range {}..{}", s, spec.low, spec.high));
        }
        return v;
    }
    for (std::size_t i = 0; i < spec.name_count; ++i) {
        if (equals_ignore_case(s, spec.names[i])) {
            return spec.names_base + static_cast<int>(i);
        }
    }
    if (spec.name_count > 0) {
        return field_error(
            spec, fmt::format("'{}' is neither a number nor a {} name", s, spec.name_kind));
    }
    return field_error(spec, fmt::format("'{}' is not a number", s));
}

/// One comma-separated item: `*`, `n`, `a-b`, `*/step` or `a-b/step`.
Result<std::uint64_t> parse_item(const FieldSpec& spec, std::string_view item) {
    if (item.empty()) {
        return field_error(spec, "empty list item");
    }
    std::string_view range = item;
    int step = 1;
    const auto slash = item.find('/');
    const bool stepped = slash != std::string_view::npos;
    if (stepped) {
        range = item.substr(0, slash);
        const std::string_view step_text = item.substr(slash + 1);
        if (!all_digits(step_text)) {
            return field_error(spec, fmt::format("step '{}' is not a number", step_text));
        }
        step = step_text.size() > 3 ? 1000 : std::stoi(std::string(step_text));
        if (step == 0) {
            return field_error(spec, "step 0 is invalid");
        }
    }
    int first = spec.low;
    int last = spec.high;
    if (range == "*") {
        if (&spec == &kDayOfWeek) {
            last = 6;  // 7 is Sunday again, already covered by 0
        }
    } else {
        const auto dash = range.find('-');
        if (dash == std::string_view::npos) {
            if (stepped) {
                return field_error(
                    spec, fmt::format("a step needs '*' or a range before it ('{}')", item));
            }
            auto v = parse_value(spec, range);
            if (!v) {
                return v.error();
            }
            first = last = *v;
        } else {
            auto a = parse_value(spec, range.substr(0, dash));
            if (!a) {
                return a.error();
            }
            auto b = parse_value(spec, range.substr(dash + 1));
            if (!b) {
                return b.error();
            }
            if (*a > *b) {
                return field_error(spec, fmt::format("range {} is reversed", range));
            }
            first = *a;
            last = *b;
        }
    }
    std::uint64_t mask = 0;
    for (int v = first; v <= last; v += step) {
        mask |= std::uint64_t{1} << v;
    }
    return mask;
}

Result<std::uint64_t> parse_field(const FieldSpec& spec, std::string_view text) {
    std::uint64_t mask = 0;
    std::size_t start = 0;
    for (;;) {
        const auto comma = text.find(',', start);
        const auto item =
            text.substr(start, comma == std::string_view::npos ? comma : comma - start);
        auto bits = parse_item(spec, item);
        if (!bits) {
            return bits.error();
        }
        mask |= *bits;
        if (comma == std::string_view::npos) {
            break;
        }
        start = comma + 1;
    }
    if (&spec == &kDayOfWeek && (mask & (std::uint64_t{1} << 7)) != 0) {
        mask = (mask & ~(std::uint64_t{1} << 7)) | 1;  // 7 is Sunday
    }
    return mask;
}

std::vector<std::string_view> split_fields(std::string_view text) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        }
        if (i > start) {
            fields.push_back(text.substr(start, i - start));
        }
    }
    return fields;
}

/// The lowest set bit of `mask` at or above `from`, or -1.
int next_bit(std::uint64_t mask, unsigned from) {
    if (from >= 64) {
        return -1;
    }
    const std::uint64_t rest = mask >> from;
    return rest == 0 ? -1 : static_cast<int>(from) + std::countr_zero(rest);
}

unsigned days_in(int y, unsigned m) {
    return static_cast<unsigned>(year_month_day_last(year{y} / month{m} / last).day());
}

}  // namespace

Result<CronExpr> CronExpr::parse(std::string_view text) {
    const auto fields = split_fields(text);
    if (fields.size() != 5) {
        return make_error(ErrorCode::bad_request,
                          fmt::format("cron: expected 5 fields (minute hour day-of-month month "
                                      "day-of-week), got {}",
                                      fields.size()));
    }
    CronExpr e;
    const FieldSpec* specs[5] = {&kMinute, &kHour, &kDayOfMonth, &kMonth, &kDayOfWeek};
    std::uint64_t masks[5] = {};
    for (int i = 0; i < 5; ++i) {
        auto m = parse_field(*specs[i], fields[i]);
        if (!m) {
            return m.error();
        }
        masks[i] = *m;
    }
    e.minutes_ = masks[0];
    e.hours_ = static_cast<std::uint32_t>(masks[1]);
    e.days_ = static_cast<std::uint32_t>(masks[2]);
    e.months_ = static_cast<std::uint32_t>(masks[3]);
    e.weekdays_ = static_cast<std::uint32_t>(masks[4]);
    e.dom_star_ = fields[2].front() == '*';
    e.dow_star_ = fields[4].front() == '*';
    e.text_ = fmt::format("{} {} {} {} {}", fields[0], fields[1], fields[2], fields[3], fields[4]);
    return e;
}

bool CronExpr::day_matches(int y, unsigned m, unsigned d) const {
    const bool dom = ((days_ >> d) & 1U) != 0;
    const unsigned wd = weekday(sys_days(year{y} / month{m} / day{d})).c_encoding();
    const bool dow = ((weekdays_ >> wd) & 1U) != 0;
    // Vixie cron: with a `*` in either field the two must both match (the `*` one always
    // does, unless it is `*/n`); with both restricted, either one is enough.
    if (dom_star_ || dow_star_) {
        return dom && dow;
    }
    return dom || dow;
}

bool CronExpr::matches(TimePoint t) const {
    const auto minute_start = floor<minutes>(t);
    const auto day_start = floor<days>(minute_start);
    const year_month_day ymd(day_start);
    const auto tod = minute_start - day_start;
    const auto h = static_cast<unsigned>(duration_cast<hours>(tod).count());
    const auto mi = static_cast<unsigned>((tod - hours(h)).count());
    return ((months_ >> static_cast<unsigned>(ymd.month())) & 1U) != 0 &&
           day_matches(static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day())) &&
           ((hours_ >> h) & 1U) != 0 && ((minutes_ >> mi) & 1U) != 0;
}

std::optional<CronExpr::TimePoint> CronExpr::next_after(TimePoint t) const {
    const auto start = floor<minutes>(t) + minutes(1);
    const auto day_start = floor<days>(start);
    const year_month_day ymd(day_start);
    const auto tod = start - day_start;
    int y = static_cast<int>(ymd.year());
    unsigned mo = static_cast<unsigned>(ymd.month());
    unsigned d = static_cast<unsigned>(ymd.day());
    unsigned h = static_cast<unsigned>(duration_cast<hours>(tod).count());
    unsigned mi = static_cast<unsigned>((tod - hours(h)).count());
    const int last_year = y + 400;

    // Each step either returns or moves the candidate forward to the next value the failing
    // field could take, resetting the smaller fields to their start.
    for (;;) {
        if (y > last_year) {
            return std::nullopt;
        }
        if (((months_ >> mo) & 1U) == 0) {
            const int next = next_bit(months_, mo + 1);
            if (next < 0) {
                ++y;
                mo = static_cast<unsigned>(next_bit(months_, 1));
            } else {
                mo = static_cast<unsigned>(next);
            }
            d = 1;
            h = 0;
            mi = 0;
            continue;
        }
        if (d > days_in(y, mo)) {
            if (++mo == 13) {
                mo = 1;
                ++y;
            }
            d = 1;
            h = 0;
            mi = 0;
            continue;
        }
        if (!day_matches(y, mo, d)) {
            ++d;
            h = 0;
            mi = 0;
            continue;
        }
        if (((hours_ >> h) & 1U) == 0) {
            const int next = next_bit(hours_, h + 1);
            if (next < 0) {
                ++d;
                h = 0;
            } else {
                h = static_cast<unsigned>(next);
            }
            mi = 0;
            continue;
        }
        if (((minutes_ >> mi) & 1U) == 0) {
            const int next = next_bit(minutes_, mi + 1);
            if (next < 0) {
                mi = 0;
                if (++h == 24) {
                    h = 0;
                    ++d;
                }
            } else {
                mi = static_cast<unsigned>(next);
            }
            continue;
        }
        return sys_days(year{y} / month{mo} / day{d}) + hours(h) + minutes(mi);
    }
}

}  // namespace confidant::scheduler
