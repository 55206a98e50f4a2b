#pragma once

#include <string_view>

#include "storage/postgres/params.hpp"

namespace confidant::storage::pg {

/// One statement of a batch. `name` and `sql` are views: they must stay valid until the call
/// that runs the statement completes (string literals, the usual case, always are).
///
/// A non-empty `name` is the statement's prepared-statement key: the first time a connection
/// runs that name it prepares `sql` under it (in the same round trip as the execution) and
/// afterwards only executes it. One name must always mean the same SQL (running another SQL
/// under a known name throws std::logic_error). An empty name runs `sql` unprepared (parsed
/// every time), for one-off statements such as BEGIN, COMMIT or DDL.
///
/// `sql` holds exactly one SQL command; parameters are `$1, $2, ...` bound from `params`.
///
/// Inside a coroutine, name a Statement before awaiting a call that takes it by reference:
/// GCC 12 destroys a temporary bound to a reference inside a co_await expression twice
/// (`const Statement st{...}; co_await c.run_one(st, t);`, not `co_await c.run_one({...}, t)`).
struct Statement {
    std::string_view name;
    std::string_view sql;
    Params params;
};

/// The server-side transaction state of a connection after its last call.
enum class TxStatus {
    idle,            ///< not in a transaction block
    in_transaction,  ///< inside BEGIN ... (no COMMIT/ROLLBACK yet)
    in_error,        ///< inside a failed transaction block: only ROLLBACK will be accepted
    unknown,         ///< the connection is broken
};

}  // namespace confidant::storage::pg
