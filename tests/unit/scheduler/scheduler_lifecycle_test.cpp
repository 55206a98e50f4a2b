#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_future.hpp>
#include <string>
#include <vector>

#include "harness.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using test::Calls;
using test::Gate;
using test::Harness;
using test::job;
using test::utc;

using Strings = std::vector<std::string>;

TEST(SchedulerRestart, InTheMiddleOfARunTheNextTickRunsAndTheClaimedOneDoesNot) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    Gate gate;  // the first process dies while its run waits here
    auto& a = h.make("a", {job("j", Trigger::every(10s), test::gated(calls, gate))});
    h.start(a);
    h.tick_at(a, utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return gate.waiting() == 1; }));
    // "a" dies: its object is dropped without stop() and writes nothing more.
    h.schedulers.clear();

    auto& b = h.make("b", {job("j", Trigger::every(10s), test::recording(calls))});
    h.clock.set(utc(2025, 6, 1, 12, 0, 15));
    h.start(b);
    auto j = h.job_status(b, "j");  // the store kept the dead run's state
    EXPECT_EQ(j.last_status, RunStatus::running);
    EXPECT_EQ(j.last_run_time, utc(2025, 6, 1, 12, 0, 10));
    h.run_at(b, utc(2025, 6, 1, 12, 0, 15));
    EXPECT_EQ(calls.size(), 1u);  // 12:00:10 is not run again
    h.run_at(b, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(calls.ticks(), (Strings{"2025-06-01T12:00:10Z", "2025-06-01T12:00:20Z"}));
    EXPECT_EQ(calls.all()[1].instance_id, "b");
    j = h.job_status(b, "j");
    EXPECT_EQ(j.last_status, RunStatus::succeeded);
    EXPECT_EQ(j.runs, 1u);  // the dead run never finished
}

TEST(SchedulerRestart, ATickClaimedByADeadRunIsNotRunEvenIfItsStartWasNotStored) {
    Harness h(utc(2025, 6, 1, 11, 59, 55));
    Calls calls;
    Gate gate;
    auto& a = h.make("a", {job("j", Trigger::every(10s), test::gated(calls, gate))});
    h.start(a);
    gate.open();
    h.run_at(a, utc(2025, 6, 1, 12, 0, 0));  // stored: last tick 12:00:00
    Gate stuck;
    h.store.set_unreachable(true);
    h.schedulers.clear();
    auto& a2 = h.make("a", {job("j", Trigger::every(10s), test::gated(calls, stuck))});
    h.start(a2);
    // 12:00:10 is claimed, then its start cannot be stored, then the process dies.
    h.tick_at(a2, utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return stuck.waiting() == 1; }));
    h.schedulers.clear();
    h.store.set_unreachable(false);

    auto& c = h.make("c", {job("j", Trigger::every(10s), test::recording(calls))});
    h.clock.set(utc(2025, 6, 1, 12, 0, 12));
    h.start(c);  // continues after the stored 12:00:00, so 12:00:10 is due again here
    h.run_at(c, utc(2025, 6, 1, 12, 0, 12));
    EXPECT_EQ(calls.size(), 2u);  // but its claim belongs to the dead run
    EXPECT_EQ(h.claims.owner("j", utc(2025, 6, 1, 12, 0, 10)), "a");
    h.run_at(c, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(calls.ticks(),
              (Strings{"2025-06-01T12:00:00Z", "2025-06-01T12:00:10Z", "2025-06-01T12:00:20Z"}));
}

TEST(SchedulerRestart, TicksMissedWhileDownRunOnceWithinGraceOrCountAsMissed) {
    Harness h(utc(2025, 6, 1, 2, 0, 0));
    Calls calls;
    auto make = [&](const std::string& id) -> Scheduler& {
        return h.make(
            id, {job("cleanup", *parse_schedule("0 3 * * *"), test::recording(calls), 10min, 10min),
                 job("often", Trigger::every(60s), test::recording(calls), 1min, 5min)});
    };
    auto* s = &make("a");
    h.start(*s);
    h.run_at(*s, utc(2025, 6, 1, 3, 0, 0));
    ASSERT_EQ(calls.size(), 2u);
    for (auto& x : h.schedulers) {
        h.io.run(x->stop());
    }
    h.schedulers.clear();

    // Down from 03:00 to 03:04:30: four "often" ticks missed; the latest is within 5 min.
    h.clock.set(utc(2025, 6, 1, 3, 4, 30));
    s = &make("b");
    h.start(*s);
    h.run_at(*s, utc(2025, 6, 1, 3, 4, 30));
    EXPECT_EQ(calls.per_tick()[utc(2025, 6, 1, 3, 4, 0)], 1);
    EXPECT_EQ(calls.size(), 3u);
    h.io.run(s->stop());
    h.schedulers.clear();

    // Down over the next day's 03:00 for 20 min: beyond cleanup's 10 min grace.
    h.clock.set(utc(2025, 6, 2, 3, 20, 0));
    s = &make("c");
    h.start(*s);
    h.run_at(*s, utc(2025, 6, 2, 3, 20, 0));
    EXPECT_EQ(calls.per_tick().count(utc(2025, 6, 2, 3, 0, 0)), 0u);
    auto j = h.job_status(*s, "cleanup");
    EXPECT_EQ(j.missed, 1u);
    EXPECT_EQ(j.runs, 1u);
    EXPECT_EQ(j.next_run_time, utc(2025, 6, 3, 3, 0, 0));
    h.run_at(*s, utc(2025, 6, 3, 3, 0, 0));
    EXPECT_EQ(h.job_status(*s, "cleanup").runs, 2u);
}

