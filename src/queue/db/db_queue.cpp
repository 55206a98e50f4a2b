#include "queue/db/db_queue.hpp"

namespace confidant::queue {

namespace ops = storage::ops;

DbQueue::DbQueue(storage::Database& db, const Clock& clock) : db_(db), clock_(clock) {}

UnixMillis DbQueue::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.system_now().time_since_epoch())
        .count();
}

Task<EnqueuedJob> DbQueue::enqueue(NewJob job) {
    ops::EnqueueJob op{std::move(job), now_ms()};
    EnqueuedJob out = co_await db_.run(op);
    notify();
    co_return out;
}

storage::Slot<ops::EnqueueJob> DbQueue::enqueue_in(storage::Transaction& tx, NewJob job) {
    return tx.add(ops::EnqueueJob{std::move(job), now_ms()});
}

void DbQueue::on_notify(std::function<void()> listener) {
    std::lock_guard lock(listeners_mutex_);
    listeners_.push_back(std::move(listener));
}

void DbQueue::notify() {
    std::lock_guard lock(listeners_mutex_);
    for (auto& l : listeners_) {
        l();
    }
}

Task<std::optional<Job>> DbQueue::find(JobId id) { return db_.run<ops::FindJob>(id); }

Task<JobChange> DbQueue::cancel(JobId id, std::optional<storage::UserId> owner) {
    return db_.run<ops::CancelJob>(id, owner);
}

Task<std::pair<JobChange, std::optional<Job>>> DbQueue::retry(JobId id) {
    storage::Transaction tx;
    const auto retried = tx.add(ops::RetryJob{id, now_ms()});
    const auto found = tx.add(ops::FindJob{id});
    co_await db_.execute(tx);
    std::pair<JobChange, std::optional<Job>> out{tx.take(retried), tx.take(found)};
    if (out.first == JobChange::done) {
        notify();
    }
    co_return out;
}

Task<JobChange> DbQueue::remove(JobId id) { return db_.run<ops::DeleteJob>(id); }

Task<JobPage> DbQueue::list(std::optional<std::string> status, int limit,
                            std::optional<JobId> before) {
    return db_.run<ops::ListJobs>(std::move(status), limit, before);
}

Task<std::map<std::string, QueueCounts>> DbQueue::counts() {
    return db_.run<ops::CountJobs>(now_ms());
}

Task<std::vector<Job>> DbQueue::claim(const ClaimRequest& r) {
    return db_.run<ops::ClaimJobs>(r.worker, now_ms(), static_cast<std::int64_t>(r.lease.count()),
                                   r.limit, r.types, r.per_user_running);
}

Task<std::vector<JobId>> DbQueue::renew(std::vector<std::pair<JobId, std::int64_t>> jobs,
                                        std::chrono::milliseconds lease) {
    return db_.run<ops::RenewLeases>(std::move(jobs), now_ms() + lease.count());
}

Task<bool> DbQueue::finish(Outcome o, storage::Transaction also) {
    const UnixMillis now = now_ms();
    ops::FinishJob op{o.id,
                      o.fence,
                      o.succeeded,
                      std::move(o.result),
                      std::move(o.error),
                      o.retry_at,
                      now,
                      now + std::chrono::duration_cast<std::chrono::milliseconds>(o.keep_for).count()};
    // The job's own writes first: they are conditional on the fence still holding, which the
    // finishing step then ends.
    const auto finished = also.add(std::move(op));
    co_await db_.execute(also);
    const bool ok = also.take(finished);
    if (ok && !o.succeeded && o.retry_at) {
        notify();  // a retry may be due soon
    }
    co_return ok;
}

Task<bool> DbQueue::release(JobId id, std::int64_t fence) {
    bool ok = co_await db_.run<ops::ReleaseJob>(id, fence, now_ms());
    co_return ok;
}

Task<std::int64_t> DbQueue::maintain() {
    const UnixMillis now = now_ms();
    const std::int64_t rescued = co_await db_.run<ops::RescueExpiredJobs>(now);
    for (;;) {
        const std::int64_t purged = co_await db_.run<ops::PurgeFinishedJobs>(now, 1000);
        if (purged < 1000) {
            break;
        }
    }
    if (rescued > 0) {
        notify();
    }
    co_return rescued;
}

}  // namespace confidant::queue
