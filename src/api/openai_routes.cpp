#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>

#include "api/context.hpp"
#include "api/json.hpp"
#include "domain/chat.hpp"

namespace confidant::api {

using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr const char* kModelId = "confidant";

const char* openai_type(ErrorCode code) {
    switch (code) {
        case ErrorCode::unauthorized:
            return "authentication_error";
        case ErrorCode::forbidden:
            return "permission_error";
        case ErrorCode::rate_limited:
        case ErrorCode::quota_exceeded:
            return "rate_limit_error";
        case ErrorCode::llm_unavailable:
        case ErrorCode::not_ready:
        case ErrorCode::internal:
            return "server_error";
        default:
            return "invalid_request_error";
    }
}

std::string openai_error_body(const Error& e) {
    boost::json::object err;
    err["message"] = e.message;
    err["type"] = openai_type(e.code);
    err["code"] = to_string(e.code);
    boost::json::object o;
    o["error"] = std::move(err);
    return boost::json::serialize(o);
}

// OpenAI clients expect their own error shape on this surface, auth failures included.
http::Handler openai_errors(http::Handler inner) {
    return [inner = std::move(inner)](http::Request& req) -> Task<http::Response> {
        try {
            co_return co_await inner(req);
        } catch (const ErrorException& ex) {
            const auto& e = ex.error();
            auto res = http::Response::json(http_status(e.code), openai_error_body(e));
            if (e.retry_after_s) {
                res.with_header("Retry-After", std::to_string(std::max<long>(1, *e.retry_after_s)));
            }
            co_return res;
        }
    };
}

std::string completion_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* hex = "0123456789abcdef";
    std::string id = "chatcmpl-";
    for (int i = 0; i < 24; ++i) {
        id += hex[rng() & 15];
    }
    return id;
}

// The new message is the last `user` message; earlier ones are the client's copy of a history
// the companion keeps itself.
std::string last_user_message(const boost::json::object& body) {
    const auto* msgs = body.if_contains("messages");
    if (msgs == nullptr || !msgs->is_array()) {
        bad_request("field \"messages\" must be an array");
    }
    const auto& arr = msgs->as_array();
    for (auto it = arr.rbegin(); it != arr.rend(); ++it) {
        if (!it->is_object()) {
            bad_request("each message must be an object");
        }
        const auto& m = it->as_object();
        const auto* role = m.if_contains("role");
        if (role == nullptr || !role->is_string()) {
            bad_request("each message needs a string \"role\"");
        }
        if (role->as_string() != "user") {
            continue;
        }
        const auto* content = m.if_contains("content");
        if (content != nullptr && content->is_string()) {
            return std::string(content->as_string());
        }
        if (content != nullptr && content->is_array()) {  // [{type:"text", text}] parts
            std::string text;
            for (const auto& part : content->as_array()) {
                if (part.is_object()) {
                    if (const auto* t = part.as_object().if_contains("text"); t && t->is_string()) {
                        text += t->as_string();
                    }
                }
            }
            return text;
        }
        bad_request("the last user message needs string \"content\"");
    }
    bad_request("\"messages\" must contain a user message");
}

std::string chunk_json(const std::string& id, long created, const std::string& model,
                       std::optional<std::string_view> delta, bool role, const char* finish) {
    boost::json::object d;
    if (role) {
        d["role"] = "assistant";
    }
    if (delta) {
        d["content"] = *delta;
    }
    boost::json::object choice;
    choice["index"] = 0;
    choice["delta"] = std::move(d);
    choice["finish_reason"] =
        finish == nullptr ? boost::json::value(nullptr) : boost::json::value(finish);
    boost::json::object o;
    o["id"] = id;
    o["object"] = "chat.completion.chunk";
    o["created"] = created;
    o["model"] = model;
    o["choices"] = boost::json::array{std::move(choice)};
    return boost::json::serialize(o);
}

const char* finish_reason(const std::string& provider_reason) {
    if (provider_reason == "MAX_TOKENS" || provider_reason == "length") {
        return "length";
    }
    if (provider_reason == "SAFETY" || provider_reason == "content_filter") {
        return "content_filter";
    }
    return "stop";
}