TEST(SchedulerRunNow, RunsAtOnceAndUnknownIdIsNotFound) {
    Harness h(utc(2025, 6, 1, 12, 0, 0) + 400ms);
    Calls calls;
    auto& s = h.make("a", {job("cleanup", *parse_schedule("0 3 * * *"), test::recording(calls))});
    h.start(s);
    auto r = h.io.run(s.run_now("cleanup"));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, RunNowOutcome::started);
    h.settle(s);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_TRUE(calls.all()[0].manual);
    EXPECT_EQ(calls.all()[0].scheduled_time, utc(2025, 6, 1, 12, 0, 0));
    EXPECT_EQ(h.job_status(s, "cleanup").runs, 1u);

    auto missing = h.io.run(s.run_now("nope"));
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, ErrorCode::not_found);
    EXPECT_EQ(missing.error().message, "no scheduler job 'nope'");
}

TEST(SchedulerRunNow, ConcurrentCallsRunOnceOnOneOrTwoInstances) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& a = h.make("a", {job("j", Trigger::off(), test::recording(calls))});
    auto& b = h.make("b", {job("j", Trigger::off(), test::recording(calls))});
    h.start(a);
    h.start(b);
    auto [r1, r2] =
        h.io.run([&]() -> Task<std::tuple<Result<RunNowOutcome>, Result<RunNowOutcome>>> {
            co_return co_await (a.run_now("j") && b.run_now("j"));
        }());
    h.settle(a);
    h.settle(b);
    EXPECT_EQ(calls.size(), 1u);
    std::vector<RunNowOutcome> outcomes{*r1, *r2};
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), RunNowOutcome::started), 1);
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), RunNowOutcome::already_claimed), 1);

    h.clock.advance(1s);
    auto [r3, r4] =
        h.io.run([&]() -> Task<std::tuple<Result<RunNowOutcome>, Result<RunNowOutcome>>> {
            co_return co_await (a.run_now("j") && a.run_now("j"));
        }());
    h.settle(a);
    EXPECT_EQ(calls.size(), 2u);
    EXPECT_EQ(*r3, RunNowOutcome::started);
    EXPECT_EQ(*r4, RunNowOutcome::already_running);
}

TEST(SchedulerStatus, ListsEveryJobWithItsTriggerAndNextRun) {
    Harness h(utc(2025, 6, 1, 12, 2, 0));
    Calls calls;
    auto& s = h.make(
        "a", {job("chat_history_cleanup", *parse_schedule("0 3 * * *"), test::recording(calls)),
              job("cache_metrics", *parse_schedule("@every 5m"), test::recording(calls)),
              job("cache_warmup", Trigger::startup(), test::recording(calls)),
              job("partition_maintenance", Trigger::off(), test::recording(calls))});
    h.start(s);
    h.settle(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 2, 0));
    auto st = h.status(s);
    EXPECT_TRUE(st.running);
    EXPECT_TRUE(st.leader);
    ASSERT_EQ(st.jobs.size(), 4u);
    EXPECT_EQ(st.jobs[0].id, "chat_history_cleanup");
    EXPECT_EQ(st.jobs[0].trigger, "cron 0 3 * * *");
    EXPECT_EQ(st.jobs[0].next_run_time, utc(2025, 6, 2, 3, 0, 0));
    EXPECT_FALSE(st.jobs[0].last_run_time.has_value());
    EXPECT_FALSE(st.jobs[0].last_status.has_value());
    EXPECT_EQ(st.jobs[1].trigger, "every 300s");
    EXPECT_EQ(st.jobs[1].next_run_time, utc(2025, 6, 1, 12, 5, 0));
    // The start-up job ran at start and has no next run; "off" never runs by itself.
    EXPECT_EQ(st.jobs[2].trigger, "startup");
    EXPECT_EQ(st.jobs[2].runs, 1u);
    EXPECT_EQ(st.jobs[2].last_status, RunStatus::succeeded);
    EXPECT_FALSE(st.jobs[2].next_run_time.has_value());
    EXPECT_EQ(st.jobs[3].trigger, "off");
    EXPECT_FALSE(st.jobs[3].next_run_time.has_value());
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:02:00Z"});

    h.run_at(s, utc(2025, 6, 2, 3, 0, 0));  // off and startup stay quiet
    EXPECT_EQ(calls.size(), 3u);
    ASSERT_TRUE(h.io.run(s.run_now("partition_maintenance")).has_value());
    h.settle(s);
    EXPECT_EQ(calls.size(), 4u);

    h.io.run(s.stop());
    st = h.status(s);
    EXPECT_FALSE(st.running);
    EXPECT_FALSE(st.leader);
    EXPECT_FALSE(st.jobs[0].next_run_time.has_value());
    EXPECT_EQ(st.jobs[0].runs, 1u);
}

