#include "storage/instrumented_store.hpp"

namespace confidant::storage {

const char* InstrumentedStore::op_name(Op op) {
    static constexpr const char* kNames[kOpCount] = {"migrate",
                                                     "ping",
                                                     "create_user",
                                                     "find_user",
                                                     "find_user_by_name",
                                                     "update_profile",
                                                     "set_premium_until",
                                                     "recently_active_users",
                                                     "append_exchange",
                                                     "find_idempotent_response",
                                                     "history",
                                                     "delete_history",
                                                     "count_user_messages_since",
                                                     "turn_context",
                                                     "delete_messages_before"};
    return op < kOpCount ? kNames[op] : "unknown";
}

void InstrumentedStore::render(std::string& out) const {
    out +=
        "# HELP store_operations_total Store calls by operation (reads that reached the "
        "database).\n";
    out += "# TYPE store_operations_total counter\n";
    for (std::size_t i = 0; i < kOpCount; ++i) {
        out += "store_operations_total{op=\"";
        out += op_name(static_cast<Op>(i));
        out += "\"} ";
        out += std::to_string(calls_[i].load(std::memory_order_relaxed));
        out += '\n';
    }
}

}  // namespace confidant::storage
