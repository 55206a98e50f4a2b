#include "llm/openai/openai_protocol.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cctype>

#include "core/json_writer.hpp"
#include "llm/http_support.hpp"
#include "llm/json_fields.hpp"

namespace confidant::llm::openai {

namespace json = boost::json;
using detail::array_at;
using detail::int_at;
using detail::object_at;
using detail::string_at;

namespace {

ProviderError protocol_error(std::string_view message) {
    return detail::protocol_error("openai", message);
}

// `code` is a string for OpenAI, a number for llama.cpp / vLLM, or null.
std::string code_at(const json::object& o) {
    if (const auto* v = o.if_contains("code")) {
        if (v->is_string()) {
            return std::string(v->as_string());
        }
        if (v->is_int64()) {
            return std::to_string(v->as_int64());
        }
    }
    return {};
}

LlmResult<json::object> parse_object(std::string_view text) {
    boost::system::error_code ec;
    auto parsed = json::parse(text, ec);
    if (ec) {
        return protocol_error(
            fmt::format("invalid JSON ({}): {}", ec.message(), detail::excerpt(text)));
    }
    if (!parsed.is_object()) {
        return protocol_error("response is not a JSON object");
    }
    return std::move(parsed.as_object());
}

std::optional<Usage> usage_of(const json::object& root) {
    const auto* v = root.if_contains("usage");
    if (v == nullptr || !v->is_object()) {
        return std::nullopt;
    }
    const auto& u = v->as_object();
    Usage usage;
    usage.prompt_tokens = int_at(u, "prompt_tokens");
    usage.completion_tokens = int_at(u, "completion_tokens");
    usage.total_tokens = int_at(u, "total_tokens");
    if (usage.total_tokens == 0) {
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    }
    return usage;
}

const json::object* first_choice(const json::object& root) {
    const auto* v = root.if_contains("choices");
    if (v == nullptr || !v->is_array() || v->as_array().empty()) {
        return nullptr;
    }
    return v->as_array()[0].if_object();
}

}  // namespace

// Written straight into one string, as the Gemini body is (see there).
std::string build_request_body(std::string_view model, const CompletionRequest& request,
                               bool stream) {
    std::size_t size = model.size() + request.system_instruction.size() + 160;
    for (const auto& turn : request.contents) {
        size += turn.text.size() + 40;
    }
    std::string out;
    out.reserve(size);
    out.append(R"({"model":)");
    append_json_string(out, model);
    out.append(R"(,"messages":[)");
    bool first = true;
    if (!request.system_instruction.empty()) {
        out.append(R"({"role":"system","content":)");
        append_json_string(out, request.system_instruction);
        out.push_back('}');
        first = false;
    }
    for (const auto& turn : request.contents) {
        out.append(first ? "" : ",");
        first = false;
        out.append(turn.role == Turn::Role::model ? R"({"role":"assistant","content":)"
                                                  : R"({"role":"user","content":)");
        append_json_string(out, turn.text);
        out.push_back('}');
    }
    out.append(R"(],"temperature":)");
    append_json_number(out, request.temperature);
    out.append(R"(,"max_tokens":)");
    out.append(std::to_string(request.max_output_tokens));
    out.append(stream ? R"(,"stream":true,"stream_options":{"include_usage":true}})"
                      : R"(,"stream":false})");
    return out;
}

LlmResult<Completion> parse_response(std::string_view text, std::string_view model) {
    auto root = parse_object(text);
    if (!root) {
        return root.error();
    }
    const auto* choice = first_choice(*root);
    if (choice == nullptr) {
        ProviderError e;
        e.kind = FailureKind::rejected;
        e.message = "openai: the response has no choices";
        return e;
    }
    Completion c;
    if (const auto* message = choice->if_contains("message"); message && message->is_object()) {
        c.text = std::string(string_at(message->as_object(), "content"));
    }
    c.finish_reason = std::string(string_at(*choice, "finish_reason"));
    c.usage = usage_of(*root).value_or(Usage{});
    const auto reported = string_at(*root, "model");
    c.model = reported.empty() ? std::string(model) : std::string(reported);
    return c;
}

LlmResult<StreamChunk> parse_stream_chunk(std::string_view text) {
    auto root = parse_object(text);
    if (!root) {
        return root.error();
    }
    if (const auto* error = root->if_contains("error"); error && error->is_object()) {
        ProviderError e;
        e.kind = FailureKind::unavailable;
        e.message =
            fmt::format("openai: error in stream: {}", string_at(error->as_object(), "message"));
        return e;
    }
    StreamChunk chunk;
    chunk.model = std::string(string_at(*root, "model"));
    chunk.usage = usage_of(*root);
    if (const auto* choice = first_choice(*root)) {
        if (const auto* delta = choice->if_contains("delta"); delta && delta->is_object()) {
            chunk.text = std::string(string_at(delta->as_object(), "content"));
        }
        chunk.finish_reason = std::string(string_at(*choice, "finish_reason"));
    }
    return chunk;
}

ProviderError map_error(unsigned http_status, std::string_view body,
                        std::optional<std::chrono::milliseconds> retry_after_header) {
    ProviderError e;
    e.http_status = static_cast<int>(http_status);
    e.kind = detail::kind_for_status(http_status);
    e.retry_after = retry_after_header;

    std::string message;
    std::string type;
    std::string code;
    boost::system::error_code ec;
    auto parsed = json::parse(body, ec);
    const json::object* error = nullptr;
    if (!ec && parsed.is_object()) {
        const auto& root = parsed.as_object();
        if (const auto* v = root.if_contains("error"); v && v->is_object()) {
            error = &v->as_object();
        } else if (v && v->is_string()) {
            message = std::string(v->as_string());  // some servers: {"error":"..."}
        } else if (root.contains("message")) {
            error = &root;  // vLLM
        }
    }
    if (error != nullptr) {
        message = std::string(string_at(*error, "message"));
        type = std::string(string_at(*error, "type"));
        code = code_at(*error);
    } else if (message.empty()) {
        message = detail::excerpt(body);
    }
    e.status = !code.empty() && !std::isdigit(static_cast<unsigned char>(code[0])) ? code : type;
    if (http_status == 429 && (code == "insufficient_quota" || type == "insufficient_quota")) {
        e.kind = FailureKind::quota_exhausted;
    }
    e.message = fmt::format("openai: HTTP {}{}{}{}", http_status, e.status.empty() ? "" : " ",
                            e.status, message.empty() ? "" : ": " + message);
    return e;
}

}  // namespace confidant::llm::openai
