#include "llm/openai/openai_provider.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

#include "http/client/client.hpp"
#include "llm/http_support.hpp"
#include "llm/openai/openai_protocol.hpp"
#include "llm/sse.hpp"

namespace confidant::llm {

namespace {

std::string endpoint_for(std::string base) {
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    constexpr std::string_view kVersion = "/v1";
    if (std::string_view(base).ends_with(kVersion)) {
        base.resize(base.size() - kVersion.size());
    }
    return base + "/v1/chat/completions";
}

}  // namespace

OpenAiProvider::OpenAiProvider(OpenAiSettings settings, std::shared_ptr<http_client::Client> client)
    : settings_(std::move(settings)),
      endpoint_(endpoint_for(settings_.base_url)),
      client_(std::move(client)) {
    if (!client_) {
        throw std::invalid_argument("OpenAiProvider: null http client");
    }
}

http_client::Request OpenAiProvider::make_request(const CompletionRequest& request,
                                                  bool stream) const {
    auto r = detail::json_post(
        endpoint_, openai::build_request_body(settings_.model, request, stream), stream, settings_);
    if (!settings_.api_key.empty()) {
        r.headers.push_back({"authorization", "Bearer " + settings_.api_key});
    }
    return r;
}

Task<LlmResult<Completion>> OpenAiProvider::complete(const CompletionRequest& request) {
    auto parse = [model = settings_.model](const std::string& body) {
        return openai::parse_response(body, model);
    };
    co_return co_await detail::complete_over_http(client_, make_request(request, false), "openai",
                                                  openai::map_error, parse);
}

Task<LlmResult<Completion>> OpenAiProvider::stream(const CompletionRequest& request,
                                                   DeltaSink on_delta) {
    auto parse = [](std::string_view data) -> LlmResult<detail::StreamPiece> {
        if (data == "[DONE]") {
            return detail::StreamPiece{.done = true};
        }
        auto chunk = openai::parse_stream_chunk(data);
        if (!chunk) {
            return chunk.error();
        }
        return detail::StreamPiece{std::move(chunk->text), std::move(chunk->finish_reason),
                                   chunk->usage, std::move(chunk->model), false};
    };
    co_return co_await detail::stream_over_http(
        client_, make_request(request, true), "openai", settings_.model, std::move(on_delta),
        openai::map_error, parse, "openai: the stream carried no chunk");
}

}  // namespace confidant::llm
