#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace confidant::http {

/// A byte range of a resource, both ends inclusive (as in `Content-Range: bytes 0-99/1000`).
struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t length() const noexcept { return last - first + 1; }
    bool operator==(const ByteRange&) const = default;
};

/// What to answer a request's `Range` header with (RFC 9110 §14), for one range only.
struct RangeDecision {
    enum class Kind {
        ignore,           ///< no usable Range: answer 200 with the whole resource
        partial,          ///< answer 206 with `range` and `Content-Range: bytes first-last/size`
        not_satisfiable,  ///< answer 416 with `Content-Range: bytes */size`
    };
    Kind kind = Kind::ignore;
    ByteRange range;  ///< set for `partial`
    bool operator==(const RangeDecision&) const = default;
};

/// Decides how to serve `header` (the Range field's value; empty when absent) for a resource of
/// `size` bytes. One range in the `bytes` unit (case-insensitive, optional spaces around it):
/// `bytes=a-b` (b past the end is cut to the last byte), `bytes=a-` (from a to the end) and
/// `bytes=-n` (the last n bytes, the whole resource when n >= size) are `partial`; a first byte
/// at or past the end (so any range of an empty resource) and `bytes=-0` are `not_satisfiable`.
/// Everything else is `ignore`: no header, another unit, a syntax error, a > b, and several
/// ranges (which this server does not serve as multipart). Pure; never throws.
RangeDecision decide_range(std::string_view header, std::uint64_t size) noexcept;

/// `bytes <first>-<last>/<size>` for a 206 answer.
std::string content_range(const ByteRange& range, std::uint64_t size);

/// `bytes */<size>` for a 416 answer.
std::string unsatisfied_content_range(std::uint64_t size);

}  // namespace confidant::http
