#pragma once

#include <chrono>
#include <string>

#include "core/time.hpp"
#include "scheduler/trigger.hpp"

namespace confidant::scheduler::test {

/// A UTC time point from its calendar fields.
inline TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
    using namespace std::chrono;
    return sys_days(year{y} / month{mo} / day{d}) + hours(h) + minutes(mi) + seconds(s);
}

/// RFC 3339, for readable assertion messages.
inline std::string str(TimePoint t) {
    return format_rfc3339(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count());
}

}  // namespace confidant::scheduler::test
