#pragma once

#include <string_view>
#include <type_traits>
#include <utility>

#include "core/task.hpp"
#include "storage/transaction.hpp"

namespace confidant::storage {

/// The database: connections, transactions and migrations, whatever the engine. The domain
/// builds Transactions out of the operations of several areas (users, messages, usage,
/// idempotency, ...) and hands them here; backends (SQLite, PostgreSQL) implement every
/// operation. app/wiring.cpp picks the backend from DATABASE_URL; nothing else names one.
///
/// Every call is asynchronous and never blocks the calling (I/O) thread: SQLite runs on a
/// BlockingPool, PostgreSQL is awaited on its sockets. Calls throw on faults (database
/// unreachable, corrupt, an operation that cannot be applied); expected outcomes (not found,
/// conflict) are values in the results. Thread-safe: any number of coroutines may call.
class Database {
  public:
    virtual ~Database() = default;

    /// Applies pending migrations (once, even when several instances start together);
    /// returns the schema version after.
    virtual Task<int> migrate() = 0;
    /// Throws when the database cannot answer a trivial query.
    virtual Task<void> ping() = 0;
    /// Runs the transaction's operations in order in one database transaction and stores
    /// their results in it. When it throws, nothing of the transaction is stored.
    virtual Task<void> execute(Transaction& tx) = 0;

    /// One operation, built in place as `Op{args...}`, in a transaction of its own:
    /// `co_await db.run<ops::FindUser>(id)`.
    ///
    /// (Why not `co_await db.run(ops::FindUser{id})`: GCC 12 destroys an aggregate temporary
    /// that lives across a co_await twice. The operation is built here, in a plain function,
    /// and only the Transaction, which is not an aggregate, reaches the coroutine.)
    template <class Op, class... Args>
        requires(sizeof...(Args) != 1 || !(std::is_same_v<std::decay_t<Args>, Op> && ...))
    Task<typename Op::Result> run(Args&&... args) {
        return run_one<Op>(Transaction(Op{std::forward<Args>(args)...}));
    }
    /// One operation built by the caller, moved from, in a transaction of its own.
    template <class Op>
    Task<typename Op::Result> run(Op& op) {
        return run_one<Op>(Transaction(std::move(op)));
    }

  private:
    template <class Op>
    Task<typename Op::Result> run_one(Transaction tx) {
        co_await execute(tx);
        co_return tx.take(Slot<Op>{0});
    }
};

}  // namespace confidant::storage
