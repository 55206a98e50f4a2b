#pragma once

#include <boost/system/result.hpp>
#include <string>

#include "core/error.hpp"

namespace confidant::storage::pg {

/// Why a call failed as a whole (the connection or the pool, not one statement). An SQL error
/// of one statement is not a failure: it comes back as a `QueryResult` carrying its SQLSTATE.
enum class PgErrc {
    connect_failed,  ///< a connection could not be opened (refused, auth, TLS, bad database)
    broken,          ///< the connection was lost or spoke garbage while the call was pending
    timeout,         ///< the call ran past its timeout; the connection was closed
    cancelled,       ///< the awaiting coroutine was cancelled; the connection was closed
    closed,          ///< the connection or the pool was closed
    pool_timeout,    ///< no connection became free within the pool's acquire timeout
    unavailable,     ///< the pool knows the server is down and fails fast while reconnecting
};

const char* to_string(PgErrc code) noexcept;

struct PgError {
    PgErrc code = PgErrc::broken;
    std::string message;
};

/// The outcome of a call to a `Connection` or a `Pool`.
template <class T>
using PgResult = boost::system::result<T, PgError>;

/// Every PgErrc means "the database is not available right now": `not_ready` (503).
confidant::Error to_error(const PgError& e);

/// Found by ADL when `PgResult<T>::value()` is called on an error; throws
/// `confidant::ErrorException` with `to_error(e)`.
[[noreturn]] void throw_exception_from_error(const PgError& e, const boost::source_location& loc);

/// SQLSTATE codes callers branch on (https://www.postgresql.org/docs/15/errcodes-appendix.html).
namespace sqlstate {
inline constexpr const char* kUniqueViolation = "23505";
inline constexpr const char* kForeignKeyViolation = "23503";
inline constexpr const char* kCheckViolation = "23514";
inline constexpr const char* kNotNullViolation = "23502";
inline constexpr const char* kSerializationFailure = "40001";
inline constexpr const char* kDeadlockDetected = "40P01";
inline constexpr const char* kQueryCanceled = "57014";
inline constexpr const char* kLockNotAvailable = "55P03";
inline constexpr const char* kInFailedTransaction = "25P02";
inline constexpr const char* kUndefinedTable = "42P01";
inline constexpr const char* kDivisionByZero = "22012";
inline constexpr const char* kInvalidStatementName = "26000";
}  // namespace sqlstate

}  // namespace confidant::storage::pg
