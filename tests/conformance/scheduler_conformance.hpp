#pragma once

// The scheduler's persistence conformance suites: what every TickClaims + StateStore backend
// and every LeaderLease backend must do, written against the interfaces only. A backend's test
// binary includes this header once and instantiates the suites, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, SchedulerStoreConformance,
//                            ::testing::Values(SchedulerStoreParam{"sqlite", make_backend}),
//                            SchedulerStoreParam::name_of);

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "scheduler/leader_lease.hpp"
#include "scheduler/state_store.hpp"
#include "scheduler/tick_claims.hpp"

namespace confidant::scheduler::conformance {

using namespace std::chrono_literals;

/// One fresh, empty database holding the claims and the job state.
class SchedulerStoreBackend {
  public:
    virtual ~SchedulerStoreBackend() = default;
    virtual TickClaims& claims() = 0;
    virtual StateStore& state() = 0;
};

struct SchedulerStoreParam {
    std::string name;
    std::function<std::unique_ptr<SchedulerStoreBackend>()> make;

    static std::string name_of(const ::testing::TestParamInfo<SchedulerStoreParam>& info) {
        return info.param.name;
    }
};
inline void PrintTo(const SchedulerStoreParam& p, std::ostream* os) { *os << p.name; }

/// One fresh lease record that holders compete for.
class LeaseBackend {
  public:
    virtual ~LeaseBackend() = default;
    /// A new holder (another process, in production) of the same lease.
    virtual std::unique_ptr<LeaderLease> holder(const std::string& id) = 0;
    /// Makes the current lease expire now (as if its period had passed without renewal).
    virtual void expire() = 0;
};

struct LeaseParam {
    std::string name;
    std::function<std::unique_ptr<LeaseBackend>()> make;

    static std::string name_of(const ::testing::TestParamInfo<LeaseParam>& info) {
        return info.param.name;
    }
};
inline void PrintTo(const LeaseParam& p, std::ostream* os) { *os << p.name; }

/// Runs `task` to completion on a private io_context (one thread: the caller's).
template <class T>
T run_task(Task<T> task) {
    boost::asio::io_context ctx;
    auto future = boost::asio::co_spawn(ctx, std::move(task), boost::asio::use_future);
    ctx.run();
    return future.get();
}

/// Whole seconds, as the scheduler's ticks are; run times keep milliseconds.
inline TimePoint at_s(long long s) { return TimePoint(std::chrono::seconds(s)); }
inline TimePoint at_ms(long long ms) { return TimePoint(std::chrono::milliseconds(ms)); }

class SchedulerStoreConformance : public ::testing::TestWithParam<SchedulerStoreParam> {
  protected:
    static constexpr long long kT0 = 1'800'000'000;

    void SetUp() override {
        backend_ = GetParam().make();
        ASSERT_TRUE(backend_) << GetParam().name << " could not be set up";
    }

    bool claim(const std::string& job, TimePoint tick, const std::string& instance) {
        return run_task(backend_->claims().claim(job, tick, instance));
    }

    JobState state_of(const std::string& job) {
        for (auto& s : run_task(backend_->state().load_all())) {
            if (s.job_id == job) {
                return s;
            }
        }
        ADD_FAILURE() << "no state for " << job;
        return {};
    }

