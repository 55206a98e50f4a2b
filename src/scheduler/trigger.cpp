#include "scheduler/trigger.hpp"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>

namespace confidant::scheduler {
namespace {

using namespace std::chrono;

constexpr std::string_view kExpected =
    "expected a 5-field cron expression, @every <n>s|m|h, @startup or off";

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

Result<Trigger> parse_every(std::string_view rest) {
    const std::string_view arg = trim(rest);
    const auto bad = [&] {
        return make_error(ErrorCode::bad_request,
                          fmt::format("@every: expected a positive whole number followed by s, m "
                                      "or h (e.g. @every 5m), got '{}'",
                                      arg));
    };
    if (arg.size() < 2) {
        return bad();
    }
    const std::string_view digits = arg.substr(0, arg.size() - 1);
    for (const char c : digits) {
        if (c < '0' || c > '9') {
            return bad();
        }
    }
    // Ten digits of hours would already be centuries: refuse rather than overflow.
    if (digits.size() > 9) {
        return bad();
    }
    const long long n = std::stoll(std::string(digits));
    if (n <= 0) {
        return bad();
    }
    switch (std::tolower(static_cast<unsigned char>(arg.back()))) {
        case 's':
            return Trigger::every(seconds(n));
        case 'm':
            return Trigger::every(minutes(n));
        case 'h':
            return Trigger::every(hours(n));
        default:
            return bad();
    }
}

}  // namespace

Trigger Trigger::cron(CronExpr expr) {
    Trigger t;
    t.kind_ = Kind::cron;
    t.cron_.emplace(std::move(expr));
    return t;
}

Trigger Trigger::every(std::chrono::seconds interval) {
    if (interval.count() <= 0) {
        throw std::invalid_argument("Trigger::every: the interval must be positive");
    }
    Trigger t;
    t.kind_ = Kind::every;
    t.interval_ = interval;
    return t;
}

Trigger Trigger::startup() {
    Trigger t;
    t.kind_ = Kind::startup;
    return t;
}

Trigger Trigger::off() { return Trigger(); }

std::optional<TimePoint> Trigger::next_after(TimePoint t) const {
    switch (kind_) {
        case Kind::cron:
            return cron_->next_after(t);
        case Kind::every: {
            const auto s = floor<seconds>(t).time_since_epoch().count();
            const auto n = interval_.count();
            // Floor division, so times before the epoch work too.
            const auto k = s / n - ((s % n != 0 && s < 0) ? 1 : 0);
            return TimePoint(seconds((k + 1) * n));
        }
        case Kind::startup:
        case Kind::off:
            return std::nullopt;
    }
    return std::nullopt;
}

std::string Trigger::to_string() const {
    switch (kind_) {
        case Kind::cron:
            return "cron " + cron_->text();
        case Kind::every:
            return fmt::format("every {}s", interval_.count());
        case Kind::startup:
            return "startup";
        case Kind::off:
            return "off";
    }
    return "off";
}

Result<Trigger> parse_schedule(std::string_view value) {
    const std::string_view v = trim(value);
    if (v.empty()) {
        return make_error(ErrorCode::bad_request, fmt::format("empty schedule; {}", kExpected));
    }
    if (iequals(v, "off")) {
        return Trigger::off();
    }
    if (iequals(v, "@startup")) {
        return Trigger::startup();
    }
    if (starts_with_icase(v, "@every") &&
        (v.size() == 6 || std::isspace(static_cast<unsigned char>(v[6])))) {
        return parse_every(v.substr(6));
    }
    if (v.front() == '@') {
        return make_error(ErrorCode::bad_request, fmt::format("unknown '{}'; {}", v, kExpected));
    }
    auto expr = CronExpr::parse(v);
    if (!expr) {
        return expr.error();
    }
    return Trigger::cron(std::move(*expr));
}

}  // namespace confidant::scheduler
