#include "scheduler/local/memory_state_store.hpp"

#include <algorithm>
#include <stdexcept>

namespace confidant::scheduler {

JobState& MemoryStateStore::row(const std::string& job_id) {
    auto& s = rows_[job_id];
    s.job_id = job_id;
    return s;
}

void MemoryStateStore::check() const {
    if (unreachable_) {
        throw std::runtime_error("scheduler state: unreachable");
    }
}

Task<std::vector<JobState>> MemoryStateStore::load_all() {
    std::lock_guard lock(mutex_);
    check();
    std::vector<JobState> out;
    out.reserve(rows_.size());
    for (const auto& [id, s] : rows_) {
        out.push_back(s);
    }
    co_return out;
}

Task<void> MemoryStateStore::run_started(const RunStarted& run) {
    std::lock_guard lock(mutex_);
    check();
    auto& s = row(run.job_id);
    s.last_tick = std::max(s.last_tick.value_or(run.tick), run.tick);
    s.last_run_time = run.started_at;
    s.last_status = RunStatus::running;
    s.last_instance_id = run.instance_id;
    s.next_run_time = run.next_run_time;
    co_return;
}

Task<void> MemoryStateStore::run_finished(const RunFinished& run) {
    std::lock_guard lock(mutex_);
    check();
    auto& s = row(run.job_id);
    ++s.runs;
    if (run.status != RunStatus::succeeded) {
        ++s.failures;
    }
    if (!s.last_run_time || *s.last_run_time <= run.started_at) {
        s.last_status = run.status;
        s.last_duration = run.duration;
        s.last_error = run.error;
    }
    s.next_run_time = run.next_run_time;
    co_return;
}

Task<void> MemoryStateStore::tick_passed(const std::string& job_id, TimePoint tick, TickPassed why,
                                         std::optional<TimePoint> next_run_time) {
    std::lock_guard lock(mutex_);
    check();
    auto& s = row(job_id);
    if (why == TickPassed::skipped) {
        ++s.skipped;
    } else {
        ++s.missed;
    }
    s.last_tick = std::max(s.last_tick.value_or(tick), tick);
    s.next_run_time = next_run_time;
    co_return;
}

void MemoryStateStore::set_unreachable(bool unreachable) {
    std::lock_guard lock(mutex_);
    unreachable_ = unreachable;
}

std::optional<JobState> MemoryStateStore::get(const std::string& job_id) const {
    std::lock_guard lock(mutex_);
    const auto it = rows_.find(job_id);
    if (it == rows_.end()) {
        return std::nullopt;
    }
    return it->second;
}

}  // namespace confidant::scheduler
