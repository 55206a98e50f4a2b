#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/ops/users.hpp"

namespace confidant::storage {

using JobId = std::int64_t;
/// Milliseconds since the Unix epoch: jobs are scheduled and leased at this resolution.
using UnixMillis = std::int64_t;

/// A job as stored. `status` is "queued" (waiting, possibly deferred to `run_at`), "running"
/// (leased by a worker until `lease_until`), "succeeded", "failed" (an attempt failed; the next
/// one runs at `run_at`) or "dead" (no attempt left).
struct JobRow {
    JobId id = 0;
    std::string type;
    std::string queue;
    std::string payload;  ///< JSON
    int priority = 0;     ///< lower runs first
    std::optional<UserId> user_id;
    std::string status;
    int attempts = 0;
    int max_attempts = 1;
    UnixMillis run_at = 0;
    std::optional<std::string> unique_key;
    std::int64_t fence = 0;  ///< grows with every claim; a completion must quote it
    std::optional<UnixMillis> lease_until;
    std::optional<std::string> result;  ///< JSON
    std::optional<std::string> error;
    UnixMillis created_at = 0;
    std::optional<UnixMillis> started_at;
    std::optional<UnixMillis> finished_at;
};

struct NewJob {
    std::string type;
    std::string queue = "default";
    std::string payload = "{}";
    int priority = 0;
    std::optional<UserId> user_id;
    int max_attempts = 5;
    UnixMillis run_at = 0;  ///< 0 = now
    /// While a job with this key is unfinished (or finished less than `unique_for_ms` ago),
    /// enqueueing another returns that job instead.
    std::optional<std::string> unique_key;
    std::int64_t unique_for_ms = 0;
};

struct EnqueuedJob {
    JobId id = 0;
    bool duplicate = false;  ///< an existing job with the unique key was returned
};

struct JobPage {
    std::vector<JobRow> jobs;  ///< newest first
    bool has_more = false;
};

struct QueueCounts {
    std::int64_t queued = 0;
    std::int64_t running = 0;
    std::int64_t succeeded = 0;
    std::int64_t failed = 0;
    std::int64_t dead = 0;
    std::optional<UnixMillis> oldest_queued_run_at;  ///< of the ready jobs (run_at <= now)
};

/// What changing a job by id found.
enum class JobChange {
    done,        ///< applied
    not_found,   ///< no such job (or not the caller's)
    running,     ///< it is running: refused
    wrong_state  ///< e.g. retrying a job that is not dead or failed
};

namespace ops {

/// Inserts a job (status "queued"), or returns the unfinished job holding its unique key.
struct EnqueueJob {
    static constexpr const char* kName = "enqueue_job";
    static constexpr bool kWrites = true;
    using Result = EnqueuedJob;
    NewJob job;
    UnixMillis now = 0;
};

struct FindJob {
    static constexpr const char* kName = "find_job";
    static constexpr bool kWrites = false;
    using Result = std::optional<JobRow>;
    JobId id = 0;
};

/// Leases up to `limit` ready jobs (queued or failed, run_at <= now), best priority then oldest
/// first: status "running", attempts + 1, a new fence, lease_until = now + lease_ms.
/// `types` restricts the claim (empty = any type). A user with `per_user_running` jobs already
/// running gets no more (0 = no cap), so one user's thousand jobs cannot starve another's one.
struct ClaimJobs {
    static constexpr const char* kName = "claim_jobs";
    static constexpr bool kWrites = true;
    using Result = std::vector<JobRow>;
    std::string worker;
    UnixMillis now = 0;
    std::int64_t lease_ms = 30'000;
    int limit = 1;
    std::vector<std::string> types;
    int per_user_running = 0;
};

/// Extends the leases of running jobs still held under the given fences; returns the ids whose
/// lease was lost (taken over, cancelled, deleted).
struct RenewLeases {
    static constexpr const char* kName = "renew_leases";
    static constexpr bool kWrites = true;
    using Result = std::vector<JobId>;
    std::vector<std::pair<JobId, std::int64_t>> jobs;  ///< (id, fence)
    UnixMillis lease_until = 0;
};

/// Ends a running attempt held under `fence` (a worker whose lease was taken over cannot
/// overwrite anything: false). `succeeded` → status "succeeded" with `result`; otherwise
/// "failed" with the next attempt at `retry_at`, or "dead" without one. A finished job is kept
/// until `keep_until` (its result's TTL).
struct FinishJob {
    static constexpr const char* kName = "finish_job";
    static constexpr bool kWrites = true;
    using Result = bool;
    JobId id = 0;
    std::int64_t fence = 0;
    bool succeeded = true;
    std::optional<std::string> result;
    std::optional<std::string> error;
    std::optional<UnixMillis> retry_at;
    UnixMillis now = 0;
    UnixMillis keep_until = 0;
};

/// Hands a running attempt back uncounted (a worker draining on SIGTERM): "queued" again at
/// `run_at`, attempts - 1. False when the fence no longer holds.
struct ReleaseJob {
    static constexpr const char* kName = "release_job";
    static constexpr bool kWrites = true;
    using Result = bool;
    JobId id = 0;
    std::int64_t fence = 0;
    UnixMillis run_at = 0;
};

/// Crash recovery: running jobs whose lease passed before `now` become "failed" (retried at
/// once, the attempt counted) or "dead" when none is left; returns how many.
struct RescueExpiredJobs {
    static constexpr const char* kName = "rescue_jobs";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    UnixMillis now = 0;
};

/// Removes a queued job (the owner's, when `owner` is set): done, not_found, or running.
struct CancelJob {
    static constexpr const char* kName = "cancel_job";
    static constexpr bool kWrites = true;
    using Result = JobChange;
    JobId id = 0;
    std::optional<UserId> owner;
};

/// A dead or failed job queued again at `now` with fresh attempts.
struct RetryJob {
    static constexpr const char* kName = "retry_job";
    static constexpr bool kWrites = true;
    using Result = JobChange;
    JobId id = 0;
    UnixMillis now = 0;
};

/// Removes a job that is not running.
struct DeleteJob {
    static constexpr const char* kName = "delete_job";
    static constexpr bool kWrites = true;
    using Result = JobChange;
    JobId id = 0;
};

/// Jobs with `status` (all when empty), newest first, ids below `before`.
struct ListJobs {
    static constexpr const char* kName = "list_jobs";
    static constexpr bool kWrites = false;
    using Result = JobPage;
    std::optional<std::string> status;
    int limit = 50;
    std::optional<JobId> before;
};

/// Counts per queue and status.
struct CountJobs {
    static constexpr const char* kName = "count_jobs";
    static constexpr bool kWrites = false;
    using Result = std::map<std::string, QueueCounts>;
    UnixMillis now = 0;
};

/// Removes finished jobs whose keep_until has passed, at most `limit`; returns how many.
struct PurgeFinishedJobs {
    static constexpr const char* kName = "purge_jobs";
    static constexpr bool kWrites = true;
    using Result = std::int64_t;
    UnixMillis now = 0;
    std::int64_t limit = 1000;
};

}  // namespace ops
}  // namespace confidant::storage
