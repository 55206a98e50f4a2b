// The scheduler's conformance suites against the in-memory backends and the Redis lease.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "conformance/scheduler_conformance.hpp"
#include "fixtures.hpp"
#include "redis/pool.hpp"
#include "scheduler/local/memory_leader_lease.hpp"
#include "scheduler/local/memory_state_store.hpp"
#include "scheduler/local/memory_tick_claims.hpp"
#include "scheduler/redis/redis_leader_lease.hpp"
#include "support/redis_server.hpp"

namespace confidant::scheduler::conformance {
namespace {

class MemoryStoreBackend final : public SchedulerStoreBackend {
  public:
    TickClaims& claims() override { return claims_; }
    StateStore& state() override { return state_; }

  private:
    MemoryTickClaims claims_;
    MemoryStateStore state_;
};

INSTANTIATE_TEST_SUITE_P(Memory, SchedulerStoreConformance,
                         ::testing::Values(SchedulerStoreParam{
                             "memory", [] { return std::make_unique<MemoryStoreBackend>(); }}),
                         SchedulerStoreParam::name_of);

class MemoryLeaseBackend final : public LeaseBackend {
  public:
    std::unique_ptr<LeaderLease> holder(const std::string& id) override {
        return std::make_unique<MemoryLeaderLease>(board_, id, 30s);
    }
    void expire() override { clock_.advance(31s); }

  private:
    test::TestClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
    MemoryLeaseBoard board_{clock_};
};

/// Runs each call of a RedisLeaderLease on the pool's own io threads, whatever the caller's
/// executor (the suite runs its calls on a private io_context).
class OnPoolThreads final : public LeaderLease {
  public:
    OnPoolThreads(boost::asio::any_io_executor ex, std::unique_ptr<RedisLeaderLease> inner)
        : ex_(std::move(ex)), inner_(std::move(inner)) {}
    Task<bool> acquire_or_renew() override {
        co_return co_await boost::asio::co_spawn(ex_, inner_->acquire_or_renew(),
                                                 boost::asio::use_awaitable);
    }
    Task<void> release() override {
        co_await boost::asio::co_spawn(ex_, inner_->release(), boost::asio::use_awaitable);
    }
    std::chrono::milliseconds period() const noexcept override { return inner_->period(); }

  private:
    boost::asio::any_io_executor ex_;
    std::unique_ptr<RedisLeaderLease> inner_;
};

class RedisLeaseBackend final : public LeaseBackend {
  public:
    RedisLeaseBackend() : pool_(io_.executor(), confidant::test::fast_redis_settings(server_)) {}
    ~RedisLeaseBackend() override { io_.run(pool_.close()); }

    std::unique_ptr<LeaderLease> holder(const std::string& id) override {
        return std::make_unique<OnPoolThreads>(io_.executor(),
                                               std::make_unique<RedisLeaderLease>(pool_, id, 30s));
    }
    void expire() override {
        auto r = io_.run(pool_.call("DEL", "confidant:scheduler:leader"));
        ASSERT_TRUE(r && r->integer() == 1) << "no lease to expire";
    }

  private:
    confidant::test::RedisServer server_;
    confidant::test::IoThreads io_{1};
    redis::Pool pool_;
};

INSTANTIATE_TEST_SUITE_P(
    Backends, LeaseConformance,
    ::testing::Values(LeaseParam{"memory", [] { return std::make_unique<MemoryLeaseBackend>(); }},
                      LeaseParam{"redis", [] { return std::make_unique<RedisLeaseBackend>(); }}),
    LeaseParam::name_of);

}  // namespace
}  // namespace confidant::scheduler::conformance
