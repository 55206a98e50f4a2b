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

/// Appends every field of a Beast message head (`msg.base()` or the message itself).
template <class Fields>
void append_header_lines(std::string& out, const Fields& fields) {
    for (const auto& field : fields) {
        append_header_line(out, field.name_string(), field.value());
    }
}

}  // namespace confidant::http
