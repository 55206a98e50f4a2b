#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fixtures.hpp"
#include "scheduler/local/local_leader_lease.hpp"
#include "scheduler/local/memory_state_store.hpp"
#include "scheduler/local/memory_tick_claims.hpp"
#include "scheduler/scheduler.hpp"
#include "support/redis_server.hpp"

namespace confidant::scheduler::test {

using namespace std::chrono_literals;

/// Short real-time bounds for stop(), so a test that leaves a run hanging ends quickly.
inline SchedulerSettings test_settings(std::string instance_id) {
    SchedulerSettings s;
    s.instance_id = std::move(instance_id);
    s.shutdown_grace = 100ms;
    s.cancel_grace = 2s;
    return s;
}

inline JobSpec job(std::string id, Trigger trigger, std::function<Task<void>(JobContext&)> handler,
                   std::chrono::milliseconds timeout = 10min,
                   std::chrono::milliseconds misfire_grace = 30s) {
    JobSpec spec;
    spec.id = std::move(id);
    spec.trigger = std::move(trigger);
    spec.handler = std::move(handler);
    spec.timeout = timeout;
    spec.misfire_grace = misfire_grace;
    return spec;
}

/// A clock, shared claims and state (one "database"), an io thread, and the schedulers of a
/// test (several stand for several processes). Stops every scheduler at the end.
class Harness {
  public:
    explicit Harness(TimePoint start, int io_threads = 1) : clock(start), io(io_threads) {}
    ~Harness() {
        for (auto& s : schedulers) {
            io.run(s->stop());
        }
        schedulers.clear();
    }

    /// A scheduler with `jobs`; `lease` defaults to a local (always leading) one.
    Scheduler& make(const std::string& id, std::vector<JobSpec> jobs,
                    LeaderLease* lease = nullptr) {
        return make(test_settings(id), std::move(jobs), lease);
    }
    Scheduler& make(SchedulerSettings settings, std::vector<JobSpec> jobs,
                    LeaderLease* lease = nullptr) {
        if (lease == nullptr) {
            local_leases.push_back(std::make_unique<LocalLeaderLease>(30s));
            lease = local_leases.back().get();
        }
        auto s = std::make_unique<Scheduler>(io.executor(), std::move(settings), clock, claims,
                                             store, *lease);
        for (auto& j : jobs) {
            s->add_job(std::move(j));
        }
        schedulers.push_back(std::move(s));
        return *schedulers.back();
    }

    void start(Scheduler& s) { io.run(s.start()); }

    /// Moves the clock to `t` and polls once; the runs it starts may still be going.
    std::chrono::milliseconds tick_at(Scheduler& s, TimePoint t) {
        clock.set(t);
        return io.run(s.tick());
    }

    /// Waits (real time, bounded) until `s` has no run going.
    void settle(Scheduler& s) { ASSERT_TRUE(io.run(s.wait_idle(5s))) << "runs did not end"; }

    /// tick_at() then settle(): for handlers that return at once.
    void run_at(Scheduler& s, TimePoint t) {
        tick_at(s, t);
        settle(s);
    }

    SchedulerStatus status(Scheduler& s) { return io.run(s.status()); }

    JobStatus job_status(Scheduler& s, const std::string& id) {
        for (auto& j : status(s).jobs) {
            if (j.id == id) {
                return j;
            }
        }
        ADD_FAILURE() << "no job " << id << " in the status";
        return {};
    }

    /// Polls `done` every 2 ms of real time, up to `bound`.
    template <class Pred>
    static bool eventually(Pred done, std::chrono::milliseconds bound = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + bound;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            std::this_thread::sleep_for(2ms);
        }
        return true;
    }

    TestClock clock;
    MemoryTickClaims claims;
    MemoryStateStore store;
    confidant::test::IoThreads io;
    std::vector<std::unique_ptr<LocalLeaderLease>> local_leases;
    std::vector<std::unique_ptr<Scheduler>> schedulers;
};

}  // namespace confidant::scheduler::test