    std::unique_ptr<SchedulerStoreBackend> backend_;
};

TEST_P(SchedulerStoreConformance, ATickIsClaimedOnce) {
    EXPECT_TRUE(claim("cleanup", at_s(kT0), "a"));
    EXPECT_FALSE(claim("cleanup", at_s(kT0), "b"));
    EXPECT_FALSE(claim("cleanup", at_s(kT0), "a"));
    EXPECT_TRUE(claim("cleanup", at_s(kT0 + 1), "b"));
    EXPECT_TRUE(claim("metrics", at_s(kT0), "b"));
}

TEST_P(SchedulerStoreConformance, ConcurrentClaimsOfOneTickHaveOneWinner) {
    boost::asio::thread_pool pool(4);
    // The calls take their arguments by reference: they live here until every call ended.
    const std::string job = "j";
    std::vector<std::string> instances;
    for (int i = 0; i < 16; ++i) {
        instances.push_back(std::to_string(i).insert(0, 1, 'i'));
    }
    std::vector<std::future<bool>> claims;
    for (const auto& instance : instances) {
        claims.push_back(boost::asio::co_spawn(
            pool, backend_->claims().claim(job, at_s(kT0), instance), boost::asio::use_future));
    }
    int winners = 0;
    for (auto& c : claims) {
        winners += c.get() ? 1 : 0;
    }
    pool.join();
    EXPECT_EQ(winners, 1);
}

TEST_P(SchedulerStoreConformance, PruneDeletesOnlyOlderClaims) {
    ASSERT_TRUE(claim("j", at_s(kT0), "a"));
    ASSERT_TRUE(claim("j", at_s(kT0 + 60), "a"));
    ASSERT_TRUE(claim("k", at_s(kT0 + 120), "a"));
    EXPECT_EQ(run_task(backend_->claims().prune(at_s(kT0 + 60))), 1u);
    EXPECT_FALSE(claim("j", at_s(kT0 + 60), "b"));
    EXPECT_FALSE(claim("k", at_s(kT0 + 120), "b"));
    EXPECT_EQ(run_task(backend_->claims().prune(at_s(kT0 + 60))), 0u);
}

TEST_P(SchedulerStoreConformance, AFreshStoreHasNoState) {
    EXPECT_TRUE(run_task(backend_->state().load_all()).empty());
}

TEST_P(SchedulerStoreConformance, RunStartAndEndAreRecorded) {
    auto& store = backend_->state();
    const RunStarted started{"j", at_s(kT0), at_ms(kT0 * 1000 + 250), "a", at_s(kT0 + 60)};
    run_task(store.run_started(started));
    auto s = state_of("j");
    EXPECT_EQ(s.last_tick, at_s(kT0));
    EXPECT_EQ(s.last_run_time, at_ms(kT0 * 1000 + 250));
    EXPECT_EQ(s.last_status, RunStatus::running);
    EXPECT_EQ(s.last_instance_id, "a");
    EXPECT_EQ(s.next_run_time, at_s(kT0 + 60));
    EXPECT_EQ(s.runs, 0u);

    const RunFinished failed{"j",    at_s(kT0),   at_ms(kT0 * 1000 + 250), RunStatus::failed,
                             1500ms, "disk full", at_s(kT0 + 60)};
    run_task(store.run_finished(failed));
    s = state_of("j");
    EXPECT_EQ(s.last_status, RunStatus::failed);
    EXPECT_EQ(s.last_duration, 1500ms);
    EXPECT_EQ(s.last_error, "disk full");
    EXPECT_EQ(s.runs, 1u);
    EXPECT_EQ(s.failures, 1u);

    const RunStarted again{"j", at_s(kT0 + 60), at_ms((kT0 + 60) * 1000), "b", std::nullopt};
    run_task(store.run_started(again));
    const RunFinished ok{"j", at_s(kT0 + 60), at_ms((kT0 + 60) * 1000), RunStatus::succeeded, 20ms,
                         "",  std::nullopt};
    run_task(store.run_finished(ok));
    s = state_of("j");
    EXPECT_EQ(s.last_status, RunStatus::succeeded);
    EXPECT_EQ(s.last_error, "");
    EXPECT_EQ(s.last_instance_id, "b");
    EXPECT_FALSE(s.next_run_time.has_value());
    EXPECT_EQ(s.runs, 2u);
    EXPECT_EQ(s.failures, 1u);
}

TEST_P(SchedulerStoreConformance, ASlowOldRunDoesNotHideANewerOne) {
    auto& store = backend_->state();
    const RunStarted first{"j", at_s(kT0), at_s(kT0), "a", std::nullopt};
    const RunStarted second{"j", at_s(kT0 + 10), at_s(kT0 + 10), "b", std::nullopt};
    run_task(store.run_started(first));
    run_task(store.run_started(second));
    const RunFinished old_end{"j", at_s(kT0),   at_s(kT0),   RunStatus::timeout,
                              30s, "timed out", std::nullopt};
    run_task(store.run_finished(old_end));
    auto s = state_of("j");
    EXPECT_EQ(s.last_status, RunStatus::running);  // the newer run is still going
    EXPECT_EQ(s.last_run_time, at_s(kT0 + 10));
    EXPECT_EQ(s.last_tick, at_s(kT0 + 10));
    EXPECT_EQ(s.runs, 1u);
    EXPECT_EQ(s.failures, 1u);
}

TEST_P(SchedulerStoreConformance, SkippedAndMissedTicksAreCountedAndLastTickNeverGoesBack) {
    auto& store = backend_->state();
    run_task(store.tick_passed("j", at_s(kT0 + 20), TickPassed::skipped, at_s(kT0 + 30)));
    run_task(store.tick_passed("j", at_s(kT0 + 10), TickPassed::missed, at_s(kT0 + 30)));
    run_task(store.tick_passed("j", at_s(kT0 + 30), TickPassed::missed, std::nullopt));
    auto s = state_of("j");
    EXPECT_EQ(s.skipped, 1u);
    EXPECT_EQ(s.missed, 2u);
    EXPECT_EQ(s.last_tick, at_s(kT0 + 30));
    EXPECT_FALSE(s.last_status.has_value());
    EXPECT_FALSE(s.last_run_time.has_value());
    const RunStarted older{"j", at_s(kT0), at_s(kT0 + 40), "a", std::nullopt};
    run_task(store.run_started(older));
    EXPECT_EQ(state_of("j").last_tick, at_s(kT0 + 30));
}

TEST_P(SchedulerStoreConformance, ConcurrentEndsLoseNoCount) {
    boost::asio::thread_pool pool(4);
    std::vector<RunFinished> runs;  // referenced by the calls until they end
    for (int i = 0; i < 40; ++i) {
        runs.push_back(RunFinished{"j", at_s(kT0 + i), at_s(kT0 + i),
                                   i % 4 == 0 ? RunStatus::failed : RunStatus::succeeded, 1ms, "",
                                   std::nullopt});
    }
    std::vector<std::future<void>> ends;
    for (const auto& run : runs) {
        ends.push_back(boost::asio::co_spawn(pool, backend_->state().run_finished(run),
                                             boost::asio::use_future));
    }
    for (auto& e : ends) {
        e.get();
    }
    pool.join();
    const auto s = state_of("j");
    EXPECT_EQ(s.runs, 40u);
    EXPECT_EQ(s.failures, 10u);
}

class LeaseConformance : public ::testing::TestWithParam<LeaseParam> {
  protected:
    void SetUp() override {
        backend_ = GetParam().make();
        ASSERT_TRUE(backend_) << GetParam().name << " could not be set up";
    }
    std::unique_ptr<LeaseBackend> backend_;
};

TEST_P(LeaseConformance, OneHolderAtATime) {
    auto a = backend_->holder("a");
    auto b = backend_->holder("b");
    EXPECT_TRUE(run_task(a->acquire_or_renew()));
    EXPECT_TRUE(run_task(a->acquire_or_renew()));  // renewal
    EXPECT_FALSE(run_task(b->acquire_or_renew()));
    run_task(b->release());  // not b's: nothing happens
    EXPECT_FALSE(run_task(b->acquire_or_renew()));
    run_task(a->release());
    EXPECT_TRUE(run_task(b->acquire_or_renew()));
    EXPECT_FALSE(run_task(a->acquire_or_renew()));
}

TEST_P(LeaseConformance, AfterExpiryAnotherTakesOverAndTheStaleHolderCannotUndoIt) {
    auto a = backend_->holder("a");
    auto b = backend_->holder("b");
    ASSERT_TRUE(run_task(a->acquire_or_renew()));
    backend_->expire();
    EXPECT_TRUE(run_task(b->acquire_or_renew()));
    EXPECT_FALSE(run_task(a->acquire_or_renew()));
    run_task(a->release());
    EXPECT_TRUE(run_task(b->acquire_or_renew()));
    EXPECT_FALSE(run_task(a->acquire_or_renew()));
}

TEST_P(LeaseConformance, AHolderThatRestartsIsANewHolder) {
    auto a = backend_->holder("a");
    ASSERT_TRUE(run_task(a->acquire_or_renew()));
    auto a_again = backend_->holder("a");  // same instance id, new process
    EXPECT_FALSE(run_task(a_again->acquire_or_renew()));
}

}  // namespace confidant::scheduler::conformance
