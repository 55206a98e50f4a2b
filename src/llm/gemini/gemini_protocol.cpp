#include "llm/gemini/gemini_protocol.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/json.hpp>

#include "core/json_writer.hpp"
#include "llm/http_support.hpp"
#include "llm/json_fields.hpp"

namespace confidant::llm::gemini {

namespace json = boost::json;
using detail::array_at;
using detail::int_at;
using detail::object_at;
using detail::string_at;

namespace {

ProviderError protocol_error(std::string_view message) {
    return detail::protocol_error("gemini", message);
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

// Written straight into one string: a boost::json tree of a long history costs an allocation
// per member, on every model call.
std::string build_request_body(const CompletionRequest& request) {
    std::size_t size = request.system_instruction.size() + 128;
    for (const auto& turn : request.contents) {
        size += turn.text.size() + 48;
    }
    std::string out;
    out.reserve(size);
    out.push_back('{');
    if (!request.system_instruction.empty()) {
        out.append(R"("systemInstruction":{"parts":[{"text":)");
        append_json_string(out, request.system_instruction);
        out.append("}]},");
    }
    out.append(R"("contents":[)");
    for (std::size_t i = 0; i < request.contents.size(); ++i) {
        const auto& turn = request.contents[i];
        out.append(i == 0 ? "" : ",");
        out.append(turn.role == Turn::Role::model ? R"({"role":"model","parts":[{"text":)"
                                                  : R"({"role":"user","parts":[{"text":)");
        append_json_string(out, turn.text);
        out.append("}]}");
    }
    out.append(R"(],"generationConfig":{"temperature":)");
    append_json_number(out, request.temperature);
    out.append(R"(,"maxOutputTokens":)");
    out.append(std::to_string(request.max_output_tokens));
    out.append("}}");
    return out;
}

LlmResult<ResponseChunk> parse_chunk(std::string_view text) {
    // Parsed on every model answer: the tree lives in a stack buffer (spilling to the heap only
    // for large answers); everything kept is copied out into the chunk.
    std::array<unsigned char, 8192> buffer;
    json::monotonic_resource arena(buffer.data(), buffer.size());
    boost::system::error_code ec;
    auto parsed = json::parse(text, ec, &arena);
    if (ec) {
        return protocol_error(
            fmt::format("invalid JSON ({}): {}", ec.message(), detail::excerpt(text)));
    }
    // streamGenerateContent without alt=sse answers a JSON array of responses.
    if (auto* a = parsed.if_array(); a != nullptr && a->size() == 1) {
        parsed = (*a)[0];
    }
    const auto* root = parsed.if_object();
    if (root == nullptr) {
        return protocol_error("response is not a JSON object");
    }
    if (const auto* error = object_at(*root, "error")) {
        ProviderError e = map_error(0, text, std::nullopt);
        e.kind = FailureKind::unavailable;
        e.message = fmt::format("gemini: error in stream: {} {}", string_at(*error, "status"),
                                string_at(*error, "message"));
        return e;
    }

    ResponseChunk chunk;
    chunk.model_version = std::string(string_at(*root, "modelVersion"));
    if (const auto* usage = object_at(*root, "usageMetadata")) {
        Usage u;
        u.prompt_tokens = int_at(*usage, "promptTokenCount");
        u.completion_tokens = int_at(*usage, "candidatesTokenCount");
        u.total_tokens = int_at(*usage, "totalTokenCount");
        if (u.total_tokens == 0) {
            u.total_tokens = u.prompt_tokens + u.completion_tokens;
        }
        chunk.usage = u;
    }
    const auto* candidates = array_at(*root, "candidates");
    if (candidates == nullptr || candidates->empty()) {
        if (const auto* feedback = object_at(*root, "promptFeedback")) {
            if (const auto reason = string_at(*feedback, "blockReason"); !reason.empty()) {
                ProviderError e;
                e.kind = FailureKind::rejected;
                e.status = std::string(reason);
                e.message = fmt::format("gemini: prompt blocked ({})", reason);
                return e;
            }
        }
        return chunk;
    }
    const auto* candidate = (*candidates)[0].if_object();
    if (candidate == nullptr) {
        return protocol_error("candidate is not an object");
    }
    chunk.has_candidate = true;
    chunk.finish_reason = std::string(string_at(*candidate, "finishReason"));
    if (const auto* content = object_at(*candidate, "content")) {
        if (const auto* parts = array_at(*content, "parts")) {
            for (const auto& part : *parts) {
                const auto* p = part.if_object();
                if (p == nullptr) {
                    continue;
                }
                // Thinking models mark their thought summaries; they are not the answer.
                if (const auto* thought = p->if_contains("thought");
                    thought != nullptr && thought->is_bool() && thought->as_bool()) {
                    continue;
                }
                chunk.text += string_at(*p, "text");
            }
        }
    }
    return chunk;
}

LlmResult<Completion> parse_response(std::string_view text, std::string_view model) {
    auto chunk = parse_chunk(text);
    if (!chunk) {
        return chunk.error();
    }
    if (!chunk->has_candidate) {
        ProviderError e;
        e.kind = FailureKind::rejected;
        e.message = "gemini: the response has no candidates";
        return e;
    }
    Completion c;
    c.text = std::move(chunk->text);
    c.finish_reason = std::move(chunk->finish_reason);
    c.usage = chunk->usage.value_or(Usage{});
    c.model = chunk->model_version.empty() ? std::string(model) : std::move(chunk->model_version);
    return c;
}

ProviderError map_error(unsigned http_status, std::string_view body,
                        std::optional<std::chrono::milliseconds> retry_after_header) {
    ProviderError e;
    e.http_status = static_cast<int>(http_status);
    e.kind = detail::kind_for_status(http_status);
    e.retry_after = retry_after_header;

    std::string message;
    std::string reason;
    bool per_day = false;
    boost::system::error_code ec;
    auto parsed = json::parse(body, ec);
    if (!ec) {
        if (auto* a = parsed.if_array(); a != nullptr && !a->empty()) {
            parsed = (*a)[0];
        }
    }
    const json::object* error = nullptr;
    if (!ec && parsed.is_object()) {
        error = object_at(parsed.as_object(), "error");
    }
    if (error != nullptr) {
        e.status = std::string(string_at(*error, "status"));
        message = std::string(string_at(*error, "message"));
        if (const auto* details = array_at(*error, "details")) {
            for (const auto& d : *details) {
                const auto* detail = d.if_object();
                if (detail == nullptr) {
                    continue;
                }
                const auto type = string_at(*detail, "@type");
                if (type.ends_with("google.rpc.RetryInfo")) {
                    if (auto delay = detail::parse_seconds(string_at(*detail, "retryDelay"))) {
                        e.retry_after = delay;
                    }
                } else if (type.ends_with("google.rpc.QuotaFailure")) {
                    if (const auto* violations = array_at(*detail, "violations")) {
                        for (const auto& v : *violations) {
                            if (const auto* vo = v.if_object()) {
                                per_day = per_day ||
                                          contains(string_at(*vo, "quotaId"), "PerDay") ||
                                          contains(string_at(*vo, "quotaMetric"), "PerDay");
                            }
                        }
                    }
                } else if (type.ends_with("google.rpc.ErrorInfo")) {
                    reason = std::string(string_at(*detail, "reason"));
                }
            }
        }
    } else {
        message = detail::excerpt(body);
    }

    if (http_status == 429 && per_day) {
        e.kind = FailureKind::quota_exhausted;
    }
    e.message = fmt::format("gemini: HTTP {}{}{}{}{}", http_status, e.status.empty() ? "" : " ",
                            e.status, reason.empty() ? "" : fmt::format(" ({})", reason),
                            message.empty() ? "" : ": " + message);
    return e;
}

}  // namespace confidant::llm::gemini
