#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace confidant::redis {

/// One RESP2 reply as a plain value (no hiredis types). Cheap to move.
class Reply {
  public:
    enum class Type { nil, status, error, integer, string, array };

    Reply() = default;  ///< nil
    static Reply make_nil() { return Reply{}; }
    static Reply make_status(std::string s) { return Reply(Type::status, std::move(s)); }
    static Reply make_error(std::string s) { return Reply(Type::error, std::move(s)); }
    static Reply make_string(std::string s) { return Reply(Type::string, std::move(s)); }
    static Reply make_integer(long long v) {
        Reply r(Type::integer, {});
        r.integer_ = v;
        return r;
    }
    static Reply make_array(std::vector<Reply> elements) {
        Reply r(Type::array, {});
        r.elements_ = std::move(elements);
        return r;
    }

    Type type() const noexcept { return type_; }
    bool is_nil() const noexcept { return type_ == Type::nil; }
    bool is_status() const noexcept { return type_ == Type::status; }
    bool is_error() const noexcept { return type_ == Type::error; }
    bool is_integer() const noexcept { return type_ == Type::integer; }
    bool is_string() const noexcept { return type_ == Type::string; }
    bool is_array() const noexcept { return type_ == Type::array; }

    /// The text of a status, error or bulk string reply (empty otherwise).
    const std::string& str() const noexcept { return str_; }
    /// The value of an integer reply (0 otherwise).
    long long integer() const noexcept { return integer_; }
    /// The elements of an array reply (empty otherwise).
    const std::vector<Reply>& elements() const noexcept { return elements_; }
    std::vector<Reply>& elements() noexcept { return elements_; }

    /// The text of a bulk string or status reply; nullopt for nil, errors, integers, arrays.
    std::optional<std::string> as_string() const {
        if (type_ == Type::string || type_ == Type::status) {
            return str_;
        }
        return std::nullopt;
    }
    /// True for an error reply whose text starts with `prefix` (e.g. "NOSCRIPT").
    bool is_error_with(std::string_view prefix) const noexcept {
        return type_ == Type::error && std::string_view(str_).substr(0, prefix.size()) == prefix;
    }

    /// Redis-cli-like rendering for logs and test messages.
    std::string to_debug_string() const;

  private:
    Reply(Type t, std::string s) : type_(t), str_(std::move(s)) {}

    Type type_ = Type::nil;
    std::string str_;
    long long integer_ = 0;
    std::vector<Reply> elements_;
};

/// Appends the RESP2 encoding of `args` (an array of bulk strings) to `out`.
void encode_command(const std::vector<std::string>& args, std::string& out);

}  // namespace confidant::redis
