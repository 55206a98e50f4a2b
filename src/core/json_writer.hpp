#pragma once

#include <string>
#include <string_view>

namespace confidant {

/// Appends `text` as a JSON string literal (quotes included): `"` and `\` escaped, control
/// characters as \n, \t, ... or \u00XX; every other byte, UTF-8 included, is copied as it is.
/// For hot paths that write a fixed document shape straight into a string instead of building
/// a boost::json tree (a tree allocates per member).
void append_json_string(std::string& out, std::string_view text);

/// Appends a finite double in the shortest form that reads back as the same value.
void append_json_number(std::string& out, double value);

}  // namespace confidant
