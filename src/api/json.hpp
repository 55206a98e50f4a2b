#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace confidant::api {

/// Parses a request body that must be a JSON object. Malformed JSON, invalid UTF-8, or a
/// non-object → throws ErrorException(bad_request).
boost::json::object parse_object(std::string_view body);

/// Field readers: a missing required field or a wrong type → bad_request naming the field.
std::string require_string(const boost::json::object& o, std::string_view field);
std::optional<std::string> optional_string(const boost::json::object& o, std::string_view field);
std::optional<bool> optional_bool(const boost::json::object& o, std::string_view field);
std::optional<std::int64_t> optional_int(const boost::json::object& o, std::string_view field);

/// Number of Unicode code points in valid UTF-8 text.
std::size_t code_points(std::string_view utf8);
/// bad_request unless `min <= code_points(s) <= max`.
void check_length(std::string_view field, std::string_view s, std::size_t min, std::size_t max);

/// `limit` query parameter: 1..200, default 50.
int parse_limit(const http::Request& req, int def = 50, int max = 200);

http::Response json_response(unsigned status, const boost::json::value& v);
[[noreturn]] void bad_request(std::string message);

}  // namespace confidant::api
