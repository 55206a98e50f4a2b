#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <variant>

#include "storage/database.hpp"

namespace confidant::storage {

/// A Database decorator that counts operations by name (for /metrics, and so tests can see how
/// many reads reached the database behind the cache). Thread-safe; adds one relaxed atomic
/// increment per operation.
class InstrumentedDatabase final : public Database {
  public:
    explicit InstrumentedDatabase(Database& inner) : inner_(inner) {}

    Task<int> migrate() override { return inner_.migrate(); }
    Task<void> ping() override {
        pings_.fetch_add(1, std::memory_order_relaxed);
        return inner_.ping();
    }
    Task<void> execute(Transaction& tx) override {
        for (const auto& op : tx.ops()) {
            calls_[op.index()].fetch_add(1, std::memory_order_relaxed);
        }
        return inner_.execute(tx);
    }

    /// Calls of the operation `Op` so far.
    template <class Op>
    std::uint64_t calls() const {
        return calls_[op_index_v<Op>].load(std::memory_order_relaxed);
    }
    /// Appends `store_operations_total{op}` in Prometheus text format.
    void render(std::string& out) const;

  private:
    Database& inner_;
    std::array<std::atomic<std::uint64_t>, std::variant_size_v<AnyOp>> calls_{};
    std::atomic<std::uint64_t> pings_{0};
};

}  // namespace confidant::storage
