#pragma once

#include <cstddef>
#include <type_traits>
#include <variant>

#include "storage/ops/idempotency.hpp"
#include "storage/ops/messages.hpp"
#include "storage/ops/usage.hpp"
#include "storage/ops/users.hpp"

namespace confidant::storage {

/// Every operation a Transaction may hold. Adding an area's operation means adding it here and
/// giving every backend an implementation (a missing one does not compile).
template <class... Ops>
struct OpList {
    using AnyOp = std::variant<Ops...>;
    /// Index 0 is "not run yet"; the result of the operation at index i of AnyOp sits at i + 1.
    using AnyResult = std::variant<std::monostate, typename Ops::Result...>;
};

using AllOps = OpList<ops::CreateUser, ops::FindUser, ops::FindUserByName, ops::UpdateProfile,
                      ops::SetPremiumUntil, ops::RecentlyActiveUsers, ops::AppendExchange,
                      ops::History, ops::LoadTurnContext, ops::DeleteHistory,
                      ops::PurgeMessagesBefore, ops::ReserveIdempotencyKey,
                      ops::ReleaseIdempotencyKey, ops::PurgeIdempotencyBefore, ops::UsageOn,
                      ops::PurgeUsageBefore>;

using AnyOp = AllOps::AnyOp;
using AnyResult = AllOps::AnyResult;

/// The index of `Op` in AnyOp.
template <class Op, class Variant = AnyOp>
struct op_index;
template <class Op, class... Ts>
struct op_index<Op, std::variant<Ts...>> {
    static constexpr std::size_t value = [] {
        constexpr bool same[] = {std::is_same_v<Op, Ts>...};
        for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
            if (same[i]) {
                return i;
            }
        }
        return sizeof...(Ts);
    }();
    static_assert(value < sizeof...(Ts), "not an operation of storage::AllOps");
};
template <class Op>
inline constexpr std::size_t op_index_v = op_index<Op>::value;

/// The operation's name (metrics, logs).
inline const char* op_name(const AnyOp& op) {
    return std::visit([](const auto& o) { return std::decay_t<decltype(o)>::kName; }, op);
}
inline bool op_writes(const AnyOp& op) {
    return std::visit([](const auto& o) { return std::decay_t<decltype(o)>::kWrites; }, op);
}

}  // namespace confidant::storage
