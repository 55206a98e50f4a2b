#pragma once

#include <string>

namespace confidant::redis {

/// A Lua script with its SHA1, for `Pool::eval` (EVALSHA, falling back to EVAL on NOSCRIPT).
class Script {
  public:
    explicit Script(std::string source);
    const std::string& source() const noexcept { return source_; }
    /// Lowercase hex SHA1 of the source, as SCRIPT LOAD reports it.
    const std::string& sha1() const noexcept { return sha1_; }

  private:
    std::string source_;
    std::string sha1_;
};

}  // namespace confidant::redis
