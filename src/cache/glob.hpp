#pragma once

#include <string>
#include <string_view>

namespace confidant::cache {

/// True when `text` matches the Redis glob `pattern` (the semantics of KEYS/SCAN MATCH/PSUBSCRIBE):
/// `*` any run of bytes (including none), `?` exactly one byte, `[abc]` one of the listed bytes,
/// `[a-z]` a range (reversed ranges allowed), `[^...]` negation, `\x` the byte `x` literally
/// (also inside brackets). Byte-wise and case-sensitive. An unterminated `[` extends to the end
/// of the pattern, as in Redis. Runs in O(|pattern| * |text|) time without recursion.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// Escapes the glob metacharacters `*?[]\` in `literal` so that glob_match(glob_escape(s), s).
std::string glob_escape(std::string_view literal);

}  // namespace confidant::cache
