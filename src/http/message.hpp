#pragma once

#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/task.hpp"
#include "http/request_body.hpp"

namespace confidant::http {

namespace bhttp = boost::beast::http;

/// Who is calling, set by the auth middleware.
struct Principal {
    std::int64_t user_id = 0;
    std::string role;  ///< "user" | "admin"
    bool is_admin() const { return role == "admin"; }
};

/// One request as handlers see it. Lives for the duration of the handler call.
struct Request {
    bhttp::request<RequestBody> msg;
    std::string_view path;   ///< target without the query string (not percent-decoded)
    std::string_view query;  ///< after '?', possibly empty
    std::vector<std::pair<std::string_view, std::string>> params;  ///< path parameters
    std::string request_id;
    /// The client's address in canonical text (`203.0.113.7`, `2001:db8::1`; IPv4-mapped IPv6
    /// is written as IPv4): the socket's peer, or, when the peer is a trusted proxy
    /// (TRUSTED_PROXIES), the right-most X-Forwarded-For address that is not a trusted proxy.
    /// Suitable as a key for per-address limits.
    std::string client_address;
    std::optional<Principal> principal;

    bhttp::verb method() const { return msg.method(); }
    const std::string& body() const { return msg.body(); }
    std::string_view header(bhttp::field f) const;
    std::string_view header(std::string_view name) const;
    /// A path parameter by name ("" when absent).
    std::string_view param(std::string_view name) const;
    /// A percent-decoded query parameter; nullopt when absent.
    std::optional<std::string> query_param(std::string_view name) const;
};

/// Writes Server-Sent Events on a chunked response. Owned by the session.
class SseWriter {
  public:
    virtual ~SseWriter() = default;
    /// Sends `event: <name>\ndata: <data>\n\n` (multi-line data split into data: lines).
    /// Returns false when the client has gone away.
    virtual Task<bool> event(std::string_view name, std::string_view data) = 0;
    /// Sends `data: <data>\n\n` with no event name (OpenAI's framing).
    virtual Task<bool> data(std::string_view data) = 0;
    /// Completes when the client disconnects; use as `co_await (work() || sse.closed())`.
    /// Bytes the client sends meanwhile (a pipelined request) do not end the watch: they are
    /// kept and read as the next request after the stream.
    virtual Task<void> closed() = 0;
};

/// A handler's answer: a whole body, or a stream of Server-Sent Events.
struct Response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    /// When set, the answer is `text/event-stream` written by this function.
    std::function<Task<void>(SseWriter&)> stream;

    static Response json(unsigned status, std::string body) {
        Response r;
        r.status = status;
        r.body = std::move(body);
        return r;
    }
    static Response no_content() {
        Response r;
        r.status = 204;
        r.content_type.clear();
        return r;
    }
    Response& with_header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

using Handler = std::function<Task<Response>(Request&)>;

/// The JSON error shape of API.md: `{"error":{"code","message"}}`, with Retry-After when given.
Response error_response(unsigned status, std::string_view code, std::string_view message,
                        std::optional<long> retry_after_s = std::nullopt);

}  // namespace confidant::http
