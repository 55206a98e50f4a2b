#pragma once

#include <string>
#include <string_view>

namespace confidant::obs {

struct LogSettings {
    std::string level = "info";   ///< LOG_LEVEL: trace, debug, info, warn, error
    std::string format = "text";  ///< LOG_FORMAT: text | json
};

/// Installs the process-wide spdlog logger (stderr). JSON format writes one object per line:
/// `{"ts","level","msg","logger"}`; messages are escaped. Text format escapes control
/// characters (append_text_escaped), so one event is always one line.
void init_logging(const LogSettings& settings);

/// Appends `text` for a text log line: `\n`, `\r`, `\t`, `\\` and `\xNN` for the other
/// control characters (DEL included); every other byte, UTF-8 included, as it is. A newline in
/// user input can then neither forge a log line nor drive the reader's terminal. `Out` is
/// anything with append(first, last).
template <class Out>
void append_text_escaped(Out& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    auto put = [&out](std::string_view s) { out.append(s.data(), s.data() + s.size()); };
    std::size_t run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            continue;
        }
        put(text.substr(run, i - run));
        run = i + 1;
        switch (c) {
            case '\n':
                put("\\n");
                break;
            case '\r':
                put("\\r");
                break;
            case '\t':
                put("\\t");
                break;
            case '\\':
                put("\\\\");
                break;
            default: {
                const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
                put(std::string_view(esc, 4));
            }
        }
    }
    put(text.substr(run));
}

}  // namespace confidant::obs
