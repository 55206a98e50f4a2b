#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "queue/queue.hpp"

namespace confidant::queue {

/// What a handler sees of the attempt it runs.
struct JobContext {
    const Job& job;
    /// Operations to commit in the transaction that finishes the job (succeeded), e.g. the
    /// record of the audio a TTS job made. Conditional writes should check the job's fence.
    storage::Transaction& finish_with;
    std::int64_t fence = 0;
};

/// Runs one attempt of a job type. Returns the result (a JSON object, kept with the job) or an
/// error: the attempt failed and is retried after the type's backoff until max_attempts, then
/// the job is dead; an error with ErrorCode::bad_request (the job itself is wrong: no retry can
/// help) makes it dead at once. May throw (counted as a failed attempt). Runs on the worker pool's
/// executor; blocking work belongs on a BlockingPool. Cancelled (Asio cancellation of the
/// awaiting coroutine) when the lease is lost, the timeout passes or a drain ends.
class JobHandler {
  public:
    virtual ~JobHandler() = default;
    virtual Task<Result<std::string>> run(JobContext& ctx) = 0;
};

/// Exponential backoff with full jitter: the n-th retry waits a random time in
/// [base·2^(n-1) / 2, base·2^(n-1)], capped at `max`.
struct Backoff {
    std::chrono::milliseconds base{1000};
    std::chrono::milliseconds max{300'000};
    std::chrono::milliseconds delay(int attempt, double unit_random) const;
};

struct JobType {
    std::string type;
    std::shared_ptr<JobHandler> handler;
    /// Attempts of this type running at once in this process (0 = only WORKER_CONCURRENCY).
    std::size_t concurrency = 0;
    std::chrono::milliseconds timeout{120'000};
    Backoff backoff;
    /// How long a finished job and its result are kept (dead jobs: 7 days).
    std::chrono::seconds keep_result{86'400};
};

struct WorkerSettings {
    std::string worker_id = "worker";
    std::size_t concurrency = 4;  ///< WORKER_CONCURRENCY
    std::chrono::milliseconds lease{30'000};
    /// How often an idle pool looks for jobs that other processes enqueued (this process's own
    /// enqueues wake it at once).
    std::chrono::milliseconds poll{100};
    /// Running jobs per user at most, so one user's backlog cannot starve another's job.
    int per_user_running = 2;
    std::chrono::milliseconds maintain_every{5000};
    std::size_t claim_batch = 64;
    std::chrono::milliseconds drain_timeout{10'000};
};

/// Per job type, since start.
struct TypeStats {
    std::uint64_t started = 0;
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;  ///< attempts that failed (retried or dead)
    std::uint64_t dead = 0;
    std::uint64_t lost = 0;  ///< attempts whose lease was taken over
    double seconds_total = 0;
    std::size_t running = 0;
};

/// Runs jobs from a Queue: claims up to `concurrency` at a time (only types with free slots,
/// at most `per_user_running` per user), renews their leases every lease/3 in one call,
/// finishes each under its fence (success, retry with backoff, dead), and periodically puts
/// expired jobs back (crash recovery of other workers). drain() stops claiming, lets running
/// attempts finish until `drain_timeout`, then cancels the rest and hands their leases back.
///
/// Everything runs on `executor` (one strand of control: use a single-threaded io_context or a
/// strand); add() before start(). notify() may be called from any thread.
class WorkerPool {
  public:
    WorkerPool(boost::asio::any_io_executor executor, Queue& queue, WorkerSettings settings,
               const Clock& clock = Clock::real());
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void add(JobType type);
    void start();
    /// Wakes the dispatcher (a job was enqueued). Thread-safe.
    void notify();
    Task<void> drain();

    std::size_t running() const noexcept { return running_.load(std::memory_order_relaxed); }
    std::size_t concurrency() const noexcept { return settings_.concurrency; }
    /// A copy of the per-type counters (thread-safe).
    std::map<std::string, TypeStats> stats() const;
    /// The queue's counts as last sampled by the maintenance loop (every maintain_every), with
    /// the sample's time (ms); empty before the first sample.
    std::pair<std::map<std::string, QueueCounts>, UnixMillis> last_counts() const;
    /// Appends the pool's and the queue's figures in Prometheus text format.
    void render_metrics(std::string& out) const;
    /// Milliseconds from a job's run_at to its start, most recent first (bounded), for tests
    /// and benchmarks.
    std::vector<double> recent_start_delays_ms() const;

    struct Running;

  private:
    Task<void> dispatch();
    Task<void> heartbeat();
    Task<void> maintain();
    Task<void> run_one(Job job);
    std::vector<std::string> claimable_types() const;
    std::chrono::milliseconds retry_delay(const JobType& t, int attempt);

    boost::asio::any_io_executor executor_;
    Queue& queue_;
    WorkerSettings settings_;
    const Clock& clock_;
    std::unordered_map<std::string, JobType> types_;
    boost::asio::steady_timer wake_;
    bool woken_ = false;  // a notify arrived while the dispatcher was busy
    bool stopping_ = false;
    std::atomic<std::size_t> running_{0};
    std::unordered_map<JobId, std::shared_ptr<Running>> attempts_;
    std::unordered_map<std::string, std::size_t> running_by_type_;
    mutable std::mutex stats_mutex_;
    std::map<std::string, TypeStats> stats_;
    std::vector<double> start_delays_;
    std::map<std::string, QueueCounts> last_counts_;
    UnixMillis last_counts_at_ = 0;
    std::size_t start_delay_next_ = 0;
    std::shared_ptr<bool> alive_;
    boost::asio::steady_timer idle_;  // wakes drain() when the last attempt ends
};

}  // namespace confidant::queue
