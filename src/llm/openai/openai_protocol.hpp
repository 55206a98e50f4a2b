#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "llm/provider.hpp"

/// The OpenAI chat completions wire format, kept apart from the transport.
namespace confidant::llm::openai {

/// `{"model","messages":[system?, user/assistant...],"temperature","max_tokens","stream"}`;
/// a streamed request also asks for `stream_options.include_usage`.
std::string build_request_body(std::string_view model, const CompletionRequest& request,
                               bool stream);

/// Parses a chat.completion: choices[0].message.content, finish_reason, usage, model.
LlmResult<Completion> parse_response(std::string_view json, std::string_view model);

struct StreamChunk {
    std::string text;           ///< choices[0].delta.content
    std::string finish_reason;  ///< empty until the last choice chunk
    std::optional<Usage> usage;
    std::string model;
};

/// Parses one chat.completion.chunk (`data:` of an SSE event other than `[DONE]`); an `error`
/// object in the stream is `unavailable`.
LlmResult<StreamChunk> parse_stream_chunk(std::string_view json);

/// Maps an HTTP error answer: `{"error":{"message","type","code"}}` (OpenAI, llama.cpp,
/// Ollama) or vLLM's top-level `{"message","type","code"}`. 429 is `rate_limited` with
/// `retry_after` (Retry-After / retry-after-ms), except OpenAI's `insufficient_quota`, which is
/// `quota_exhausted`; 5xx is `unavailable`; other 4xx `rejected`.
ProviderError map_error(unsigned http_status, std::string_view body,
                        std::optional<std::chrono::milliseconds> retry_after_header);

}  // namespace confidant::llm::openai
