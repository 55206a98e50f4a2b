#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/chat.hpp"

namespace confidant::api {

using namespace boost::asio::experimental::awaitable_operators;

namespace {

std::optional<std::string> idempotency_key(const http::Request& req) {
    const auto k = req.header("Idempotency-Key");
    if (k.empty()) {
        return std::nullopt;
    }
    if (k.size() > 128) {
        bad_request("Idempotency-Key must be 1..128 characters");
    }
    return std::string(k);
}

bool wants_stream(const http::Request& req, const boost::json::object& body) {
    if (auto s = optional_bool(body, "stream")) {
        return *s;
    }
    return req.header(http::bhttp::field::accept).find("text/event-stream") !=
           std::string_view::npos;
}

std::string error_json(const Error& e) {
    boost::json::object err;
    err["code"] = to_string(e.code);
    err["message"] = e.message;
    boost::json::object o;
    o["error"] = std::move(err);
    return boost::json::serialize(o);
}

}  // namespace

void add_chat_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::post, "/v1/chat",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              auto body = parse_object(req.body());
              auto text = require_string(body, "message");
              check_length("message", text, 1, 8000);
              const bool stream = wants_stream(req, body);
              const bool speak = optional_bool(body, "speak").value_or(false);
              auto key = idempotency_key(req);
              auto prepare_result =
                  co_await s.chat->prepare(c.profile, std::move(text), std::move(key));
              auto prepared = std::move(prepare_result).value();
              if (prepared.replay) {
                  co_return http::Response::json(200, std::move(*prepared.replay));
              }
              prepared.speak = speak;
              if (!stream) {
                  auto generated = co_await s.chat->generate(std::move(prepared));
                  co_return http::Response::json(200, std::move(generated.value().body));
              }
              http::Response res;
              res.stream = [&s, turn = std::make_shared<domain::PreparedTurn>(std::move(prepared))](
                               http::SseWriter& w) -> Task<void> {
                  auto sink = [&w](std::string_view delta) -> Task<void> {
                      boost::json::object d;
                      d["text"] = delta;
                      co_await w.event("delta", boost::json::serialize(d));
                  };
                  // A client that goes away cancels the model call (and nothing is stored).
                  auto outcome = co_await (s.chat->generate(std::move(*turn), sink) || w.closed());
                  if (outcome.index() == 1) {
                      co_return;
                  }
                  auto& answer = std::get<0>(outcome);
                  if (answer) {
                      co_await w.event("done", answer->body);
                  } else {
                      co_await w.event("error", error_json(answer.error()));
                  }
              };
              co_return res;
          }));

    r.add(http::bhttp::verb::get, "/v1/chat/history",
          require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
              const int limit = parse_limit(req);
              std::optional<storage::MessageId> before;
              if (auto b = req.query_param("before")) {
                  storage::MessageId v = 0;
                  auto [p, ec] = std::from_chars(b->data(), b->data() + b->size(), v);
                  if (b->empty() || ec != std::errc() || p != b->data() + b->size() || v < 1) {
                      bad_request("before must be a message id (a positive integer)");
                  }
                  before = v;
              }
              auto page = co_await s.chat->history(c.user_id, limit, before);
              boost::json::array msgs;
              msgs.reserve(page.messages.size());
              for (const auto& m : page.messages) {
                  boost::json::object o;
                  o["id"] = m.id;
                  o["role"] = m.role;
                  o["content"] = m.content;
                  o["created_at"] = format_rfc3339(m.created_at);
                  msgs.push_back(std::move(o));
              }
              boost::json::object o;
              o["messages"] = std::move(msgs);
              o["has_more"] = page.has_more;
              co_return json_response(200, o);
          }));

    r.add(http::bhttp::verb::delete_, "/v1/chat/history",
          require_user(s, [&s](http::Request&, Caller& c) -> Task<http::Response> {
              co_await s.chat->clear_history(c.user_id);
              co_return http::Response::no_content();
          }));
}

}  // namespace confidant::api
