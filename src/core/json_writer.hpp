#pragma once

#include <string>
#include <string_view>

namespace confidant {

/// Appends `text` escaped for the inside of a JSON string literal (no quotes): `"` and `\`
/// escaped, control characters as \n, \t, ... or \u00XX; every other byte, UTF-8 included, is
/// copied as it is. `Out` is anything with append(first, last) and push_back(char): a
/// std::string, or fmt's memory buffer (the JSON log lines).
template <class Out>
void append_json_escaped(Out& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    auto put = [&out](std::string_view s) { out.append(s.data(), s.data() + s.size()); };
    std::size_t run = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        put(text.substr(run, i - run));
        run = i + 1;
        switch (c) {
            case '"':
                put("\\\"");
                break;
            case '\\':
                put("\\\\");
                break;
            case '\n':
                put("\\n");
                break;
            case '\r':
                put("\\r");
                break;
            case '\t':
                put("\\t");
                break;
            case '\b':
                put("\\b");
                break;
            case '\f':
                put("\\f");
                break;
            default:
                put("\\u00");
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 0xF]);
        }
    }
    put(text.substr(run));
}

/// Appends `text` as a JSON string literal (quotes included), escaped as append_json_escaped.
/// For hot paths that write a fixed document shape straight into a string instead of building
/// a boost::json tree (a tree allocates per member).
void append_json_string(std::string& out, std::string_view text);

/// Appends a finite double in the shortest form that reads back as the same value.
void append_json_number(std::string& out, double value);

}  // namespace confidant
