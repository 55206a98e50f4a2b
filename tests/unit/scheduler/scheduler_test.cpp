#include "scheduler/scheduler.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono_literals;
using test::Calls;
using test::Gate;
using test::Harness;
using test::job;
using test::str;
using test::utc;

using Strings = std::vector<std::string>;

TEST(Scheduler, RunsEachDueTickOnce) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("tick", Trigger::every(10s), test::recording(calls), 1min)});
    h.start(s);
    h.run_at(s, utc(2025, 6, 1, 12, 0, 5));
    EXPECT_EQ(calls.size(), 0u);
    h.run_at(s, utc(2025, 6, 1, 12, 0, 10));
    h.run_at(s, utc(2025, 6, 1, 12, 0, 10));
    h.run_at(s, utc(2025, 6, 1, 12, 0, 19));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:00:10Z"});
    h.run_at(s, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(calls.ticks(), (Strings{"2025-06-01T12:00:10Z", "2025-06-01T12:00:20Z"}));

    const auto ctx = calls.all().back();
    EXPECT_EQ(ctx.job_id, "tick");
    EXPECT_EQ(ctx.instance_id, "a");
    EXPECT_FALSE(ctx.manual);
    EXPECT_EQ(ctx.started_at, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(ctx.deadline, utc(2025, 6, 1, 12, 1, 20));

    const auto st = h.status(s);
    EXPECT_TRUE(st.running);
    EXPECT_TRUE(st.leader);
    EXPECT_EQ(st.instance_id, "a");
    ASSERT_EQ(st.jobs.size(), 1u);
    const auto& j = st.jobs[0];
    EXPECT_EQ(j.trigger, "every 10s");
    EXPECT_EQ(j.runs, 2u);
    EXPECT_EQ(j.failures, 0u);
    EXPECT_EQ(j.last_status, RunStatus::succeeded);
    EXPECT_EQ(j.last_run_time, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(j.next_run_time, utc(2025, 6, 1, 12, 0, 30));
    EXPECT_EQ(h.claims.all().size(), 2u);
    EXPECT_EQ(h.store.get("tick")->runs, 2u);
}

TEST(Scheduler, TickAsksForTheNextPollAtTheNextTick) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("tick", Trigger::every(10s), test::recording(calls))});
    h.start(s);
    EXPECT_EQ(h.tick_at(s, utc(2025, 6, 1, 12, 0, 9) + 700ms), 300ms);
}

TEST(Scheduler, CronJobAcrossAMonthEnd) {
    Harness h(utc(2025, 1, 31, 2, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("cleanup", *parse_schedule("0 3 * * *"), test::recording(calls))});
    h.start(s);
    EXPECT_EQ(h.job_status(s, "cleanup").next_run_time, utc(2025, 1, 31, 3, 0));
    h.run_at(s, utc(2025, 1, 31, 3, 0, 0));
    EXPECT_EQ(h.job_status(s, "cleanup").next_run_time, utc(2025, 2, 1, 3, 0));
    h.run_at(s, utc(2025, 2, 1, 2, 59, 59));
    h.run_at(s, utc(2025, 2, 1, 3, 0, 1));
    EXPECT_EQ(calls.ticks(), (Strings{"2025-01-31T03:00:00Z", "2025-02-01T03:00:00Z"}));
}

TEST(Scheduler, TickLateByLessThanTheGraceStillRuns) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(60s), test::recording(calls), 1min, 30s)});
    h.start(s);
    // Paused from 12:00:00 to 12:01:30: the 12:01:00 tick is 30 s late, within the grace.
    h.run_at(s, utc(2025, 6, 1, 12, 1, 30));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:01:00Z"});
    EXPECT_EQ(calls.all()[0].started_at, utc(2025, 6, 1, 12, 1, 30));
    EXPECT_EQ(h.job_status(s, "j").missed, 0u);
}

TEST(Scheduler, TickLateByMoreThanTheGraceIsMissed) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(60s), test::recording(calls), 1min, 30s)});
    h.start(s);
    h.run_at(s, utc(2025, 6, 1, 12, 1, 31));  // 31 s late
    EXPECT_EQ(calls.size(), 0u);
    auto j = h.job_status(s, "j");
    EXPECT_EQ(j.missed, 1u);
    EXPECT_EQ(j.runs, 0u);
    EXPECT_EQ(j.next_run_time, utc(2025, 6, 1, 12, 2, 0));
    h.run_at(s, utc(2025, 6, 1, 12, 2, 0));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:02:00Z"});
    EXPECT_EQ(h.store.get("j")->missed, 1u);
}

