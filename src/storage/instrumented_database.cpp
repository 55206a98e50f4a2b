#include "storage/instrumented_database.hpp"

#include <utility>

namespace confidant::storage {

namespace {

// The name of the operation at each index of AnyOp.
template <std::size_t... I>
constexpr std::array<const char*, sizeof...(I)> names_of(std::index_sequence<I...>) {
    return {std::variant_alternative_t<I, AnyOp>::kName...};
}
constexpr auto kNames = names_of(std::make_index_sequence<std::variant_size_v<AnyOp>>{});

}  // namespace

void InstrumentedDatabase::render(std::string& out) const {
    out +=
        "# HELP store_operations_total Database operations by name (reads that reached the "
        "database).\n";
    out += "# TYPE store_operations_total counter\n";
    auto line = [&out](const char* name, std::uint64_t value) {
        out += "store_operations_total{op=\"";
        out += name;
        out += "\"} ";
        out += std::to_string(value);
        out += '\n';
    };
    line("ping", pings_.load(std::memory_order_relaxed));
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        line(kNames[i], calls_[i].load(std::memory_order_relaxed));
    }
}

}  // namespace confidant::storage
