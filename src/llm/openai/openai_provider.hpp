#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "llm/openai/openai_settings.hpp"
#include "llm/provider.hpp"

namespace confidant::http_client {
class Client;
struct Request;
}  // namespace confidant::http_client

namespace confidant::llm {

/// An OpenAI-compatible server over `POST {base}/v1/chat/completions` (OpenAI, llama.cpp's
/// llama-server, Ollama, vLLM). Streaming reads SSE `data: {chunk}` events up to
/// `data: [DONE]` and forwards `choices[0].delta.content`. The persona + memories go in a
/// `system` message; model turns become `assistant` messages.
///
/// Failures come back as ProviderError values (see `openai::map_error`); transport failures
/// map like GeminiProvider's. Thread-safe; cancelling the awaiting coroutine closes the
/// connection and returns `cancelled`.
class OpenAiProvider final : public Provider {
  public:
    /// `client` must be non-null; it may be shared with other providers.
    OpenAiProvider(OpenAiSettings settings, std::shared_ptr<http_client::Client> client);

    std::string_view name() const override { return "openai"; }
    std::string model() const override { return settings_.model; }

    Task<LlmResult<Completion>> complete(const CompletionRequest& request) override;
    Task<LlmResult<Completion>> stream(const CompletionRequest& request,
                                       DeltaSink on_delta) override;

  private:
    http_client::Request make_request(const CompletionRequest& request, bool stream) const;

    OpenAiSettings settings_;
    std::string endpoint_;  // {base}/v1/chat/completions
    std::shared_ptr<http_client::Client> client_;
};

}  // namespace confidant::llm
