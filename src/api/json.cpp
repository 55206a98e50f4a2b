#include "api/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/error.hpp"

namespace confidant::api {

void bad_request(std::string message) {
    throw ErrorException(make_error(ErrorCode::bad_request, std::move(message)));
}

boost::json::object parse_object(std::string_view body) {
    boost::system::error_code ec;
    boost::json::parse_options opts;
    opts.max_depth = 32;
    auto v = boost::json::parse(body, ec, {}, opts);
    if (ec) {
        bad_request(body.empty() ? "a JSON object body is required"
                                 : "malformed JSON: " + ec.message());
    }
    if (!v.is_object()) {
        bad_request("the body must be a JSON object");
    }
    return std::move(v.as_object());
}

std::string require_string(const boost::json::object& o, std::string_view field) {
    const auto* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) {
        bad_request("missing field \"" + std::string(field) + "\"");
    }
    if (!v->is_string()) {
        bad_request("field \"" + std::string(field) + "\" must be a string");
    }
    return std::string(v->as_string());
}

std::optional<std::string> optional_string(const boost::json::object& o, std::string_view field) {
    const auto* v = o.if_contains(field);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        bad_request("field \"" + std::string(field) + "\" must be a string");
    }
    return std::string(v->as_string());
}

std::optional<bool> optional_bool(const boost::json::object& o, std::string_view field) {
    const auto* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) {
        return std::nullopt;
    }
    if (!v->is_bool()) {
        bad_request("field \"" + std::string(field) + "\" must be a boolean");
    }
    return v->as_bool();
}

std::optional<std::int64_t> optional_int(const boost::json::object& o, std::string_view field) {
    const auto* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) {
        return std::nullopt;
    }
    if (v->is_int64()) {
        return v->as_int64();
    }
    if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return static_cast<std::int64_t>(v->as_uint64());
    }
    bad_request("field \"" + std::string(field) + "\" must be an integer");
}

std::size_t code_points(std::string_view utf8) {
    std::size_t n = 0;
    for (unsigned char c : utf8) {
        n += (c & 0xC0) != 0x80;
    }
    return n;
}

void check_length(std::string_view field, std::string_view s, std::size_t min, std::size_t max) {
    const auto n = code_points(s);
    if (n < min || n > max) {
        bad_request("field \"" + std::string(field) + "\" must be " + std::to_string(min) + ".." +
                    std::to_string(max) + " characters long");
    }
}

int parse_limit(const http::Request& req, int def, int max) {
    auto raw = req.query_param("limit");
    if (!raw) {
        return def;
    }
    int v = 0;
    auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
    if (raw->empty() || ec != std::errc() || p != raw->data() + raw->size() || v < 1 || v > max) {
        bad_request("limit must be an integer in 1.." + std::to_string(max));
    }
    return v;
}

http::Response json_response(unsigned status, const boost::json::value& v) {
    return http::Response::json(status, boost::json::serialize(v));
}

}  // namespace confidant::api
