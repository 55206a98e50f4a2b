#include "scheduler/local/memory_tick_claims.hpp"

#include <stdexcept>

namespace confidant::scheduler {

Task<bool> MemoryTickClaims::claim(const std::string& job_id, TimePoint tick,
                                   const std::string& instance_id) {
    std::lock_guard lock(mutex_);
    if (unreachable_) {
        throw std::runtime_error("tick claims: unreachable");
    }
    co_return rows_.emplace(std::make_pair(job_id, tick), instance_id).second;
}

Task<std::size_t> MemoryTickClaims::prune(TimePoint before) {
    std::lock_guard lock(mutex_);
    if (unreachable_) {
        throw std::runtime_error("tick claims: unreachable");
    }
    std::size_t n = 0;
    for (auto it = rows_.begin(); it != rows_.end();) {
        if (it->first.second < before) {
            it = rows_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    co_return n;
}

void MemoryTickClaims::set_unreachable(bool unreachable) {
    std::lock_guard lock(mutex_);
    unreachable_ = unreachable;
}

std::optional<std::string> MemoryTickClaims::owner(const std::string& job_id,
                                                   TimePoint tick) const {
    std::lock_guard lock(mutex_);
    const auto it = rows_.find(std::make_pair(job_id, tick));
    if (it == rows_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::map<std::pair<std::string, TimePoint>, std::string> MemoryTickClaims::all() const {
    std::lock_guard lock(mutex_);
    return rows_;
}

}  // namespace confidant::scheduler
