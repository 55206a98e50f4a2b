#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"
#include "scheduler/local/memory_leader_lease.hpp"

namespace confidant::scheduler {
namespace {

using namespace std::chrono_literals;
using test::Calls;
using test::Harness;
using test::job;
using test::str;
using test::utc;

/// Three "processes" on one "database": shared claims and state, one lease board.
struct Cluster {
    explicit Cluster(std::chrono::milliseconds lease_period, int instances = 3)
        : h(utc(2025, 6, 1, 12, 0, 0), 2), board(h.clock) {
        for (int i = 0; i < instances; ++i) {
            const std::string id(1, static_cast<char>('a' + i));
            leases.push_back(std::make_unique<MemoryLeaderLease>(board, id, lease_period));
            nodes.push_back(
                &h.make(id, {job("beat", Trigger::every(1s), test::recording(calls), 10s, 30s)},
                        leases.back().get()));
        }
        for (auto* n : nodes) {
            h.start(*n);
        }
    }

    /// The schedulers go first: stopping one releases its lease.
    ~Cluster() {
        for (auto* n : nodes) {
            h.io.run(n->stop());
        }
        h.schedulers.clear();
    }

    /// Polls the given instances concurrently (two io threads), then waits for their runs.
    void tick(const std::vector<Scheduler*>& which) {
        std::vector<std::future<std::chrono::milliseconds>> polls;
        for (auto* n : which) {
            polls.push_back(boost::asio::co_spawn(h.io.io(), n->tick(), boost::asio::use_future));
        }
        for (auto& p : polls) {
            p.get();
        }
        for (auto* n : which) {
            h.settle(*n);
        }
    }

    /// Moves time in 250 ms steps for `span`, polling `which` at each step.
    void run_for(std::chrono::milliseconds span, const std::vector<Scheduler*>& which) {
        for (auto t = 0ms; t < span; t += 250ms) {
            h.clock.advance(250ms);
            tick(which);
        }
    }

    Scheduler* node(const std::string& id) {
        for (auto* n : nodes) {
            if (n->instance_id() == id) {
                return n;
            }
        }
        return nullptr;
    }

    std::map<std::string, int> runs_by_instance() const {
        std::map<std::string, int> m;
        for (const auto& r : calls.all()) {
            ++m[r.instance_id];
        }
        return m;
    }

    Calls calls;
    Harness h;
    MemoryLeaseBoard board;
    std::vector<std::unique_ptr<MemoryLeaderLease>> leases;
    std::vector<Scheduler*> nodes;
};

void expect_each_tick_once(const Calls& calls) {
    for (const auto& [tick, n] : calls.per_tick()) {
        EXPECT_EQ(n, 1) << str(tick) << " ran " << n << " times";
    }
}

TEST(SchedulerCluster, ThreeInstancesRunEachTickOnceInTotal) {
    Cluster c(10s);
    c.run_for(60s, c.nodes);
    const auto per_tick = c.calls.per_tick();
    ASSERT_EQ(per_tick.size(), 60u);
    EXPECT_EQ(per_tick.begin()->first, utc(2025, 6, 1, 12, 0, 1));
    EXPECT_EQ(per_tick.rbegin()->first, utc(2025, 6, 1, 12, 1, 0));
    expect_each_tick_once(c.calls);
    EXPECT_EQ(c.h.claims.all().size(), 60u);
    // Only the leader polled.
    const std::string leader = c.board.holder();
    EXPECT_EQ(c.runs_by_instance(), (std::map<std::string, int>{{leader, 60}}));
    int leaders = 0;
    for (auto* n : c.nodes) {
        leaders += c.h.status(*n).leader ? 1 : 0;
    }
    EXPECT_EQ(leaders, 1);
    EXPECT_EQ(c.h.store.get("beat")->runs, 60u);
}

TEST(SchedulerCluster, ClaimsAloneKeepTicksOnceWhenEveryInstanceBelievesItLeads) {
    Harness h(utc(2025, 6, 1, 12, 0, 0), 2);
    Calls calls;
    std::vector<Scheduler*> nodes;
    for (const char* id : {"a", "b", "c"}) {  // a local lease each: a split brain
        nodes.push_back(
            &h.make(id, {job("beat", Trigger::every(1s), test::recording(calls), 10s, 30s)}));
        h.start(*nodes.back());
    }
    for (int step = 0; step < 120; ++step) {
        h.clock.advance(250ms);
        std::vector<std::future<std::chrono::milliseconds>> polls;
        for (auto* n : nodes) {
            polls.push_back(boost::asio::co_spawn(h.io.io(), n->tick(), boost::asio::use_future));
        }
        for (auto& p : polls) {
            p.get();
        }
    }
    for (auto* n : nodes) {
        h.settle(*n);
    }
    EXPECT_EQ(calls.per_tick().size(), 30u);
    expect_each_tick_once(calls);
}

TEST(SchedulerCluster, AnotherInstanceTakesOverWithinOneLeasePeriod) {
    const auto period = 6s;
    Cluster c(period);
    c.run_for(10s, c.nodes);
    const std::string old_id = c.board.holder();
    ASSERT_FALSE(old_id.empty());
    Scheduler* old_leader = c.node(old_id);
    std::vector<Scheduler*> others;
    for (auto* n : c.nodes) {
        if (n != old_leader) {
            others.push_back(n);
        }
    }

    // The leader stops (paused or killed): it no longer polls, so it no longer renews.
    const auto expiry = c.board.expires_at();
    const auto missed_renewal = expiry - period + period / 3;
    std::optional<std::chrono::steady_clock::time_point> takeover;
    for (int step = 0; step < 80 && !takeover; ++step) {
        c.h.clock.advance(250ms);
        c.tick(others);
        const auto holder = c.board.holder();
        if (!holder.empty() && holder != old_id) {
            takeover = c.h.clock.steady_now();
        }
    }
    ASSERT_TRUE(takeover.has_value()) << "nobody took over";
    EXPECT_GE(*takeover, expiry) << "taken over before the old lease expired";
    EXPECT_LE(*takeover - missed_renewal, period)
        << "took "
        << std::chrono::duration_cast<std::chrono::milliseconds>(*takeover - missed_renewal).count()
        << " ms after the first missed renewal";
    const std::string new_id = c.board.holder();
    EXPECT_TRUE(c.h.status(*c.node(new_id)).leader);

    c.run_for(10s, others);
    // The old leader wakes up: it must find out it lost the lease and run nothing.
    const auto before = c.runs_by_instance()[old_id];
    c.run_for(5s, c.nodes);
    EXPECT_EQ(c.runs_by_instance()[old_id], before);
    EXPECT_FALSE(c.h.status(*old_leader).leader);
    EXPECT_EQ(c.board.holder(), new_id);

    // No tick ran twice; the ticks of the gap coalesced into one run, then every second ran.
    expect_each_tick_once(c.calls);
    const auto per_tick = c.calls.per_tick();
    const auto end = c.h.clock.system_now();
    for (auto t = std::chrono::floor<std::chrono::seconds>(end) - 14s; t <= end; t += 1s) {
        EXPECT_EQ(per_tick.count(t), 1u) << str(t);
    }
}

}  // namespace
}  // namespace confidant::scheduler
