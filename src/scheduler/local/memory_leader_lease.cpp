#include "scheduler/local/memory_leader_lease.hpp"

namespace confidant::scheduler {

std::string MemoryLeaseBoard::holder() const {
    std::lock_guard lock(mutex_);
    return token_ != 0 && clock_.steady_now() < expires_ ? holder_ : std::string();
}

std::chrono::steady_clock::time_point MemoryLeaseBoard::expires_at() const {
    std::lock_guard lock(mutex_);
    return expires_;
}

MemoryLeaderLease::MemoryLeaderLease(MemoryLeaseBoard& board, std::string holder,
                                     std::chrono::milliseconds period)
    : board_(board), holder_(std::move(holder)), period_(period) {
    std::lock_guard lock(board_.mutex_);
    token_ = board_.next_token_++;
}

Task<bool> MemoryLeaderLease::acquire_or_renew() {
    std::lock_guard lock(board_.mutex_);
    if (unreachable_) {
        co_return false;
    }
    const auto now = board_.clock_.steady_now();
    const bool free = board_.token_ == 0 || now >= board_.expires_;
    if (!free && board_.token_ != token_) {
        co_return false;
    }
    board_.token_ = token_;
    board_.holder_ = holder_;
    board_.expires_ = now + period_;
    co_return true;
}

Task<void> MemoryLeaderLease::release() {
    std::lock_guard lock(board_.mutex_);
    if (!unreachable_ && board_.token_ == token_) {
        board_.token_ = 0;
        board_.holder_.clear();
    }
    co_return;
}

void MemoryLeaderLease::set_unreachable(bool unreachable) {
    std::lock_guard lock(board_.mutex_);
    unreachable_ = unreachable;
}

}  // namespace confidant::scheduler
