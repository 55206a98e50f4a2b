#pragma once

#include <string>
#include <string_view>

namespace confidant::tts {

/// The text a speaker hands its engine: `text` with every invalid UTF-8 byte (overlong forms,
/// surrogates, code points past U+10FFFF, cut-off sequences), every C0 control character but tab
/// and newline, DEL and every C1 control character replaced by one space each. Valid UTF-8 is
/// kept byte for byte, so the result is valid UTF-8 (safe in a JSON string) of the same length.
std::string plain_text(std::string_view text);

/// The number of UTF-8 code points in `text` (bytes that start a character).
std::size_t count_code_points(std::string_view text) noexcept;

}  // namespace confidant::tts