boost::json::object completion_object(const std::string& id, long created, std::string_view content,
                                      const char* finish, const llm::Usage& usage) {
    boost::json::object msg;
    msg["role"] = "assistant";
    msg["content"] = content;
    boost::json::object choice;
    choice["index"] = 0;
    choice["message"] = std::move(msg);
    choice["finish_reason"] = finish;
    boost::json::object o;
    o["id"] = id;
    o["object"] = "chat.completion";
    o["created"] = created;
    o["model"] = kModelId;
    o["choices"] = boost::json::array{std::move(choice)};
    o["usage"] = boost::json::object{{"prompt_tokens", usage.prompt_tokens},
                                     {"completion_tokens", usage.completion_tokens},
                                     {"total_tokens", usage.total_tokens}};
    return o;
}

}  // namespace

void add_openai_routes(http::Router& r, Services& s) {
    r.add(http::bhttp::verb::get, "/v1/models",
          openai_errors(require_user(s, [](http::Request&, Caller&) -> Task<http::Response> {
              boost::json::object m;
              m["id"] = kModelId;
              m["object"] = "model";
              m["created"] = 1764374400;
              m["owned_by"] = "confidant";
              boost::json::object o;
              o["object"] = "list";
              o["data"] = boost::json::array{std::move(m)};
              co_return json_response(200, o);
          })));

    r.add(
        http::bhttp::verb::post, "/v1/chat/completions",
        openai_errors(require_user(s, [&s](http::Request& req, Caller& c) -> Task<http::Response> {
            auto body = parse_object(req.body());
            auto text = last_user_message(body);
            check_length("message", text, 1, 8000);
            const bool stream = optional_bool(body, "stream").value_or(false);
            std::optional<std::string> key;
            if (auto k = req.header("Idempotency-Key"); !k.empty()) {
                if (k.size() > 128) {
                    bad_request("Idempotency-Key must be 1..128 characters");
                }
                key = std::string(k);
            }
            auto prepare_result =
                co_await s.chat->prepare(c.profile, std::move(text), key);
            auto prepared = std::move(prepare_result).value();
            const std::string id = completion_id();
            const long created = static_cast<long>(unix_now());
            if (prepared.replay) {
                // The stored answer is Confidant's shape; rebuild the completion from it.
                boost::system::error_code ec;
                auto v = boost::json::parse(*prepared.replay, ec);
                if (ec || !v.is_object()) {
                    throw std::runtime_error("unreadable idempotent response");
                }
                const auto& content = v.as_object()["reply"].as_object()["content"].as_string();
                co_return json_response(
                    200, completion_object(id, created, content, "stop", llm::Usage{}));
            }
            if (!stream) {
                auto generated = co_await s.chat->generate(std::move(prepared));
                auto answer = std::move(generated).value();
                auto o = completion_object(id, created, answer.reply.content,
                                           finish_reason(answer.finish_reason), answer.usage);
                o["system_fingerprint"] = answer.model;
                co_return json_response(200, o);
            }
            http::Response res;
            res.stream = [&s, id, created,
                          turn = std::make_shared<domain::PreparedTurn>(std::move(prepared))](
                             http::SseWriter& w) -> Task<void> {
                const std::string model = kModelId;
                co_await w.data(
                    chunk_json(id, created, model, std::string_view(""), true, nullptr));
                auto sink = [&](std::string_view delta) -> Task<void> {
                    co_await w.data(chunk_json(id, created, model, delta, false, nullptr));
                };
                auto outcome = co_await (s.chat->generate(std::move(*turn), sink) || w.closed());
                if (outcome.index() == 1) {
                    co_return;
                }
                auto& answer = std::get<0>(outcome);
                if (answer) {
                    co_await w.data(chunk_json(id, created, model, std::nullopt, false,
                                               finish_reason(answer->finish_reason)));
                } else {
                    co_await w.data(openai_error_body(answer.error()));
                }
                co_await w.data("[DONE]");
            };
            co_return res;
        })));
}

}  // namespace confidant::api
