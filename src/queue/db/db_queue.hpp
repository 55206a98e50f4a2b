#pragma once

#include <functional>
#include <mutex>
#include <vector>

#include "core/clock.hpp"
#include "queue/queue.hpp"
#include "storage/database.hpp"

namespace confidant::queue {

/// QUEUE_BACKEND=db: the jobs live in the database (storage/ops/jobs.hpp), claimed in a write
/// transaction (SQLite's single writer; PostgreSQL's FOR UPDATE SKIP LOCKED), so a job can be
/// enqueued in the same transaction as the exchange that causes it and nothing acknowledged is
/// ever lost. Workers of other processes find new jobs by polling; workers of this process are
/// woken by notify(). Thread-safe.
class DbQueue final : public Queue {
  public:
    explicit DbQueue(storage::Database& db, const Clock& clock = Clock::real());

    std::string_view backend() const override { return "db"; }
    Task<EnqueuedJob> enqueue(NewJob job) override;
    storage::Slot<storage::ops::EnqueueJob> enqueue_in(storage::Transaction& tx,
                                                      NewJob job) override;
    void notify() override;
    Task<std::optional<Job>> find(JobId id) override;
    Task<JobChange> cancel(JobId id, std::optional<storage::UserId> owner) override;
    Task<std::pair<JobChange, std::optional<Job>>> retry(JobId id) override;
    Task<JobChange> remove(JobId id) override;
    Task<JobPage> list(std::optional<std::string> status, int limit,
                       std::optional<JobId> before) override;
    Task<std::map<std::string, QueueCounts>> counts() override;
    Task<std::vector<Job>> claim(const ClaimRequest& r) override;
    Task<std::vector<JobId>> renew(std::vector<std::pair<JobId, std::int64_t>> jobs,
                                   std::chrono::milliseconds lease) override;
    Task<bool> finish(Outcome outcome, storage::Transaction also) override;
    Task<bool> release(JobId id, std::int64_t fence) override;
    Task<std::int64_t> maintain() override;

    /// Called (on the notifying thread) whenever notify() runs; the worker pool subscribes.
    void on_notify(std::function<void()> listener);

  private:
    UnixMillis now_ms() const;

    storage::Database& db_;
    const Clock& clock_;
    std::mutex listeners_mutex_;
    std::vector<std::function<void()>> listeners_;
};

}  // namespace confidant::queue
