#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/task.hpp"
#include "storage/ops/jobs.hpp"
#include "storage/transaction.hpp"

namespace confidant::queue {

using storage::EnqueuedJob;
using storage::JobChange;
using storage::JobId;
using storage::JobPage;
using storage::NewJob;
using storage::QueueCounts;
using storage::UnixMillis;
/// A job as the queue reports it (see storage::JobRow for the fields and states).
using Job = storage::JobRow;

/// What a worker asks for when it has free slots.
struct ClaimRequest {
    std::string worker;
    int limit = 1;
    std::vector<std::string> types;  ///< only these (empty = any)
    std::chrono::milliseconds lease{30'000};
    int per_user_running = 0;  ///< cap of running jobs per user (0 = none)
};

/// The end of one attempt, quoted with the fence the claim returned.
struct Outcome {
    JobId id = 0;
    std::int64_t fence = 0;
    bool succeeded = true;
    std::optional<std::string> result;  ///< JSON object
    std::optional<std::string> error;
    std::optional<UnixMillis> retry_at;  ///< failed: when the next attempt runs (none = dead)
    std::chrono::seconds keep_for{86'400};  ///< how long a finished job (its result) is kept
};

/// The durable job queue: at-least-once delivery, retries with backoff, leases renewed by
/// heartbeat and checked by a fencing token, crash recovery, a dead-letter list.
/// Backends: DbQueue (QUEUE_BACKEND=db: the database's own tables, so a job can be enqueued in
/// the transaction that causes it) and RedisQueue (Streams). Thread-safe; every call is awaited
/// and never blocks the calling thread. Expected outcomes are values; faults throw.
class Queue {
  public:
    virtual ~Queue() = default;

    /// "db" or "redis".
    virtual std::string_view backend() const = 0;

    /// Enqueues in a transaction of its own (returns the holder of a unique key instead when
    /// there is one) and wakes this process's workers.
    virtual Task<EnqueuedJob> enqueue(NewJob job) = 0;
    /// Adds the enqueue to the caller's transaction: the job exists exactly when that
    /// transaction commits (the outbox idea). After the commit, call notify().
    virtual storage::Slot<storage::ops::EnqueueJob> enqueue_in(storage::Transaction& tx,
                                                              NewJob job) = 0;
    /// Wakes this process's workers (a job was enqueued through enqueue_in).
    virtual void notify() = 0;

    virtual Task<std::optional<Job>> find(JobId id) = 0;
    /// Removes a queued job (only the owner's when `owner` is set).
    virtual Task<JobChange> cancel(JobId id, std::optional<storage::UserId> owner) = 0;
    /// Queues a dead or failed job again with fresh attempts; with `done`, the job as it was
    /// queued (read in the same transaction).
    virtual Task<std::pair<JobChange, std::optional<Job>>> retry(JobId id) = 0;
    /// Removes a job that is not running.
    virtual Task<JobChange> remove(JobId id) = 0;
    virtual Task<JobPage> list(std::optional<std::string> status, int limit,
                               std::optional<JobId> before) = 0;
    /// Jobs per queue and status, and the oldest ready job's run_at.
    virtual Task<std::map<std::string, QueueCounts>> counts() = 0;

    // The worker side.

    /// Leases up to `r.limit` ready jobs.
    virtual Task<std::vector<Job>> claim(const ClaimRequest& r) = 0;
    /// Extends the leases of the given running jobs; returns those whose lease was lost.
    virtual Task<std::vector<JobId>> renew(std::vector<std::pair<JobId, std::int64_t>> jobs,
                                           std::chrono::milliseconds lease) = 0;
    /// Ends an attempt; `also` holds operations to commit in the same transaction (e.g. the
    /// audio a TTS job made) and may be empty. False when the fence no longer holds (the lease
    /// was taken over): then nothing of it is stored.
    virtual Task<bool> finish(Outcome outcome, storage::Transaction also) = 0;
    /// Hands a running attempt back uncounted (graceful drain).
    virtual Task<bool> release(JobId id, std::int64_t fence) = 0;
    /// Puts jobs whose lease expired back (crash recovery) and removes finished jobs past their
    /// keep time; returns how many were put back.
    virtual Task<std::int64_t> maintain() = 0;
};

}  // namespace confidant::queue
