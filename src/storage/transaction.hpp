#pragma once

#include <cstddef>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "storage/ops/all.hpp"

namespace confidant::storage {

/// Where an operation's result will be, returned by Transaction::add.
template <class Op>
struct Slot {
    std::size_t index = 0;
};

/// A unit of work: operations of any areas, run by Database::execute in order, in one database
/// transaction, all or nothing. The operations are values: no caller code runs between them,
/// so a backend may send them all at once (PostgreSQL's pipeline) or batch several
/// transactions into one commit (SQLite's group commit). Not thread-safe; owned by the caller,
/// who keeps it alive until execute() completes.
class Transaction {
  public:
    Transaction() = default;
    template <class Op>
        requires(!std::is_same_v<std::decay_t<Op>, Transaction>)
    explicit Transaction(Op op) {
        add(std::move(op));
    }

    template <class Op>
    Slot<Op> add(Op op) {
        writes_ = writes_ || Op::kWrites;
        ops_.emplace_back(std::in_place_type<Op>, std::move(op));
        return Slot<Op>{ops_.size() - 1};
    }

    /// The result of the operation in `slot`, moved out; after a successful execute().
    template <class Op>
    typename Op::Result take(Slot<Op> slot) {
        auto* r = slot.index < results_.size()
                      ? std::get_if<op_index_v<Op> + 1>(&results_[slot.index])
                      : nullptr;
        if (r == nullptr) {
            throw std::logic_error("storage::Transaction: no result for this operation");
        }
        return std::move(*r);
    }

    /// Whether any operation writes (read-only transactions may run on a reading connection).
    bool writes() const noexcept { return writes_; }
    bool empty() const noexcept { return ops_.empty(); }
    std::size_t size() const noexcept { return ops_.size(); }
    const std::vector<AnyOp>& ops() const noexcept { return ops_; }

    /// For backends: the results, one per operation, set while executing.
    std::vector<AnyResult>& results() noexcept { return results_; }
    /// For backends: stores the result of operation `i`.
    template <class Op>
    void set_result(std::size_t i, typename Op::Result r) {
        if (results_.size() != ops_.size()) {
            results_.resize(ops_.size());
        }
        results_[i].template emplace<op_index_v<Op> + 1>(std::move(r));
    }
    /// For backends: forgets results of an attempt that was rolled back.
    void clear_results() noexcept { results_.clear(); }

  private:
    std::vector<AnyOp> ops_;
    std::vector<AnyResult> results_;
    bool writes_ = false;
};

}  // namespace confidant::storage
