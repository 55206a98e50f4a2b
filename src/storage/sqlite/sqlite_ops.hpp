#pragma once

#include "storage/ops/all.hpp"
#include "storage/sqlite/sqlite_connection.hpp"
#include "storage/transaction.hpp"

/// The SQLite implementation of every storage operation, one overload per operation, grouped by
/// area in sqlite_<area>.cpp. Each runs inside the caller's transaction on `c` (on a pool
/// thread) and throws SqliteError on faults.
namespace confidant::storage::sqlite {

// users (sqlite_users.cpp)
ops::CreateUser::Result run(Connection& c, const ops::CreateUser& op);
ops::FindUser::Result run(Connection& c, const ops::FindUser& op);
ops::FindUserByName::Result run(Connection& c, const ops::FindUserByName& op);
ops::UpdateProfile::Result run(Connection& c, const ops::UpdateProfile& op);
ops::SetPremiumUntil::Result run(Connection& c, const ops::SetPremiumUntil& op);
ops::RecentlyActiveUsers::Result run(Connection& c, const ops::RecentlyActiveUsers& op);

// messages and usage (sqlite_messages.cpp)
ops::AppendExchange::Result run(Connection& c, const ops::AppendExchange& op);
ops::History::Result run(Connection& c, const ops::History& op);
ops::LoadTurnContext::Result run(Connection& c, const ops::LoadTurnContext& op);
ops::DeleteHistory::Result run(Connection& c, const ops::DeleteHistory& op);
ops::PurgeMessagesBefore::Result run(Connection& c, const ops::PurgeMessagesBefore& op);
ops::UsageOn::Result run(Connection& c, const ops::UsageOn& op);
ops::PurgeUsageBefore::Result run(Connection& c, const ops::PurgeUsageBefore& op);

// idempotency (sqlite_idempotency.cpp)
ops::ReserveIdempotencyKey::Result run(Connection& c, const ops::ReserveIdempotencyKey& op);
ops::ReleaseIdempotencyKey::Result run(Connection& c, const ops::ReleaseIdempotencyKey& op);
ops::PurgeIdempotencyBefore::Result run(Connection& c, const ops::PurgeIdempotencyBefore& op);

/// Runs every operation of `tx` on `c` in order, storing the results in `tx`. The caller owns
/// the surrounding transaction (or savepoint).
inline void run_all(Connection& c, storage::Transaction& tx) {
    tx.clear_results();
    const auto& ops = tx.ops();
    for (std::size_t i = 0; i < ops.size(); ++i) {
        std::visit(
            [&](const auto& op) {
                using Op = std::decay_t<decltype(op)>;
                tx.set_result<Op>(i, run(c, op));
            },
            ops[i]);
    }
}

}  // namespace confidant::storage::sqlite
