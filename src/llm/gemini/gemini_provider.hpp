#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "llm/gemini/gemini_settings.hpp"
#include "llm/provider.hpp"

namespace confidant::http_client {
class Client;
struct Request;
}  // namespace confidant::http_client

namespace confidant::llm {

/// Google Gemini over its REST API (v1beta): `POST {base}/v1beta/models/{model}:generateContent`
/// and `:streamGenerateContent?alt=sse`, the key in `x-goog-api-key`.
///
/// Failures come back as ProviderError values (see `gemini::map_error` for the mapping of
/// Gemini's error bodies; no connection → unavailable; connect/read timeout or a stalled
/// stream → timeout; an error after the stream started → unavailable). A response whose
/// finishReason is SAFETY, RECITATION, MAX_TOKENS, ... is returned as a Completion with that
/// finish_reason (its text may be empty); only a prompt blocked outright
/// (promptFeedback.blockReason, no candidates) is `rejected`. No retries here: that is the
/// ResilientProvider's job.
///
/// Thread-safe; connections come from the shared `http_client::Client` pool. Cancelling the
/// awaiting coroutine closes the connection and returns `cancelled`.
class GeminiProvider final : public Provider {
  public:
    /// `client` must be non-null; it may be shared with other providers.
    GeminiProvider(GeminiSettings settings, std::shared_ptr<http_client::Client> client);

    std::string_view name() const override { return "gemini"; }
    std::string model() const override { return settings_.model; }

    Task<LlmResult<Completion>> complete(const CompletionRequest& request) override;
    Task<LlmResult<Completion>> stream(const CompletionRequest& request,
                                       DeltaSink on_delta) override;

  private:
    http_client::Request make_request(const CompletionRequest& request, bool stream) const;

    GeminiSettings settings_;
    std::string base_url_;  // normalised: no trailing '/' or '/v1beta'
    std::shared_ptr<http_client::Client> client_;
};

}  // namespace confidant::llm
