#pragma once

#include <boost/system/result.hpp>
#include <string>

#include "core/error.hpp"

namespace confidant::redis {

/// Why a Redis call failed. A Redis error *reply* (WRONGTYPE, NOSCRIPT...) is not a failure: it
/// comes back as a `Reply` of type error.
enum class RedisErrc {
    down,            ///< the pool knows Redis is unreachable; failed without trying
    connect_failed,  ///< TCP connect, AUTH or SELECT failed or timed out
    io,              ///< the connection broke (reset, EOF) while the call was pending
    timeout,         ///< no reply within command_timeout; the connection was dropped
    protocol,        ///< the server sent something that is not RESP2
    closed,          ///< the pool, subscriber or connection was closed
    cancelled,       ///< the caller's coroutine was cancelled
};

const char* to_string(RedisErrc code) noexcept;

struct RedisError {
    RedisErrc code = RedisErrc::io;
    std::string message;
};

template <class T>
using RedisResult = boost::system::result<T, RedisError>;

/// Found by ADL when `RedisResult<T>::value()` is called on an error; throws
/// `confidant::ErrorException` with code `not_ready`.
[[noreturn]] void throw_exception_from_error(const RedisError& e,
                                             const boost::source_location& loc);

/// The project-wide error for a Redis failure (`not_ready`: a dependency is unavailable).
confidant::Error to_error(const RedisError& e);

}  // namespace confidant::redis
