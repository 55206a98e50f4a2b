#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace confidant::storage::pg {

/// The parameters `$1, $2, ...` of one statement, always bound (never spliced into SQL).
///
/// Values are sent in text format with no declared type, so the server infers each type from
/// the SQL (`WHERE id = $1` makes $1 a bigint; write `$1::int8` where the context does not
/// say); numbers are formatted exactly (integers as decimal, doubles in their shortest
/// round-trip form). `add_bytes()` sends raw bytes in binary format, for `bytea`.
/// PostgreSQL text cannot hold a NUL byte: `add()` of a string containing one throws
/// std::invalid_argument (validate input before it gets here, or store it as bytea).
///
/// A value type: copyable and movable; owns one buffer for all values. Not thread-safe.
class Params {
  public:
    Params() = default;
    /// `Params(user_id, "text", std::nullopt, 2.5)`: add() of each argument in order.
    template <class... Args>
    requires(sizeof...(Args) > 0 && (!std::is_same_v<std::remove_cvref_t<Args>, Params> &&
                                     ...)) explicit Params(const Args&... args) {
        slots_.reserve(sizeof...(Args));
        (add(args), ...);
    }

    Params& add(std::nullopt_t);
    Params& add(bool value);
    template <std::integral T>
    requires(!std::is_same_v<T, bool> && !std::is_same_v<T, char>) Params& add(T value) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        return add_text_unchecked(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    Params& add(double value);
    Params& add(float value) { return add(static_cast<double>(value)); }
    /// Text; throws std::invalid_argument when `value` contains a NUL byte.
    Params& add(std::string_view value);
    Params& add(const char* value) { return add(std::string_view(value)); }
    Params& add(const std::string& value) { return add(std::string_view(value)); }
    /// NULL when empty.
    template <class T>
    Params& add(const std::optional<T>& value) {
        return value ? add(*value) : add(std::nullopt);
    }
    /// Raw bytes in binary format (any byte, NUL included), for a `bytea` parameter.
    Params& add_bytes(std::string_view bytes);

    int size() const noexcept { return static_cast<int>(slots_.size()); }
    bool empty() const noexcept { return slots_.empty(); }

    /// For the driver: fills libpq's parallel arrays (pointers into this object, valid until it
    /// changes).
    void fill(std::vector<const char*>& values, std::vector<int>& lengths,
              std::vector<int>& formats) const;

  private:
    struct Slot {
        std::uint32_t offset = 0;
        std::int32_t length = 0;  // -1: NULL
        bool binary = false;
    };
    Params& add_text_unchecked(std::string_view value);

    std::string data_;  // every value followed by a NUL (text format needs the terminator)
    std::vector<Slot> slots_;
};

}  // namespace confidant::storage::pg
