#pragma once

#include <boost/system/result.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace confidant {

/// Error codes of API.md's error shape; the HTTP layer maps each to its status.
enum class ErrorCode {
    bad_request,
    unauthorized,
    forbidden,
    not_found,
    method_not_allowed,
    conflict,
    payload_too_large,
    unsupported_media_type,
    headers_too_large,
    rate_limited,
    quota_exceeded,
    llm_unavailable,
    not_ready,
    internal,
};

/// The snake_case name used in JSON error bodies.
const char* to_string(ErrorCode code) noexcept;
/// The HTTP status code API.md assigns to `code`.
unsigned http_status(ErrorCode code) noexcept;

/// An expected failure, returned as a value (`Result<T>`), never thrown across layers.
struct Error {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    /// Seconds a client should wait before retrying (429/503), when known.
    std::optional<long> retry_after_s;
};

/// Thrown by `Result<T>::value()` on an error; also usable by handlers to bail out with a
/// documented error. The HTTP layer turns it into the JSON error shape.
class ErrorException : public std::runtime_error {
  public:
    explicit ErrorException(Error e) : std::runtime_error(e.message), error_(std::move(e)) {}
    const Error& error() const noexcept { return error_; }

  private:
    Error error_;
};

template <class T>
using Result = boost::system::result<T, Error>;

/// Found by ADL when `Result<T>::value()` is called on an error.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

inline Error make_error(ErrorCode code, std::string message,
                        std::optional<long> retry_after_s = std::nullopt) {
    return Error{code, std::move(message), retry_after_s};
}

}  // namespace confidant
