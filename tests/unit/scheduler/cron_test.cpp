#include "scheduler/cron.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "time_util.hpp"

namespace confidant::scheduler {
namespace {

using test::str;
using test::utc;

CronExpr cron(const std::string& text) {
    auto e = CronExpr::parse(text);
    EXPECT_TRUE(e.has_value()) << text << ": " << (e ? "" : e.error().message);
    return *e;
}

/// The next run after `from`, as RFC 3339 ("never" when there is none).
std::string next(const std::string& text, TimePoint from) {
    const auto n = cron(text).next_after(from);
    return n ? str(*n) : "never";
}

std::string parse_error(const std::string& text) {
    auto e = CronExpr::parse(text);
    return e ? "(accepted)" : e.error().message;
}

TEST(Cron, DailyAtThreeAcrossMonthAndYearEnds) {
    EXPECT_EQ(next("0 3 * * *", utc(2025, 1, 31, 4, 0)), "2025-02-01T03:00:00Z");
    EXPECT_EQ(next("0 3 * * *", utc(2025, 2, 28, 3, 0)), "2025-03-01T03:00:00Z");
    EXPECT_EQ(next("0 3 * * *", utc(2024, 2, 28, 3, 0)), "2024-02-29T03:00:00Z");
    EXPECT_EQ(next("0 3 * * *", utc(2025, 4, 30, 23, 59, 59)), "2025-05-01T03:00:00Z");
    EXPECT_EQ(next("0 3 * * *", utc(2025, 12, 31, 3, 0)), "2026-01-01T03:00:00Z");
    EXPECT_EQ(next("0 3 * * *", utc(2025, 12, 31, 2, 59, 59)), "2025-12-31T03:00:00Z");
}

TEST(Cron, NextIsStrictlyAfterAndOnWholeMinutes) {
    EXPECT_EQ(next("* * * * *", utc(2025, 6, 1, 12, 0, 0)), "2025-06-01T12:01:00Z");
    EXPECT_EQ(next("* * * * *", utc(2025, 6, 1, 12, 0, 59)), "2025-06-01T12:01:00Z");
    EXPECT_EQ(next("* * * * *", utc(2025, 12, 31, 23, 59, 30)), "2026-01-01T00:00:00Z");
}

TEST(Cron, StepsOfFiveAndSevenMinutesRestartEachHour) {
    EXPECT_EQ(next("*/5 * * * *", utc(2025, 6, 1, 12, 3)), "2025-06-01T12:05:00Z");
    EXPECT_EQ(next("*/5 * * * *", utc(2025, 6, 1, 12, 55)), "2025-06-01T13:00:00Z");
    EXPECT_EQ(next("*/5 * * * *", utc(2025, 6, 30, 23, 57, 59)), "2025-07-01T00:00:00Z");
    // */7 is 0,7,...,56: after :56 the next is :00 of the next hour, not :03.
    EXPECT_EQ(next("*/7 * * * *", utc(2025, 6, 1, 12, 50)), "2025-06-01T12:56:00Z");
    EXPECT_EQ(next("*/7 * * * *", utc(2025, 6, 1, 12, 56)), "2025-06-01T13:00:00Z");
    EXPECT_EQ(next("*/7 * * * *", utc(2025, 6, 1, 13, 0)), "2025-06-01T13:07:00Z");
    EXPECT_EQ(next("0 */6 * * *", utc(2025, 6, 1, 18, 0)), "2025-06-02T00:00:00Z");
}

TEST(Cron, ListsRangesAndSteppedRanges) {
    EXPECT_EQ(next("15,45 8,20 * * *", utc(2025, 6, 1, 8, 15)), "2025-06-01T08:45:00Z");
    EXPECT_EQ(next("15,45 8,20 * * *", utc(2025, 6, 1, 8, 45)), "2025-06-01T20:15:00Z");
    EXPECT_EQ(next("15,45 8,20 * * *", utc(2025, 6, 1, 20, 45)), "2025-06-02T08:15:00Z");
    EXPECT_EQ(next("0 9-17/2 * * *", utc(2025, 6, 1, 9, 0)), "2025-06-01T11:00:00Z");
    EXPECT_EQ(next("0 9-17/2 * * *", utc(2025, 6, 1, 17, 0)), "2025-06-02T09:00:00Z");
    EXPECT_EQ(next("0 0 1,15 * *", utc(2025, 6, 1, 0, 0)), "2025-06-15T00:00:00Z");
    EXPECT_EQ(next("0 0 1,15 * *", utc(2025, 6, 15, 0, 0)), "2025-07-01T00:00:00Z");
    EXPECT_EQ(next("30 2 * 3-5,11 *", utc(2025, 5, 31, 2, 30)), "2025-11-01T02:30:00Z");
    EXPECT_EQ(next("1-3,58-59 * * * *", utc(2025, 6, 1, 0, 3)), "2025-06-01T00:58:00Z");
}

TEST(Cron, ThirtyFirstSkipsShortMonths) {
    EXPECT_EQ(next("0 0 31 * *", utc(2025, 1, 31, 0, 0)), "2025-03-31T00:00:00Z");
    EXPECT_EQ(next("0 0 31 * *", utc(2025, 3, 31, 0, 0)), "2025-05-31T00:00:00Z");
    EXPECT_EQ(next("0 0 30 * *", utc(2025, 1, 30, 0, 0)), "2025-03-30T00:00:00Z");
}

TEST(Cron, LeapDayFromANonLeapYearToTheNextLeapYear) {
    EXPECT_EQ(next("0 0 29 2 *", utc(2025, 3, 1)), "2028-02-29T00:00:00Z");
    EXPECT_EQ(next("0 0 29 2 *", utc(2023, 6, 1)), "2024-02-29T00:00:00Z");
    EXPECT_EQ(next("0 0 29 2 *", utc(2024, 2, 29, 0, 0)), "2028-02-29T00:00:00Z");
    // 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
    EXPECT_EQ(next("0 0 29 2 *", utc(2096, 3, 1)), "2104-02-29T00:00:00Z");
    EXPECT_EQ(next("0 0 29 2 *", utc(1999, 1, 1)), "2000-02-29T00:00:00Z");
}

TEST(Cron, ImpossibleDateNeverMatches) {
    EXPECT_EQ(next("0 0 30 2 *", utc(2025, 1, 1)), "never");
    EXPECT_EQ(next("0 0 31 4,6,9,11 *", utc(2025, 1, 1)), "never");
}

TEST(Cron, MonthAndWeekdayNamesAnyCase) {
    // 2025-06-01 is a Sunday.
    EXPECT_EQ(next("0 12 * * sun", utc(2025, 6, 1, 12, 0)), "2025-06-08T12:00:00Z");
    EXPECT_EQ(next("0 12 * * Mon-Fri", utc(2025, 6, 6, 12, 0)), "2025-06-09T12:00:00Z");
    EXPECT_EQ(next("0 12 1 JAN,jul *", utc(2025, 1, 1, 12, 0)), "2025-07-01T12:00:00Z");
    EXPECT_EQ(next("0 0 1 Oct-Dec/2 *", utc(2025, 10, 1)), "2025-12-01T00:00:00Z");
    EXPECT_EQ(next("0 0 * * SAT", utc(2025, 6, 1)), "2025-06-07T00:00:00Z");
}

TEST(Cron, SundayIsBothZeroAndSeven) {
    const auto from = utc(2025, 6, 2);  // a Monday
    EXPECT_EQ(next("0 0 * * 0", from), "2025-06-08T00:00:00Z");
    EXPECT_EQ(next("0 0 * * 7", from), "2025-06-08T00:00:00Z");
    EXPECT_EQ(next("0 0 * * 5-7", utc(2025, 6, 7)), "2025-06-08T00:00:00Z");
    EXPECT_EQ(next("0 0 * * 5-7", utc(2025, 6, 8)), "2025-06-13T00:00:00Z");
    EXPECT_TRUE(cron("0 0 * * 7").matches(utc(2025, 6, 8)));
    EXPECT_FALSE(cron("0 0 * * 7").matches(utc(2025, 6, 7)));
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
    // Vixie cron: "13 FRI" is every 13th AND every Friday. 2025-01-01 is a Wednesday.
    EXPECT_EQ(next("0 0 13 * FRI", utc(2025, 1, 1)), "2025-01-03T00:00:00Z");
    EXPECT_EQ(next("0 0 13 * FRI", utc(2025, 1, 10)), "2025-01-13T00:00:00Z");  // a Monday
    EXPECT_EQ(next("0 0 13 * FRI", utc(2025, 1, 13)), "2025-01-17T00:00:00Z");
    // One side `*`: only the other counts.
    EXPECT_EQ(next("0 0 13 * *", utc(2025, 1, 1)), "2025-01-13T00:00:00Z");
    EXPECT_EQ(next("0 0 * * FRI", utc(2025, 1, 10)), "2025-01-17T00:00:00Z");
    // A field starting with `*` counts as unrestricted for this rule even with a step, so
    // "*/10 FRI" needs a day in 1,11,21,31 that is also a Friday: 2025-01-31.
    EXPECT_EQ(next("0 0 */10 * FRI", utc(2025, 1, 1)), "2025-01-31T00:00:00Z");
    // "*/7" in day-of-week is Sunday only: the 1st of a month that is a Sunday.
    EXPECT_EQ(next("0 0 1 * */7", utc(2025, 1, 1)), "2025-06-01T00:00:00Z");
}

TEST(Cron, MatchesChecksEveryField) {
    const auto e = cron("30 3 * 6 MON");
    EXPECT_TRUE(e.matches(utc(2025, 6, 2, 3, 30, 59)));
    EXPECT_FALSE(e.matches(utc(2025, 6, 2, 3, 31)));
    EXPECT_FALSE(e.matches(utc(2025, 6, 3, 3, 30)));
    EXPECT_FALSE(e.matches(utc(2025, 7, 7, 3, 30)));
}

TEST(Cron, NextAgreesWithAMinuteByMinuteSearch) {
    // Random expressions built from pieces that match at least once a year, checked against
    // walking every minute with matches(): the field skipping must never jump over a match.
    const std::vector<std::string> minutes = {"*", "0", "*/7", "5-20/5", "59", "1,30"};
    const std::vector<std::string> hours = {"*", "0", "23", "*/5", "9-17", "3,15"};
    const std::vector<std::string> doms = {"*", "1", "31", "*/10", "29", "13", "1-7"};
    const std::vector<std::string> months = {"*", "2", "JAN,jul", "*/3", "11-12"};
    const std::vector<std::string> dows = {"*", "0", "FRI", "1-5", "7", "*/2"};
    std::mt19937 rng(20250601);
    const auto pick = [&rng](const std::vector<std::string>& v) {
        return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
    };
    for (int i = 0; i < 40; ++i) {
        const std::string text = pick(minutes) + " " + pick(hours) + " " + pick(doms) + " " +
                                 pick(months) + " " + pick(dows);
        const CronExpr e = cron(text);
        TimePoint from = utc(2023, 1, 1) +
                         std::chrono::minutes(std::uniform_int_distribution<int>(0, 800'000)(rng));
        for (int step = 0; step < 3; ++step) {
            const auto got = e.next_after(from);
            if (!got) {  // e.g. "31 2": then no day in the next 8 years may match
                for (int d = 0; d < 8 * 366; ++d) {
                    const auto day =
                        std::chrono::floor<std::chrono::days>(from) + std::chrono::days(d);
                    for (int m = 0; m < 24 * 60; m += 1) {
                        ASSERT_FALSE(e.matches(day + std::chrono::minutes(m))) << text;
                    }
                }
                break;
            }
            TimePoint want =
                std::chrono::floor<std::chrono::minutes>(from) + std::chrono::minutes(1);
            while (!e.matches(want)) {
                want += std::chrono::minutes(1);
            }
            ASSERT_EQ(str(*got), str(want)) << text << " after " << str(from);
            from = *got;
        }
    }
}

TEST(Cron, TextIsNormalised) { EXPECT_EQ(cron("  0   3 *\t* *  ").text(), "0 3 * * *"); }

TEST(Cron, InvalidMinute) {
    EXPECT_EQ(parse_error("60 * * * *"), "minute: 60 is out of range 0..59");
    EXPECT_EQ(parse_error("a * * * *"), "minute: 'a' is not a number");
    EXPECT_EQ(parse_error("*/0 * * * *"), "minute: step 0 is invalid");
    EXPECT_EQ(parse_error("*/x * * * *"), "minute: step 'x' is not a number");
    EXPECT_EQ(parse_error("5/10 * * * *"),
              "minute: a step needs '*' or a range before it ('5/10')");
    EXPECT_EQ(parse_error("1,,2 * * * *"), "minute: empty list item");
    EXPECT_EQ(parse_error("-5 * * * *"), "minute: a value is missing");
    EXPECT_EQ(parse_error("99999999999 * * * *"), "minute: 99999999999 is out of range 0..59");
}

TEST(Cron, InvalidHour) {
    EXPECT_EQ(parse_error("0 24 * * *"), "hour: 24 is out of range 0..23");
    EXPECT_EQ(parse_error("0 5-3 * * *"), "hour: range 5-3 is reversed");
    EXPECT_EQ(parse_error("0 MON * * *"), "hour: 'MON' is not a number");
}

TEST(Cron, InvalidDayOfMonth) {
    EXPECT_EQ(parse_error("0 0 32 * *"), "day-of-month: 32 is out of range 1..31");
    EXPECT_EQ(parse_error("0 0 0 * *"), "day-of-month: 0 is out of range 1..31");
    EXPECT_EQ(parse_error("0 0 1-32 * *"), "day-of-month: 32 is out of range 1..31");
}

TEST(Cron, InvalidMonth) {
    EXPECT_EQ(parse_error("0 0 1 13 *"), "month: 13 is out of range 1..12");
    EXPECT_EQ(parse_error("0 0 1 0 *"), "month: 0 is out of range 1..12");
    EXPECT_EQ(parse_error("0 0 1 FOO *"), "month: 'FOO' is neither a number nor a month name");
    EXPECT_EQ(parse_error("0 0 1 DEC-JAN *"), "month: range DEC-JAN is reversed");
}

TEST(Cron, InvalidDayOfWeek) {
    EXPECT_EQ(parse_error("0 0 * * 8"), "day-of-week: 8 is out of range 0..7");
    EXPECT_EQ(parse_error("0 0 * * MON-XYZ"),
              "day-of-week: 'XYZ' is neither a number nor a weekday name");
    EXPECT_EQ(parse_error("0 0 * * SAT-SUN"), "day-of-week: range SAT-SUN is reversed");
}

TEST(Cron, WrongNumberOfFields) {
    const std::string expected =
        "cron: expected 5 fields (minute hour day-of-month month day-of-week), got ";
    EXPECT_EQ(parse_error("0 3 * *"), expected + "4");
    EXPECT_EQ(parse_error("0 0 3 * * *"), expected + "6");
    EXPECT_EQ(parse_error(""), expected + "0");
}

}  // namespace
}  // namespace confidant::scheduler
