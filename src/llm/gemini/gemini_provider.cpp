#include "llm/gemini/gemini_provider.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

#include "http/client/client.hpp"
#include "llm/gemini/gemini_protocol.hpp"
#include "llm/http_support.hpp"
#include "llm/sse.hpp"

namespace confidant::llm {

namespace {

std::string normalise_base(std::string base) {
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    constexpr std::string_view kVersion = "/v1beta";
    if (std::string_view(base).ends_with(kVersion)) {
        base.resize(base.size() - kVersion.size());
    }
    return base;
}

}  // namespace

GeminiProvider::GeminiProvider(GeminiSettings settings, std::shared_ptr<http_client::Client> client)
    : settings_(std::move(settings)),
      base_url_(normalise_base(settings_.base_url)),
      client_(std::move(client)) {
    if (!client_) {
        throw std::invalid_argument("GeminiProvider: null http client");
    }
}

http_client::Request GeminiProvider::make_request(const CompletionRequest& request,
                                                  bool stream) const {
    auto r =
        detail::json_post(fmt::format("{}/v1beta/models/{}:{}", base_url_, settings_.model,
                                      stream ? "streamGenerateContent?alt=sse" : "generateContent"),
                          gemini::build_request_body(request), stream, settings_);
    if (!settings_.api_key.empty()) {
        r.headers.push_back({"x-goog-api-key", settings_.api_key});
    }
    return r;
}

Task<LlmResult<Completion>> GeminiProvider::complete(const CompletionRequest& request) {
    auto parse = [model = settings_.model](const std::string& body) {
        return gemini::parse_response(body, model);
    };
    co_return co_await detail::complete_over_http(client_, make_request(request, false), "gemini",
                                                  gemini::map_error, parse);
}

Task<LlmResult<Completion>> GeminiProvider::stream(const CompletionRequest& request,
                                                   DeltaSink on_delta) {
    auto parse = [](std::string_view data) -> LlmResult<detail::StreamPiece> {
        auto chunk = gemini::parse_chunk(data);
        if (!chunk) {
            return chunk.error();
        }
        return detail::StreamPiece{std::move(chunk->text), std::move(chunk->finish_reason),
                                   chunk->usage, std::move(chunk->model_version), false};
    };
    co_return co_await detail::stream_over_http(
        client_, make_request(request, true), "gemini", settings_.model, std::move(on_delta),
        gemini::map_error, parse, "gemini: the stream carried no response chunk");
}

}  // namespace confidant::llm