TEST(SchedulerStop, WaitsForARunningJob) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    Gate gate;
    auto settings = test::test_settings("a");
    settings.shutdown_grace = 10s;
    auto& s = h.make(settings, {job("j", Trigger::every(10s), test::gated(calls, gate))});
    h.start(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return gate.waiting() == 1; }));
    auto stopped = boost::asio::co_spawn(h.io.io(), s.stop(), boost::asio::use_future);
    EXPECT_EQ(stopped.wait_for(20ms), std::future_status::timeout);  // still waiting
    gate.open();
    ASSERT_EQ(stopped.wait_for(5s), std::future_status::ready);
    stopped.get();
    EXPECT_EQ(h.job_status(s, "j").last_status, RunStatus::succeeded);
    // Stopped: no more ticks, and run-now is refused.
    h.run_at(s, utc(2025, 6, 1, 12, 0, 20));
    EXPECT_EQ(calls.size(), 1u);
    auto r = h.io.run(s.run_now("j"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::not_ready);
}

TEST(SchedulerStop, CancelsARunStillGoingAfterTheGrace) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    Gate gate;  // never opened
    auto& s = h.make("a", {job("j", Trigger::every(10s), test::gated(calls, gate))});
    h.start(s);
    h.tick_at(s, utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return gate.waiting() == 1; }));
    h.io.run(s.stop());  // shutdown_grace is 100 ms here
    EXPECT_EQ(gate.cancelled(), 1);
    const auto state = h.store.get("j");
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->last_status, RunStatus::failed);
    EXPECT_EQ(state->last_error.rfind("cancelled at shutdown: ", 0), 0u) << state->last_error;
}

TEST(SchedulerOutage, AClaimThatFailsRunsNothingAndIsRetriedWithinTheGrace) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(60s), test::recording(calls), 1min, 30s)});
    h.start(s);
    h.claims.set_unreachable(true);
    EXPECT_EQ(h.tick_at(s, utc(2025, 6, 1, 12, 1, 0)), 1000ms);  // retry in a second
    h.settle(s);
    EXPECT_EQ(calls.size(), 0u);
    h.claims.set_unreachable(false);
    h.run_at(s, utc(2025, 6, 1, 12, 1, 20));
    EXPECT_EQ(calls.ticks(), Strings{"2025-06-01T12:01:00Z"});
}

TEST(SchedulerOutage, RunsGoOnWhileTheStateStoreIsDown) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto& s = h.make("a", {job("j", Trigger::every(60s), test::recording(calls))});
    h.store.set_unreachable(true);
    h.start(s);
    h.run_at(s, utc(2025, 6, 1, 12, 1, 0));
    EXPECT_EQ(calls.size(), 1u);
    const auto j = h.job_status(s, "j");  // this instance's own view
    EXPECT_EQ(j.runs, 1u);
    EXPECT_EQ(j.last_status, RunStatus::succeeded);
    h.store.set_unreachable(false);
}

TEST(SchedulerLoop, TheTimerLoopRunsDueTicksAndEndsAtStop) {
    Harness h(utc(2025, 6, 1, 12, 0, 0));
    Calls calls;
    auto settings = test::test_settings("a");
    settings.max_sleep = 5ms;  // the loop re-reads the test clock every 5 ms of real time
    auto& s = h.make(settings, {job("j", Trigger::every(10s), test::recording(calls))});
    h.start(s);
    auto loop = boost::asio::co_spawn(h.io.io(), s.run(), boost::asio::use_future);
    h.clock.set(utc(2025, 6, 1, 12, 0, 10));
    ASSERT_TRUE(Harness::eventually([&] { return calls.size() == 1; }));
    h.clock.set(utc(2025, 6, 1, 12, 0, 30));
    ASSERT_TRUE(Harness::eventually([&] { return calls.size() == 2; }));
    h.io.run(s.stop());
    ASSERT_EQ(loop.wait_for(5s), std::future_status::ready);
    loop.get();
    EXPECT_EQ(calls.ticks(), (Strings{"2025-06-01T12:00:10Z", "2025-06-01T12:00:30Z"}));
}

}  // namespace
}  // namespace confidant::scheduler