TEST(Scheduler, ManyMissedTicksCoalesceIntoOneRun) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(10s), test::recording(calls), 1min, 60s)});
    h.start(s);
    // 30 ticks passed; the latest is on time and stands for all of them.
    h.run_at(s, utc(2025, 6, 1, 12, 5, 0));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:05:00Z"});
    // Three ticks, all within the grace: still one run, of the latest.
    h.run_at(s, utc(2025, 6, 1, 12, 5, 35));
    EXPECT_EQ(calls.ticks(), (Strings{"2025-06-01T12:05:00Z", "2025-06-01T12:05:30Z"}));
    EXPECT_EQ(h.claims.all().size(), 2u);
    EXPECT_EQ(h.job_status(s, "j").missed, 0u);
}

TEST(Scheduler, MissedCronTicksCoalesceIntoTheLatestWithinGrace) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s =
        h.make("a", {job("j", *parse_schedule("* * * * *"), test::recording(calls), 1min, 5min)});
    h.start(s);
    h.run_at(s, utc(2025, 6, 1, 12, 3, 10));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:03:00Z"});
}

TEST(Scheduler, OverlappingTickIsSkippedAndCounted) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    Gate gate;
    auto& s = h.make("a", {job("slow", Trigger::every(10s), test::gated(calls, gate))});
    h.start(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return gate.waiting() == 1; }));
    EXPECT_TRUE(h.job_status(s, "slow").running_here);
    EXPECT_EQ(h.job_status(s, "slow").last_status, RunStatus::running);
    h.tick_at(s, utc(2025, 6, 1, 12, 0, 20));  // the 12:00:10 run is still going
    EXPECT_EQ(calls.size(), 1u);
    EXPECT_EQ(h.job_status(s, "slow").skipped, 1u);
    gate.open();
    h.settle(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 0, 30));
    h.settle(s);
    EXPECT_EQ(calls.ticks(), (Strings{"2025-06-01T12:00:10Z", "2025-06-01T12:00:30Z"}));
    const auto j = h.job_status(s, "slow");
    EXPECT_EQ(j.runs, 2u);
    EXPECT_EQ(j.skipped, 1u);
    EXPECT_EQ(j.last_status, RunStatus::succeeded);
    // The skipped tick was not claimed: nobody else may run it either way.
    EXPECT_FALSE(h.claims.owner("slow", utc(2025, 6, 1, 12, 0, 20)).has_value());
}

TEST(Scheduler, RunPastItsTimeoutIsCancelledAndMarked) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    Gate gate;  // never opened
    auto& s = h.make("a", {job("stuck", Trigger::every(60s), test::gated(calls, gate), 5s)});
    h.start(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 1, 0));
    ASSERT_TRUE(Harness::eventually([&] { return gate.waiting() == 1; }));
    // The poll asks to be woken at the deadline.
    EXPECT_EQ(h.tick_at(s, utc(2025, 6, 1, 12, 1, 4)), 1000ms);
    EXPECT_EQ(gate.cancelled(), 0);
    h.tick_at(s, utc(2025, 6, 1, 12, 1, 5));
    h.settle(s);
    EXPECT_EQ(gate.cancelled(), 1);
    const auto j = h.job_status(s, "stuck");
    EXPECT_EQ(j.last_status, RunStatus::timeout);
    EXPECT_EQ(j.last_error, "timed out after 5000 ms");
    EXPECT_EQ(j.last_duration, 5000ms);
    EXPECT_EQ(j.runs, 1u);
    EXPECT_EQ(j.failures, 1u);
    EXPECT_FALSE(j.running_here);
}

TEST(Scheduler, FailedRunRecordsItsError) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    auto& s = h.make("a", {job("boom", Trigger::every(60s), [](JobContext&) -> Task<void> {
                         throw std::runtime_error("disk full");
                         co_return;
                     })});
    h.start(s);
    h.run_at(s, utc(2025, 6, 1, 12, 1, 0));
    auto j = h.job_status(s, "boom");
    EXPECT_EQ(j.last_status, RunStatus::failed);
    EXPECT_EQ(j.last_error, "disk full");
    EXPECT_EQ(j.failures, 1u);
    // The next tick runs as usual.
    h.run_at(s, utc(2025, 6, 1, 12, 2, 0));
    EXPECT_EQ(h.job_status(s, "boom").runs, 2u);
}

TEST(Scheduler, AddJobRejectsBadSpecs) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(10s), test::recording(calls))});
    EXPECT_THROW(s.add_job(job("j", Trigger::every(10s), test::recording(calls))),
                 std::invalid_argument);
    EXPECT_THROW(s.add_job(job("", Trigger::every(10s), test::recording(calls))),
                 std::invalid_argument);
    EXPECT_THROW(s.add_job(job("k", Trigger::every(10s), nullptr)), std::invalid_argument);
    EXPECT_THROW(s.add_job(job("k", Trigger::every(10s), test::recording(calls), 0ms)),
                 std::invalid_argument);
    h.start(s);
    EXPECT_THROW(s.add_job(job("late", Trigger::every(10s), test::recording(calls))),
                 std::logic_error);
}

}  // namespace
}  // namespace confidant::scheduler
