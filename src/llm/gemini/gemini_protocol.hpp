#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "llm/provider.hpp"

/// The Gemini REST wire format (v1beta generateContent / streamGenerateContent), kept apart
/// from the transport so it can be tested on its own.
namespace confidant::llm::gemini {

/// The JSON body of a generateContent call: `systemInstruction` (omitted when empty),
/// `contents` with roles user/model, `generationConfig` {temperature, maxOutputTokens}.
std::string build_request_body(const CompletionRequest& request);

/// One GenerateContentResponse, whole or as one streamed chunk.
struct ResponseChunk {
    std::string text;           ///< candidates[0].content.parts[].text joined (thoughts skipped)
    std::string finish_reason;  ///< empty while a stream goes on
    std::optional<Usage> usage;
    std::string model_version;
    bool has_candidate = false;
};

/// Parses a GenerateContentResponse. A `promptFeedback.blockReason` without candidates is
/// `rejected`; an `error` object is `unavailable`; invalid JSON is `protocol`.
LlmResult<ResponseChunk> parse_chunk(std::string_view json);

/// Parses a whole (non-streamed) response into a Completion. No candidate at all is
/// `rejected`. A finishReason such as SAFETY, RECITATION or MAX_TOKENS is NOT an error: the
/// (possibly empty) text is returned with that finish_reason for the caller to judge.
LlmResult<Completion> parse_response(std::string_view json, std::string_view model);

/// Maps an HTTP error answer. 429 RESOURCE_EXHAUSTED is `rate_limited`, or `quota_exhausted`
/// when a google.rpc.QuotaFailure violation names a per-day quota (quotaId / quotaMetric
/// containing "PerDay"); `retry_after` comes from google.rpc.RetryInfo.retryDelay, else from
/// `retry_after_header` (seconds). 5xx is `unavailable`, other 4xx `rejected`. The message
/// carries Gemini's status, ErrorInfo reason (e.g. API_KEY_INVALID) and message.
ProviderError map_error(unsigned http_status, std::string_view body,
                        std::optional<std::chrono::milliseconds> retry_after_header);

}  // namespace confidant::llm::gemini
