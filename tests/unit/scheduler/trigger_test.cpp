#include "scheduler/trigger.hpp"

#include <gtest/gtest.h>

#include <string>

#include "scheduler/job_catalog.hpp"
#include "time_util.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono_literals;
using test::str;
using test::utc;

Trigger schedule(const std::string& text) {
    auto t = parse_schedule(text);
    EXPECT_TRUE(t.has_value()) << text << ": " << (t ? "" : t.error().message);
    return t ? *t : Trigger::off();
}

std::string schedule_error(const std::string& text) {
    auto t = parse_schedule(text);
    return t ? "(accepted: " + t->to_string() + ")" : t.error().message;
}

TEST(Trigger, EveryTicksOnMultiplesOfTheIntervalSinceTheEpoch) {
    const auto every5s = Trigger::every(5s);
    EXPECT_EQ(str(*every5s.next_after(utc(2025, 6, 1, 12, 0, 3))), "2025-06-01T12:00:05Z");
    EXPECT_EQ(str(*every5s.next_after(utc(2025, 6, 1, 12, 0, 5))), "2025-06-01T12:00:10Z");
    EXPECT_EQ(*every5s.next_after(utc(2025, 6, 1, 12, 0, 4) + 999ms), utc(2025, 6, 1, 12, 0, 5));
    const auto every10m = Trigger::every(10min);
    EXPECT_EQ(str(*every10m.next_after(utc(2025, 6, 1, 12, 3))), "2025-06-01T12:10:00Z");
    EXPECT_EQ(str(*every10m.next_after(utc(2025, 6, 30, 23, 55))), "2025-07-01T00:00:00Z");
    const auto every2h = Trigger::every(2h);
    EXPECT_EQ(str(*every2h.next_after(utc(2025, 6, 1, 1, 0))), "2025-06-01T02:00:00Z");
    EXPECT_EQ(str(*every2h.next_after(utc(2025, 6, 1, 2, 0))), "2025-06-01T04:00:00Z");
    // Before the epoch, still multiples of the interval.
    EXPECT_EQ(*every5s.next_after(TimePoint(-7s)), TimePoint(-5s));
    EXPECT_THROW(Trigger::every(0s), std::invalid_argument);
}

TEST(Trigger, StartupAndOffHaveNoTicks) {
    EXPECT_FALSE(Trigger::startup().next_after(utc(2025, 1, 1)).has_value());
    EXPECT_FALSE(Trigger::off().next_after(utc(2025, 1, 1)).has_value());
}

TEST(Trigger, RendersForTheStatusApi) {
    EXPECT_EQ(schedule("0 3 * * *").to_string(), "cron 0 3 * * *");
    EXPECT_EQ(schedule("@every 5m").to_string(), "every 300s");
    EXPECT_EQ(schedule("@every 5s").to_string(), "every 5s");
    EXPECT_EQ(schedule("@every 2h").to_string(), "every 7200s");
    EXPECT_EQ(schedule("@startup").to_string(), "startup");
    EXPECT_EQ(schedule("off").to_string(), "off");
}

TEST(Trigger, ParsesEveryScheduleForm) {
    EXPECT_EQ(schedule(" 0  3 * * * ").kind(), Trigger::Kind::cron);
    EXPECT_EQ(schedule(" 0  3 * * * ").cron_expr()->text(), "0 3 * * *");
    EXPECT_EQ(schedule("@every 10m").interval(), 600s);
    EXPECT_EQ(schedule("@EVERY   15S").interval(), 15s);
    EXPECT_EQ(schedule("@Startup").kind(), Trigger::Kind::startup);
    EXPECT_EQ(schedule(" OFF ").kind(), Trigger::Kind::off);
    EXPECT_EQ(schedule("*/5 * * * *").next_after(utc(2025, 6, 1, 12, 1)), utc(2025, 6, 1, 12, 5));
}

TEST(Trigger, RejectsBadSchedules) {
    const std::string every_hint =
        "@every: expected a positive whole number followed by s, m or h (e.g. @every 5m), got ";
    EXPECT_EQ(schedule_error("@every"), every_hint + "''");
    EXPECT_EQ(schedule_error("@every 0s"), every_hint + "'0s'");
    EXPECT_EQ(schedule_error("@every 5d"), every_hint + "'5d'");
    EXPECT_EQ(schedule_error("@every -5s"), every_hint + "'-5s'");
    EXPECT_EQ(schedule_error("@every 5"), every_hint + "'5'");
    EXPECT_EQ(schedule_error("@every 1.5h"), every_hint + "'1.5h'");
    EXPECT_EQ(schedule_error("@hourly"),
              "unknown '@hourly'; expected a 5-field cron expression, @every <n>s|m|h, "
              "@startup or off");
    EXPECT_EQ(schedule_error("@everyday"),
              "unknown '@everyday'; expected a 5-field cron expression, @every <n>s|m|h, "
              "@startup or off");
    EXPECT_EQ(schedule_error("  "),
              "empty schedule; expected a 5-field cron expression, @every <n>s|m|h, @startup "
              "or off");
    EXPECT_EQ(schedule_error("0 3 * * 9"), "day-of-week: 9 is out of range 0..7");
    EXPECT_EQ(schedule_error("on"),
              "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 1");
}

TEST(Trigger, EveryCatalogDefaultParses) {
    for (const auto& j : kJobCatalog) {
        EXPECT_TRUE(parse_schedule(j.default_schedule).has_value()) << j.id;
    }
    EXPECT_EQ(schedule(std::string(kJobCatalog[0].default_schedule)).to_string(), "cron 0 3 * * *");
}

}  // namespace
}  // namespace confidant::scheduler
