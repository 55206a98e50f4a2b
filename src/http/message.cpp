#include "http/message.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace confidant::http {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string percent_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
                   hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            i += 2;
        } else {
            out += in[i];
        }
    }
    return out;
}
}  // namespace

std::string_view Request::header(bhttp::field f) const { return msg[f]; }

std::string_view Request::header(std::string_view name) const { return msg[name]; }

std::string_view Request::param(std::string_view name) const {
    for (const auto& [k, v] : params) {
        if (k == name) {
            return v;
        }
    }
    return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const std::string_view pair = q.substr(0, amp);
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        if (percent_decode(key) == name) {
            return eq == std::string_view::npos ? std::string()
                                                : percent_decode(pair.substr(eq + 1));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        q.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

Response error_response(unsigned status, std::string_view code, std::string_view message,
                        std::optional<long> retry_after_s) {
    boost::json::object err;
    err["code"] = code;
    err["message"] = message;
    boost::json::object body;
    body["error"] = std::move(err);
    Response r = Response::json(status, boost::json::serialize(body));
    if (retry_after_s) {
        r.with_header("Retry-After", std::to_string(*retry_after_s < 1 ? 1 : *retry_after_s));
    }
    return r;
}

}  // namespace confidant::http
