#pragma once

#include <string>
#include <string_view>

namespace confidant::http {

/// Appends "Name: value\r\n" to a message head written by hand (the server's answers, the
/// client's requests). CR and LF in the name or the value become spaces, so that no value can
/// start another header line.
inline void append_header_line(std::string& out, std::string_view name, std::string_view value) {
    const auto start = out.size();
    out.append(name);
    out.append(": ");
    out.append(value);
    for (auto i = start; i < out.size(); ++i) {
        if (out[i] == '\r' || out[i] == '\n') {
            out[i] = ' ';
        }
    }
    out.append("\r\n");
}

}  // namespace confidant::http
